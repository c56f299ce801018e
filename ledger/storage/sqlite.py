"""The library's SQLite datastore with the durability the ledger promises.

The library opens every file in WAL mode but leaves ``synchronous`` at whatever the SQLite
build defaults to; a build (or a PRAGMA elsewhere) with ``synchronous=NORMAL`` in WAL mode
may lose the last commits on power loss. Here every connection is set to ``synchronous=FULL``
and checked, so a commit returns only after the write-ahead log is fsynced: once ``custody``
has printed a receipt, the step survives a crash of the process, the OS or the power.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from eventsourcing.persistence import InterfaceError
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory

SYNCHRONOUS_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


class DurableSQLiteConnectionPool(SQLiteConnectionPool):
    """Connections in WAL mode (the library sets it) with ``synchronous=FULL`` (set here)."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        raw: sqlite3.Connection = connection._sqlite_conn
        raw.execute("PRAGMA synchronous=FULL")
        level = raw.execute("PRAGMA synchronous").fetchone()[0]
        if level != SYNCHRONOUS_FULL:
            raw.close()
            raise InterfaceError(f"SQLite refused synchronous=FULL (it reports {level})")
        return connection


class DurableSQLiteFactory(SQLiteFactory):
    """``SQLiteFactory`` whose datastore hands out only durable connections."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        # The library's pool opens connections lazily, so none exists yet: swap it whole.
        self.datastore.pool = DurableSQLiteConnectionPool(
            db_name=pool.db_name, lock_timeout=pool.lock_timeout)
        pool.close()
