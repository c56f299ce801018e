"""The library's SQLite persistence, with what a ledger needs more.

- Durability: the library opens every file in WAL mode but leaves ``synchronous`` at whatever
  the SQLite build defaults to; with ``synchronous=NORMAL`` in WAL mode the last commits may
  be lost on power loss. Every connection here is set to ``synchronous=FULL`` and checked, so
  a commit returns only after the write-ahead log is fsynced: once ``custody`` has printed a
  receipt, the step survives a crash of the process, the OS or the power.
- Text read back from the file is decoded leniently: a column an attacker (or a bad disk)
  filled with bytes that are not UTF-8 reads as text with U+FFFD in it instead of making
  Python's ``sqlite3`` raise while fetching the page, so the verifier can report the row.
- A read-only connection (``mode=ro`` in the URI, see ``backend.py``) never tries to switch
  the file to WAL journalling: that would be a write, and a read command never writes.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any, Callable, TypeVar

from eventsourcing.persistence import InterfaceError
from eventsourcing.sqlite import (
    SQLiteConnection, SQLiteConnectionPool, SQLiteDatastore, SQLiteFactory,
)

from ledger.storage.backend import lenient_text

T = TypeVar("T")
SYNCHRONOUS_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


class LedgerSQLiteConnectionPool(SQLiteConnectionPool):
    """Connections with ``synchronous=FULL`` (checked), lenient text, and no WAL switch on a
    read-only file."""

    def _create_connection(self) -> SQLiteConnection:
        if "mode=ro" in self.db_name:
            # The library sets WAL on the first connection unless the file already has it.
            self.is_journal_mode_wal = True
        connection = super()._create_connection()
        raw: sqlite3.Connection = connection._sqlite_conn
        raw.text_factory = lenient_text
        raw.execute("PRAGMA synchronous=FULL")
        level = raw.execute("PRAGMA synchronous").fetchone()[0]
        if level != SYNCHRONOUS_FULL:
            raw.close()
            raise InterfaceError(f"SQLite refused synchronous=FULL (it reports {level})")
        return connection


def ledger_datastore(db_name: str, lock_timeout: int) -> SQLiteDatastore:
    """A datastore on ``db_name`` whose connections are ``LedgerSQLiteConnectionPool``'s
    (what ``LedgerSQLiteFactory`` makes, for a process that opens the file on its own)."""
    datastore = SQLiteDatastore(db_name, lock_timeout=lock_timeout, originator_id_type="text")
    _ledger_pool(datastore)
    return datastore


def reopener(datastore: SQLiteDatastore, make: Callable[..., T], *args: Any
              ) -> Callable[[], T] | None:
    """A picklable way for another process (a long fold's helper) to open ``datastore``'s
    file afresh, read-only if it is, and make ``make(that datastore, *args)`` of it; None in
    memory, where only this process's connections reach the database."""
    pool = datastore.pool
    if pool.is_sqlite_memory_mode:
        return None
    return partial(_reopened, pool.db_name, pool.lock_timeout, make, *args)


def _reopened(db_name: str, lock_timeout: int, make: Callable[..., T], *args: Any) -> T:
    return make(ledger_datastore(db_name, lock_timeout), *args)


def _ledger_pool(datastore: SQLiteDatastore) -> None:
    pool = datastore.pool
    # The library's pool opens connections lazily, so none exists yet: swap it whole.
    datastore.pool = LedgerSQLiteConnectionPool(db_name=pool.db_name,
                                                lock_timeout=pool.lock_timeout)
    pool.close()


class LedgerSQLiteFactory(SQLiteFactory):
    """``SQLiteFactory`` whose datastore hands out only ``LedgerSQLiteConnectionPool``
    connections."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        _ledger_pool(self.datastore)
