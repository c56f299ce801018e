"""Turn ``--db`` (a SQLite path or a postgresql:// URL) into the library's environment.

The PostgreSQL driver is imported by the library only when that backend is chosen, so an
officer's command on SQLite does not pay psycopg's start-up time. Both backends use the
library's datastores through small factories (``ledger.storage.sqlite``/``.postgres``) that
make every commit durable before it is acknowledged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ledger.core.errors import InputError, StorageError

DEFAULT_DB = "custody.db"
TRANSCODER = "ledger.storage.transcoder:MsgpackTranscoder"
SQLITE_FACTORY = "ledger.storage.sqlite:DurableSQLiteFactory"
POSTGRES_FACTORY = "ledger.storage.postgres:DurablePostgresFactory"
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

    @property
    def exists(self) -> bool:
        return self.sqlite_path is None or os.path.exists(self.sqlite_path)


def select_backend(db: str | None) -> Backend:
    """Return the backend for ``db`` (None means ``./custody.db``)."""
    db = db or DEFAULT_DB
    common = {
        "TRANSCODER_TOPIC": TRANSCODER,
        "ORIGINATOR_ID_TYPE": "text",
        # The library's aggregate cache: a cached stream is fast-forwarded from the store on
        # every read, so writers elsewhere are still seen; without it each read replays.
        "AGGREGATE_CACHE_MAXSIZE": "10000",
    }
    if db.startswith(("postgresql://", "postgres://")):
        return _postgres(db, common)
    if "://" in db:
        raise InputError(f"--db {db.split('://')[0]}:// is not supported; use a file path or postgresql://")
    if os.path.isdir(db):
        raise StorageError(f"--db {db} is a directory; give a file path such as {db}/custody.db")
    return Backend(
        label=db,
        env={**common, "PERSISTENCE_MODULE": SQLITE_FACTORY, "SQLITE_DBNAME": db,
             "SQLITE_LOCK_TIMEOUT": str(lock_timeout())},
        sqlite_path=db,
    )


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


def _postgres(url: str, common: dict[str, str]) -> Backend:
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    if not dbname:
        raise InputError("a postgresql:// URL must name a database, e.g. postgresql://localhost/custody")
    env = {
        **common,
        "PERSISTENCE_MODULE": POSTGRES_FACTORY,
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
    return Backend(label=label, env=env)


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
