"""The view's SQLite recorder: the library's ``SQLiteTrackingRecorder`` (its tracking table
is ``tracking``) with the view's tables beside it (see ``view.py`` for the tables and the
write; ``postgres.py`` is the PostgreSQL one)."""

from __future__ import annotations

from typing import Any, Callable

from eventsourcing.sqlite import SQLiteCursor, SQLiteTrackingRecorder

from ledger.projections.view import APPLICATION, ViewStore
from ledger.storage.sqlite import reopener


class SQLiteViewRecorder(ViewStore, SQLiteTrackingRecorder):
    """The library's SQLite tracking recorder with the view's tables beside ``tracking``."""

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + self.view_statements()

    def opener(self) -> Callable[[], ViewStore] | None:
        """This view, opened afresh in another process (``writer.PageWriter``;
        ``sqlite.reopener``)."""
        return reopener(self.datastore, _view_at)

    def _create_table(self, c: SQLiteCursor) -> None:
        super()._create_table(c)
        self._init_meta(c)

    def _transaction(self, commit: bool) -> Any:
        return self.datastore.transaction(commit=commit)

    def _fetch(self, cursor: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in cursor.fetchall()]

    def _rowcount(self, cursor: Any) -> int:
        return int(cursor.sqlite_cursor.rowcount)  # the library wraps sqlite3's cursor

    def _reset_tracking(self, c: Any) -> None:
        c.execute("DELETE FROM tracking WHERE application_name = ?", [APPLICATION])


def _view_at(datastore: Any) -> SQLiteViewRecorder:
    return SQLiteViewRecorder(datastore=datastore)
