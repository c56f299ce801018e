"""PostgreSQL, imported only when a postgresql:// ledger is opened (psycopg costs start-up
time SQLite users should not pay).

- ``PostgresLedgerRecorder``: the library's recorder with ``select_streams``,
  ``select_kind``, ``select_head``, ``stream_ids`` and the conditional append (see
  ``recorders.py``).
- ``DurablePostgresFactory``: every session sets ``synchronous_commit=on``, whatever the
  server, database or role default says: a COMMIT returns only after its WAL record is flushed
  to the server's disk (and, if the server names synchronous standbys, to theirs). What it
  cannot fix is a server running with ``fsync=off``: that is the operator's promise to keep.
"""

from __future__ import annotations

from typing import Any, Sequence

import psycopg
from eventsourcing.persistence import ApplicationRecorder, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.utils import strtobool
from psycopg.sql import SQL

from ledger.storage.recorders import HeadMoved, Row
from ledger.storage.tree import TreeRecorder, TreeTables

# libpq's "options": server settings for the session, applied at connection start-up, so
# they hold before the first statement and on every connection the pool opens later.
SESSION_OPTIONS = "-c synchronous_commit=on"
# Held while the library creates its tables and types: it does so at every start-up, and two
# processes doing it at once on a new database fail with "tuple concurrently updated".
CREATE_LOCK = 0x637573746F6479  # "custody"


class DurablePostgresFactory(PostgresFactory):
    """``PostgresFactory`` whose connections commit synchronously, and whose start-ups may
    run side by side on one database."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.datastore.pool.kwargs["options"] = SESSION_OPTIONS

    def env_create_table(self) -> bool:
        return False  # created by the recorders made here, under CREATE_LOCK

    def application_recorder(self) -> ApplicationRecorder:
        return self._created(super().application_recorder())

    def tracking_recorder(self, tracking_recorder_class: Any = None) -> Any:
        """The view's recorder (``ledger.projections``): its tables too, under the lock."""
        return self._created(super().tracking_recorder(tracking_recorder_class))

    def _created(self, recorder: Any) -> Any:
        if strtobool(self.env.get(self.CREATE_TABLE) or "yes"):
            timeout = int(self.env.get(self.POSTGRES_CONNECT_TIMEOUT) or 10)
            try:
                lock = psycopg.connect(**self.datastore.pool.kwargs, autocommit=True,
                                       connect_timeout=timeout)
            except psycopg.Error as exc:
                raise OperationalError(str(exc)) from exc
            with lock:
                lock.execute("SELECT pg_advisory_lock(%s)", (CREATE_LOCK,))
                recorder.create_table()
        return recorder  # closing the lock's session released the lock


class PostgresLedgerRecorder(TreeRecorder, PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
                 ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # custody_events -> custody_tree_hashes, custody_tree_leaves, custody_checkpoints
        prefix = f"{datastore.schema}.{events_table_name.removesuffix('events')}"
        self.tree = TreeTables(mark="%s", prefix=prefix,
                               events=f"{datastore.schema}.{events_table_name}",
                               position="notification_id", blob="BYTEA", integer="BIGINT",
                               postgres=True)
        self.sql_create_statements.extend(SQL(s) for s in self.tree.create_statements)  # type: ignore[arg-type]

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        # Still in the insert's transaction, under its table lock: the Merkle tree is written
        # with the events, so it never lags the log.
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if ids:
            self.tree.append(curs, [(i, s.state) for i, s in zip(ids, stored_events)])
        return ids

    def _rows(self, where: str, params: Sequence[Any], order: str) -> list[Row]:
        statement = (f"SELECT notification_id, originator_id, originator_version, topic, state "
                     f"FROM {self.datastore.schema}.{self.events_table_name} {where} "
                     f"ORDER BY notification_id {order}")
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params)  # type: ignore[arg-type]
            return [(r["notification_id"], r["originator_id"], r["originator_version"],
                     r["topic"], bytes(r["state"])) for r in curs.fetchall()]

    def select_streams(self, streams: Sequence[str]) -> list[Row]:
        """Every stored row of ``streams``, in log order."""
        return self._rows("WHERE originator_id = ANY(%s)", [list(streams)], "ASC")

    def select_rows(self, start: int | None, limit: int) -> list[Row]:
        """Up to ``limit`` stored rows from position ``start`` on (None: from the lowest
        stored), in log order: what ``select_notifications`` gives, as plain tuples."""
        if start is None:
            return self._rows("", [], f"LIMIT {int(limit)}")
        return self._rows("WHERE notification_id >= %s", [start], f"LIMIT {int(limit)}")

    def select_kind(self, prefix: str) -> list[Row]:
        """Every stored row of the streams whose id starts with ``prefix``, in log order."""
        return self._rows("WHERE left(originator_id, %s) = %s", [len(prefix), prefix], "ASC")

    def stream_ids(self, prefix: str) -> list[str]:
        """The id of every stream that starts with ``prefix`` ("lot:"), sorted bytewise."""
        statement = (f"SELECT DISTINCT originator_id FROM "
                     f"{self.datastore.schema}.{self.events_table_name} "
                     "WHERE left(originator_id, %s) = %s")
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [len(prefix), prefix])  # type: ignore[arg-type]
            return sorted(r["originator_id"] for r in curs.fetchall())

    def select_head(self) -> Row | None:
        """The log's last row, or None when it is empty."""
        rows = self._rows("", [], "DESC LIMIT 1")
        return rows[0] if rows else None

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                       *, expected_head: int | None = None, **kwargs: Any) -> None:
        # Runs first in the library's insert transaction. Take the table lock the insert will
        # take anyway, then check the head: raising here rolls the transaction back.
        if expected_head is None:
            return
        self._lock_table(curs)
        curs.execute(f"SELECT MAX(notification_id) AS head FROM "
                     f"{self.datastore.schema}.{self.events_table_name}")
        row = curs.fetchone()
        head = (row["head"] if row else None) or 0
        if head != expected_head:
            raise HeadMoved(f"the log's head moved from {expected_head} to {head}")
