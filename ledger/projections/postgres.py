"""The view's PostgreSQL recorder: the library's ``PostgresTrackingRecorder`` (its tracking
table is ``custody_tracking``) with the view's tables beside it. Imported only when the
ledger is on PostgreSQL (see ``view.py`` for the tables and the write)."""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg.sql import SQL

from ledger.projections.view import APPLICATION, ViewStore


class PostgresViewRecorder(ViewStore, PostgresTrackingRecorder):
    param = "%s"
    int_type, text_type, blob_type = "bigint", "text", "bytea"
    clustered = ""  # a PostgreSQL table is a heap beside its key's index either way
    make_view = "CREATE OR REPLACE VIEW"
    collate = ' COLLATE "C"'

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.extend(SQL(s) for s in self.view_statements())  # type: ignore[arg-type]

    def _create_table(self, curs: Any) -> None:
        super()._create_table(curs)
        self._init_meta(curs)

    def _transaction(self, commit: bool) -> Any:
        return self.datastore.transaction(commit=commit)

    def _fetch(self, cursor: Any) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in cursor.fetchall()]

    def _reset_tracking(self, c: Any) -> None:
        c.execute(SQL("DELETE FROM {0} WHERE application_name = %s").format(
            SQL(self.tracking_table_name)), [APPLICATION])
