"""Files written whole or not at all, and durably: the one way anything here writes a file.

Receipts, bundles, reports, drafts, key files, the audit state, the witness's and the
monitor's state and the exported tiles all go through :func:`writing`: the bytes go to a
temporary file beside the target (created with the final mode, so a secret is never
readable by others, not even half-written), are fsynced, and the file is then renamed over
the target — or, when it must not replace one, hard-linked in under its name, which fails if
the name exists. Last, the folder itself is fsynced, so the new name survives a crash too.
A process killed at any point leaves the old file (or none) and at most a temporary
``.NAME.*.partial`` beside it, never a half-written NAME.

Errors are the ``OSError`` the system gave (``FileExistsError`` for a name that exists when
``replace`` is false): the caller says, in its own words, which file it was and what to do.
"""

from __future__ import annotations

import errno
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator


def write_file(path: Path, data: bytes, *, mode: int | None = None, replace: bool = True,
               synced_later: set[Path] | None = None) -> None:
    """Put ``data`` at ``path`` whole or not at all, durably (see the module docstring).

    ``mode`` is the file's permission bits (default: 0666 less the umask, as a new file
    gets); ``replace`` false refuses an existing ``path`` (``FileExistsError``). With
    ``synced_later``, the folder is added to that set instead of fsynced now: a caller
    writing many files fsyncs each folder once (:func:`sync_directories`) before it writes
    the file that points to them."""
    with writing(path, mode=mode, replace=replace, synced_later=synced_later) as out:
        out.write(data)


@contextmanager
def writing(path: Path, *, mode: int | None = None, replace: bool = True,
            synced_later: set[Path] | None = None) -> Iterator[BinaryIO]:
    """A file to write ``path``'s new contents to, put in place when the block ends without
    an exception (:func:`write_file` for the rules); on an exception nothing changes."""
    folder = path.parent if str(path.parent) else Path(".")
    temporary, handle = _temporary(folder, path.name, mode)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            _link(temporary, path)
        if synced_later is not None:
            synced_later.add(folder)
        else:
            sync_directory(folder)
    finally:
        temporary.unlink(missing_ok=True)


def sync_directories(folders: Iterable[Path]) -> None:
    """Fsync each folder (after :func:`write_file` with ``synced_later``)."""
    for folder in sorted(set(folders)):
        sync_directory(folder)


def sync_directory(folder: Path) -> None:
    """Fsync a folder, so the names created in it survive a crash. A file system that cannot
    fsync a directory (EINVAL) makes no such promise, and is let be."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _temporary(folder: Path, name: str, mode: int | None) -> tuple[Path, BinaryIO]:
    while True:
        temporary = folder / f".{name}.{secrets.token_hex(6)}.partial"
        try:
            # Created 0600 when a mode is given (then set before any byte is written), else
            # as any new file is: 0666 less the umask.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600 if mode is not None else 0o666)
        except FileExistsError:
            continue
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            return temporary, os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise


def _link(temporary: Path, path: Path) -> None:
    """Link the temporary file in under ``path``; a link never replaces an existing file."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:
        # A file system without hard links: the name is checked, then renamed over.
        if path.exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        os.replace(temporary, path)
