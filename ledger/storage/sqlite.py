"""The library's SQLite persistence, with two changes a ledger that may be damaged needs.

- Text read back from the file is decoded leniently: a column an attacker (or a bad disk)
  filled with bytes that are not UTF-8 reads as text with U+FFFD in it instead of making
  Python's ``sqlite3`` raise while fetching the page, so the verifier can report the row.
- A read-only connection (``mode=ro`` in the URI, see ``backend.py``) never tries to switch
  the file to WAL journalling: that would be a write, and a read command never writes.
"""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
from eventsourcing.utils import Environment, EnvType


def lenient_text(data: bytes) -> str:
    """SQLite TEXT as str; bytes that are not UTF-8 become U+FFFD rather than an error."""
    return data.decode("utf-8", errors="replace")


class _Pool(SQLiteConnectionPool):
    def _create_connection(self) -> SQLiteConnection:
        if "mode=ro" in self.db_name:
            # The library sets WAL on the first connection unless the file already has it.
            self.is_journal_mode_wal = True
        connection = super()._create_connection()
        connection._sqlite_conn.text_factory = lenient_text
        return connection


class CustodySQLiteFactory(SQLiteFactory):
    """The library's SQLite factory, its connections made by ``_Pool``."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        library_pool = self.datastore.pool  # no connection made yet: nothing to carry over
        self.datastore.pool = _Pool(db_name=library_pool.db_name,
                                    lock_timeout=library_pool.lock_timeout)
        library_pool.close()
