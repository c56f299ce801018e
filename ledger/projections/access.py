"""How a command gets a view that reflects the log's head.

Every read first brings the view up to the log's last position, folding only the events
after the view's own (``catch_up``). Read commands open the ledger read-only, so:

- a view already at the head is read as it is: nothing is written;
- a view behind the head, on a database this process may write to, is caught up there (the
  view's tables only; never an event);
- on a database it may not write to (a read-only file or copy, a PostgreSQL role without
  write access), the stored view is copied into memory and the newer events are folded
  into the copy, which is dropped afterwards; the answer says so.

Write commands bring the view up to date right after their append (``refresh``), so a read
usually finds it current and writes nothing (on SQLite, ``current.current_answer`` then
reads it with ``sqlite3`` alone).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from typing import Any, Callable

from eventsourcing.persistence import PersistenceError
from eventsourcing.sqlite import SQLiteDatastore

from ledger.core.errors import StorageError
from ledger.projections.current import Answer
from ledger.projections.projection import catch_up
from ledger.projections.view import Stale as StaleView
from ledger.projections.sqlite import SQLiteViewRecorder
from ledger.projections.view import TABLES, ViewStore, _columns

Progress = Callable[[int], None]


def _view_class(app: Any) -> type[Any]:
    if app.backend.sqlite_path is not None:
        return SQLiteViewRecorder
    from ledger.projections.postgres import PostgresViewRecorder  # psycopg only when needed
    return PostgresViewRecorder


def stored_view(app: Any) -> ViewStore | None:
    """The view stored in the ledger's database, opened through ``app``'s own connections
    (read-only for read commands), or None when it has no view tables yet."""
    cls = _view_class(app)
    kwargs = {} if cls is SQLiteViewRecorder else {"tracking_table_name": "custody_tracking"}
    view = cls(datastore=app.factory.datastore, **kwargs)
    try:
        view.position()
    except (sqlite3.Error, PersistenceError, Exception) as exc:  # noqa: BLE001
        if _is_missing_table(exc):
            return None
        raise StorageError(f"cannot read the view in {app.backend.label}: {exc}") from None
    return view


def _is_missing_table(exc: Exception) -> bool:
    text = str(exc).lower()
    return "no such table" in text or "does not exist" in text


def writable_view(app: Any) -> ViewStore:
    """The view of a ledger opened for writing, its tables created if missing (only then: on
    PostgreSQL even ``CREATE ... IF NOT EXISTS`` locks the tables, and would deadlock with
    another process's catch-up)."""
    return stored_view(app) or app.factory.tracking_recorder(_view_class(app))


def memory_view() -> SQLiteViewRecorder:
    """An empty view in a private in-memory SQLite database."""
    name = f"file:custody_view_{secrets.token_hex(8)}?mode=memory&cache=shared"
    view = SQLiteViewRecorder(datastore=SQLiteDatastore(name, originator_id_type="text"))
    view.create_table()
    return view


def copy_view(source: ViewStore, target: ViewStore) -> None:
    """Put every row of ``source``'s view tables into the empty ``target``."""
    with target._transaction(True) as c:  # noqa: SLF001 - one transaction for the copy
        c.execute("DELETE FROM view_meta")
        for table in TABLES:
            columns = _columns(table)
            rows = source.query(f"SELECT {', '.join(columns)} FROM {table}")
            c.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                          f"({', '.join('?' * len(columns))})", rows)


def _may_write(app: Any) -> bool:
    path = app.backend.sqlite_path
    if path is None:
        return True  # PostgreSQL: tried, and a refusal falls back to memory
    folder = os.path.dirname(os.path.abspath(path))
    return os.access(path, os.W_OK) and os.access(folder, os.W_OK)


def for_reading(app: Any, open_writer: Callable[[], Any], progress: Progress = lambda n: None
                ) -> Answer:
    """A view reflecting the log's head, for a command that opened ``app`` read-only.

    ``open_writer`` opens the same ledger for writing, only if the view must be caught up."""
    head = app.last_position()
    stored = stored_view(app)
    position = stored.position() if stored is not None else None
    if stored is not None and position == head and stored.current():
        return Answer(stored, position, stored_position=position, owner=app)
    if _may_write(app):
        try:
            writer = open_writer()
            view = writable_view(writer)
            folded = catch_up(view, writer.recorder, progress=progress)
            return Answer(view, view.position(), folded, stored_position=position, owner=writer)
        except StorageError as exc:  # opening it for writing was refused: a read-only role
            if not _refused_write(exc):
                raise
        except (sqlite3.Error, PersistenceError) as exc:
            if not _refused_write(exc):
                raise StorageError(f"cannot bring the view in {app.backend.label} up to "
                                   f"date: {exc}") from None
    view = memory_view()
    if stored is not None:
        copy_view(stored, view)
    folded = catch_up(view, app.recorder, progress=progress)
    return Answer(view, view.position(), folded, in_memory=True, stored_position=position,
                  owner=app)


def _refused_write(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("readonly", "read-only", "read only",
                                         "permission denied", "must be owner"))


def refresh(app: Any) -> None:
    """Bring the view of a ledger open for writing up to the log's head (after an append)."""
    catch_up(writable_view(app), app.recorder)


def rebuild(app: Any, progress: Progress = lambda n: None) -> int:
    """Make the view's tables anew and fold the whole log into them, a page per transaction
    (their secondary indexes made at the end: ``ViewStore.clear``)."""
    view = writable_view(app)
    view.clear()
    return catch_up(view, app.recorder, progress=progress)
