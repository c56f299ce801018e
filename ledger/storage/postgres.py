"""The PostgreSQL recorder with ``select_streams``, ``select_head`` and the conditional append
(see ``recorders.py``). Imported only when PostgreSQL is configured."""

from __future__ import annotations

from typing import Any, Sequence

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL

from ledger.storage.recorders import HeadMoved, Row
from ledger.storage.tree import TreeRecorder, TreeTables


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
