"""The library's application recorders, with the two things the ledger's recorder needs more.

- ``select_streams(streams)``: the stored rows of some streams, with their log positions, in
  log order (the recorder folds the streams a judgement reads through ``LedgerState``),
  ``select_head()``: the log's last row, and ``stream_ids(prefix)``: the ids of the streams
  of a kind (the candidates when a command names an unknown lot, room or person).
- A conditional append: ``insert_events(..., expected_head=N)`` appends only if the log's
  last position is still N when the write lock is held, else raises :class:`HeadMoved` and
  writes nothing. The recorder judges a step against the state at position N and appends it
  with ``expected_head=N``, so judging and appending are atomic with respect to every stream
  the judgement read. On SQLite the insert takes the database's write lock and the check runs
  after it, in the same transaction; on PostgreSQL the check runs under the table lock the
  library takes to keep positions in commit order (``postgres.py``, imported only when that
  backend is chosen: psycopg costs start-up time SQLite users should not pay).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from ledger.storage.sqlite import reopener
from ledger.storage.tree import TreeRecorder, TreeTables

Row = tuple[int, Any, Any, Any, Any]  # position, stream id, version, topic, stored bytes


class HeadMoved(Exception):
    """The log grew after the state a step was judged against was read: judge it again."""


class SQLiteLedgerRecorder(TreeRecorder, SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        self.tree = TreeTables(mark="?", prefix="", events=events_table_name, position="rowid",
                               blob="BLOB", integer="INTEGER", postgres=False)
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.tree.create_statements]

    def opener(self) -> Callable[[], "SQLiteLedgerRecorder"] | None:
        """This ledger, opened afresh in another process (the verifier's ``log_helper``;
        ``sqlite.reopener``)."""
        return reopener(self.datastore, SQLiteLedgerRecorder, self.events_table_name)

    def select_streams(self, streams: Sequence[str]) -> list[Row]:
        """Every stored row of ``streams``, in log order."""
        marks = ",".join("?" * len(streams))
        statement = (f"SELECT rowid, originator_id, originator_version, topic, state FROM "
                     f"{self.events_table_name} WHERE originator_id IN ({marks}) ORDER BY rowid")
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, list(streams))
            return [tuple(row) for row in c.fetchall()]  # type: ignore[misc]

    def select_rows(self, start: int | None, limit: int) -> list[Row]:
        """Up to ``limit`` stored rows from position ``start`` on (None: from the lowest
        stored), in log order, values as stored: what ``select_notifications`` gives, as
        plain tuples. The verifier and the view's fold read every row of the log, and these
        cost them half what the library's notifications do."""
        where = "" if start is None else "WHERE rowid >= ? "
        statement = (f"SELECT rowid, originator_id, originator_version, topic, state FROM "
                     f"{self.events_table_name} {where}ORDER BY rowid LIMIT ?")
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, [limit] if start is None else [start, limit])
            c.sqlite_cursor.row_factory = None  # plain tuples (the library wraps the cursor)
            return c.fetchall()  # type: ignore[no-any-return]

    def select_kind(self, prefix: str) -> list[Row]:
        """Every stored row of the streams whose id starts with ``prefix`` ("person:"), in
        log order."""
        statement = (f"SELECT rowid, originator_id, originator_version, topic, state FROM "
                     f"{self.events_table_name} WHERE substr(originator_id, 1, ?) = ? "
                     "ORDER BY rowid")
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, (len(prefix), prefix))
            return [tuple(row) for row in c.fetchall()]  # type: ignore[misc]

    def stream_ids(self, prefix: str) -> list[str]:
        """The id of every stream that starts with ``prefix`` ("lot:"), sorted: a range of
        the primary key's index, no row decoded."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first id past every prefix match
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT DISTINCT originator_id FROM {self.events_table_name} "
                      "WHERE originator_id >= ? AND originator_id < ? ORDER BY originator_id",
                      (prefix, end))
            return [row[0] for row in c.fetchall()]

    def select_head(self) -> Row | None:
        """The log's last row, or None when it is empty."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT rowid, originator_id, originator_version, topic, state FROM "
                      f"{self.events_table_name} ORDER BY rowid DESC LIMIT 1")
            row = c.fetchone()
            return tuple(row) if row is not None else None  # type: ignore[return-value]

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       *, expected_head: int | None = None, **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if expected_head is not None and ids:
            # The insert holds the write lock now: nothing else can append until we commit.
            c.execute(f"SELECT MAX(rowid) FROM {self.events_table_name} WHERE rowid < ?",
                      (ids[0],))
            below = c.fetchone()[0] or 0
            if below != expected_head:
                raise HeadMoved(f"the log's head moved from {expected_head} to {below}")
        if ids:
            # The Merkle tree, in the same transaction: it never lags the log.
            self.tree.append(c, [(i, s.state) for i, s in zip(ids, stored_events)])
        return ids
