"""A step is acknowledged only once it is durable: what each backend's connections are set to.

SQLite: WAL mode with ``synchronous=FULL`` (the WAL is fsynced at every commit). PostgreSQL:
``synchronous_commit=on`` for every session, even where the server, database or role says
otherwise.
"""

from __future__ import annotations

from contextlib import closing

import psycopg
import pytest

from ledger.application.custody import open_ledger
from ledger.storage.sqlite import LedgerSQLiteFactory
from tests.durability import ledger


def pragmas(app) -> tuple[int, str]:
    with app.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute("PRAGMA synchronous")
        synchronous = cursor.fetchone()[0]
        cursor.execute("PRAGMA journal_mode")
        return synchronous, cursor.fetchone()[0]


def test_every_sqlite_connection_is_wal_with_synchronous_full(tmp_path) -> None:
    db = str(tmp_path / "custody.db")
    ledger.create(db, ["LOT-1"])
    with closing(open_ledger(db)) as app:
        # This SQLite build may default to FULL already; the factory makes it so on any build.
        assert isinstance(app.factory, LedgerSQLiteFactory)
        pool = app.recorder.datastore.pool
        # Two connections held at once: the pool opens a second one, set up the same way.
        first, second = pool.get_connection(), pool.get_connection()
        try:
            for connection in (first, second):
                raw = connection._sqlite_conn
                assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
                assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            pool.put_connection(first)
            pool.put_connection(second)
        assert pragmas(app) == (2, "wal")


@pytest.mark.postgres
def test_postgres_sessions_commit_synchronously_whatever_the_database_default(postgres_db) -> None:
    ledger.create(postgres_db, ["LOT-1"])
    dbname = postgres_db.rsplit("/", 1)[1]
    with closing(psycopg.connect(postgres_db, autocommit=True)) as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" SET synchronous_commit = off')
    with closing(psycopg.connect(postgres_db, autocommit=True)) as plain:
        # The setting took: a session that does not ask for more commits asynchronously.
        assert plain.execute("SHOW synchronous_commit").fetchone()[0] == "off"
    with closing(open_ledger(postgres_db)) as app:
        with app.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()["synchronous_commit"] == "on"
        # And the ledger still writes.
        receipt = ledger.handover(app, "LOT-1", "after-alter")
        assert receipt.seq == 2
