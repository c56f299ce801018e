"""Turn ``--db`` (a SQLite path or a postgresql:// URL) into the library's environment.

The PostgreSQL driver is imported by the library only when that backend is chosen, so an
officer's command on SQLite does not pay psycopg's start-up time. Both backends use the
library's datastores through small factories (``ledger.storage.sqlite``/``.postgres``) that
make every commit durable before it is acknowledged.
"""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ledger.core.errors import InputError, StorageError

DEFAULT_DB = "custody.db"
TRANSCODER = "ledger.storage.transcoder:MsgpackTranscoder"
SQLITE_FACTORY = "ledger.storage.sqlite:LedgerSQLiteFactory"
POSTGRES_FACTORY = "ledger.storage.postgres:DurablePostgresFactory"
# The library's table of stored events and the columns the ledger reads: SQLite names it
# stored_events (position = rowid); PostgreSQL <application name>_events, with a
# notification_id column for the position.
SQLITE_TABLE = "stored_events"
EVENT_COLUMNS = frozenset({"originator_id", "originator_version", "topic", "state"})
# How long a SQLite write waits for another process's lock before giving up.
LOCK_TIMEOUT_ENV = "CUSTODY_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 10
# How long to wait for a PostgreSQL connection (the library retries, so a server that is down
# costs a few of these before the command gives up).
CONNECT_TIMEOUT_ENV = "CUSTODY_CONNECT_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class Backend:
    """A chosen backend: what to show a person, and the library environment to open it."""

    label: str
    env: dict[str, str]
    sqlite_path: str | None = None
    read_only: bool = False

    @property
    def exists(self) -> bool:
        return self.sqlite_path is None or os.path.exists(self.sqlite_path)


def select_backend(db: str | None, *, read_only: bool = False) -> Backend:
    """Return the backend for ``db`` (None means ``./custody.db``).

    ``read_only``: the library creates no table, and SQLite opens the file read-only, so a
    read command leaves the database byte for byte as it found it."""
    db = db or DEFAULT_DB
    common = {
        "TRANSCODER_TOPIC": TRANSCODER,
        "ORIGINATOR_ID_TYPE": "text",
        # The library's aggregate cache: a cached stream is fast-forwarded from the store on
        # every read, so writers elsewhere are still seen; without it each read replays.
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "CREATE_TABLE": "no" if read_only else "yes",
    }
    if db.startswith(("postgresql://", "postgres://")):
        return _postgres(db, common, read_only)
    if "://" in db:
        raise InputError(f"--db {db.split('://')[0]}:// is not supported; use a file path or postgresql://")
    if os.path.isdir(db):
        raise StorageError(f"--db {db} is a directory; give a file path such as {db}/custody.db")
    return Backend(
        label=db,
        env={**common, "PERSISTENCE_MODULE": SQLITE_FACTORY,
             "SQLITE_DBNAME": _read_only_uri(db) if read_only else db,
             "APPLICATION_RECORDER_TOPIC": "ledger.storage.recorders:SQLiteLedgerRecorder",
             "SQLITE_LOCK_TIMEOUT": str(lock_timeout())},
        sqlite_path=db,
        read_only=read_only,
    )


def lenient_text(data: bytes) -> str:
    """SQLite TEXT as str; bytes that are not UTF-8 become U+FFFD rather than an error."""
    return data.decode("utf-8", errors="replace")


def _read_only_uri(path: str) -> str:
    """A SQLite URI opening ``path`` read-only (the library's connections take URIs).

    To read a WAL-mode file SQLite must create ``-shm`` beside it, which a read-only folder
    refuses. On a read-only *filesystem* no one can write the file, so when no write-ahead
    log is left beside it the file is opened as immutable (read without that shared memory).
    Where only permissions forbid writing, another account may be writing the file:
    ``read_only_folder_hint`` explains the error instead of reading without locks."""
    absolute = Path(path).absolute()
    uri = f"file:{quote(str(absolute))}?mode=ro"
    if _on_read_only_filesystem(absolute.parent) and _no_write_ahead_log(absolute):
        uri += "&immutable=1"
    return uri


def _on_read_only_filesystem(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _no_write_ahead_log(path: Path) -> bool:
    try:
        return os.path.getsize(f"{path}-wal") == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def read_only_folder_hint(path: str | None) -> str:
    """What to do when SQLite cannot open ``path`` because of the folder it is in."""
    if path is None:
        return ""
    absolute = Path(path).absolute()
    folder, shm = absolute.parent, Path(f"{absolute}-shm")
    if not absolute.exists() or shm.exists() or os.access(folder, os.W_OK):
        return ""
    if _on_read_only_filesystem(folder):
        return (f" (the folder {folder} is on a read-only filesystem and {absolute.name}-wal "
                "holds commits not yet in the file: copy the folder somewhere writable and "
                "read the copy)")
    return (f" (SQLite must create {shm.name} in {folder} to read the file safely while "
            "someone may be writing it, and the folder is not writable for you: ask for "
            "write access to the folder, or copy the database and read the copy)")


def lock_timeout() -> int:
    """Seconds a SQLite write waits for another process's lock: ``CUSTODY_LOCK_TIMEOUT``."""
    return _seconds(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT)


def connect_timeout() -> int:
    """Seconds to wait for a PostgreSQL connection: ``CUSTODY_CONNECT_TIMEOUT``."""
    return _seconds(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT)


def _seconds(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 3600:
        raise InputError(f"{name}={text} is not a whole number of seconds from 1 to 3600")
    return int(text)


def _postgres(url: str, common: dict[str, str], read_only: bool) -> Backend:
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    if not dbname:
        raise InputError("a postgresql:// URL must name a database, e.g. postgresql://localhost/custody")
    env = {
        **common,
        "PERSISTENCE_MODULE": POSTGRES_FACTORY,
        "APPLICATION_RECORDER_TOPIC": "ledger.storage.postgres:PostgresLedgerRecorder",
        "POSTGRES_DBNAME": unquote(dbname),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or os.environ.get("PGUSER", "postgres")),
        # A password belongs in PGPASSWORD, not on the command line; the URL form still works.
        "POSTGRES_PASSWORD": unquote(parts.password or os.environ.get("PGPASSWORD", "")),
        "POSTGRES_CONNECT_TIMEOUT": str(connect_timeout()),
        # The library's insert function skips the table lock that keeps positions in commit
        # order; pinned off so the environment cannot switch it on.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
    }
    label = f"postgresql://{parts.hostname or '127.0.0.1'}:{parts.port or 5432}/{dbname}"
    return Backend(label=label, env=env, read_only=read_only)


def check_reachable(backend: Backend) -> None:
    """Connect once to a PostgreSQL backend; say in one line why it cannot be opened.

    Without this the library's connection pool retries in the background and, after
    POSTGRES_CONNECT_TIMEOUT, reports only "couldn't get a connection", hiding the reason
    (refused, unknown database, unknown role, bad password). SQLite needs no check.
    """
    env = backend.env
    if backend.sqlite_path is not None:
        return
    try:
        import psycopg  # only here: psycopg costs start-up time that SQLite users should not pay
    except ImportError:
        raise StorageError(
            f"cannot open {backend.label}: PostgreSQL support is not installed; "
            "pip install 'custody-ledger[postgres]'"
        ) from None

    try:
        psycopg.connect(
            host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"],
            connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
        ).close()
    except psycopg.Error as exc:
        raise StorageError(f"cannot open ledger database {backend.label}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """The server's or driver's reason, on one line, without libpq's preamble."""
    text = str(exc).strip()
    # libpq: 'connection failed: connection to server at "h", port p failed: FATAL:  <reason>'
    text = text.rsplit(" failed: ", 1)[-1]
    text = re.sub(r"^(?:connection failed: )?(?:FATAL|ERROR):\s*", "", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    text = "; ".join(line for line in lines if line) or type(exc).__name__
    if "password authentication failed" in text:
        text += "; check the user in --db and the password in PGPASSWORD"
    return text



def check_holds_ledger(backend: Backend, postgres_table: str) -> None:
    """Refuse, in one line and without writing, a database that holds no ledger's tables.

    For read commands, which open the database without creating tables: an empty file,
    another program's SQLite database, a text file or a PostgreSQL database without our
    table is named as such instead of failing later inside the library. ``postgres_table``
    is the library's name for the table there (after the application's name)."""
    if backend.sqlite_path is not None:
        table, columns = SQLITE_TABLE, _sqlite_columns(backend)
    else:
        table, columns = postgres_table, _postgres_columns(backend, postgres_table)
    if not columns:
        empty = backend.sqlite_path is not None and os.path.getsize(backend.sqlite_path) == 0
        raise StorageError(
            f"{backend.label} holds no ledger ("
            + ("an empty file" if empty else f"it has no {table} table")
            + "); check --db or CUSTODY_DB, or run 'custody init' to start one there")
    missing = sorted(EVENT_COLUMNS - columns)
    if missing:
        raise StorageError(f"{backend.label} holds no ledger: its {table} table lacks "
                           f"{', '.join(missing)}; check --db or CUSTODY_DB")


def _sqlite_columns(backend: Backend) -> set[str]:
    assert backend.sqlite_path is not None
    try:
        with closing(sqlite3.connect(_read_only_uri(backend.sqlite_path), uri=True)) as db:
            return {row[1] for row in db.execute(f"PRAGMA table_info({SQLITE_TABLE})")}
    except sqlite3.DatabaseError as exc:  # "file is not a database", "unable to open", ...
        from ledger.storage.faults import describe  # (it imports this module)

        # A read-only folder has its own explanation; any other fault (a full disk) is worded
        # as every command words it.
        hint = read_only_folder_hint(backend.sqlite_path)
        raise StorageError(f"cannot open ledger database {backend.label}: "
                           f"{exc if hint else describe(exc, backend)}{hint}; "
                           "check --db or CUSTODY_DB") from None


def _postgres_columns(backend: Backend, table: str) -> set[str]:
    import psycopg  # installed: check_reachable has connected already

    env = backend.env
    try:
        with closing(psycopg.connect(
            host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"],
            connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
        )) as db:
            rows = db.execute("SELECT column_name FROM information_schema.columns "
                              "WHERE table_schema = 'public' AND table_name = %s",
                              (table,)).fetchall()
    except psycopg.Error as exc:
        raise StorageError(f"cannot open ledger database {backend.label}: {_reason(exc)}") from None
    return {row[0] for row in rows}
