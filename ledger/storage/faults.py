"""What a database failure means for the person at the terminal, in one line.

The drivers' own words ("disk I/O error", "couldn't get a connection after 10.00 sec") name
the symptom, not the cause or what to do. ``describe`` keeps the driver's words and adds both.
Every write is one transaction, so a failed SQLite write leaves nothing behind; a PostgreSQL
write that lost its server may or may not have committed, and the message says how to tell.
"""

from __future__ import annotations

import os
import shutil

from ledger.storage.backend import LOCK_TIMEOUT_ENV, Backend, lock_timeout

LOW_SPACE = 1024 * 1024  # below this many free bytes a disk I/O error is a full disk

_SERVER_GONE = ("couldn't get a connection", "connection refused", "server closed the connection",
                "terminating connection", "connection is lost", "consuming input failed",
                "connection is closed", "the connection is closed", "connection timeout expired",
                "could not receive data", "could not send data", "ssl syscall error")


def describe(exc: BaseException, backend: Backend, *, writing: bool = False) -> str:
    """The driver's reason for ``exc`` followed by its likely cause and the remedy."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if backend.sqlite_path is not None:
        return _sqlite(reason, backend.sqlite_path, writing)
    return _postgres(reason, writing)


def _sqlite(reason: str, path: str, writing: bool) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    unchanged = "; nothing was written" if writing else ""
    low = reason.lower()
    if "database or disk is full" in low or ("disk i/o error" in low and _free(folder) < LOW_SPACE):
        return (f"{reason}: the disk holding {path} is full ({_free(folder)} bytes free); "
                f"free some space and run the command again{unchanged}")
    if "readonly database" in low or "read-only" in low:
        return (f"{reason}: {path} is read-only here; the ledger needs write access to the file "
                f"and to its folder{unchanged}")
    if "unable to open database file" in low and not os.access(folder, os.W_OK):
        return (f"{reason}: the folder {folder} is read-only, and SQLite must create "
                f"{os.path.basename(path)}-wal and -shm beside the ledger; make it writable")
    if "database is locked" in low or "database is busy" in low:
        return (f"{reason}: another process kept {path} locked for over {lock_timeout()} s; "
                f"run the command again when it has finished ({LOCK_TIMEOUT_ENV} sets the "
                f"wait){unchanged}")
    return reason + unchanged


def _postgres(reason: str, writing: bool) -> str:
    if any(sign in reason.lower() for sign in _SERVER_GONE):
        then = ("; the step may or may not have been committed: when the server is back, look "
                "with 'custody history' before recording it again") if writing else \
            "; run the command again when it is back"
        return f"the PostgreSQL server stopped answering ({reason}){then}"
    return reason


def _free(folder: str) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0
