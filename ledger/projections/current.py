"""A view to answer from, and the quick way to one on SQLite: ``sqlite3`` alone.

A read command answers from a view that reflects the log's head (``access.for_reading``
brings it there, through the eventsourcing application). Every write command brings the
stored view up to date after its append, so usually it already stands at the head: then
nothing needs folding, and the answer needs only the view's tables. ``current_answer`` reads
them, on a SQLite ledger, in one read-only transaction with no more than ``sqlite3``
imported, so ``custody status LOT`` starts almost as fast as ``custody --version``.

Whatever else it finds — PostgreSQL, no view yet, a view behind the head or folded by
another version of the program, a log without its genesis, a file SQLite cannot open
read-only — it returns None and the command takes the full way, which says what is wrong.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from ledger.core.text import Message
from ledger.projections.view import NOTHING, VIEW_VERSION, ViewStore
from ledger.storage.backend import (
    SQLITE_TABLE,
    lenient_text,
    lock_timeout,
    select_backend,
)


@dataclass
class Answer:
    """A view to answer from, the log position it reflects, and how it got there."""

    view: ViewStore
    position: int | None
    folded: int = 0  # events folded by this command
    in_memory: bool = False  # the database could not be written: newer events folded in memory
    stored_position: int | None = None  # where the stored view stood
    owner: Any = None  # what holds the view's connections: kept open with it

    def note(self, database: str) -> str | None:
        """What to tell the reader of ``database`` about where the answer comes from, or None
        (a view read as it stood needs no word). An answer folded in memory also says how to
        spare the next read that work: nothing of it is saved, so every read folds the same
        events again, a whole log's worth when there is no stored view."""
        if not self.in_memory:
            return None
        stood = (Message("no stored view") if self.stored_position is None
                 else Message("the stored view at position {position}",
                              position=self.stored_position))
        return Message("read-only database: answered from {stood} plus {folded} newer "
                       "event(s) folded in memory (not saved), as every read of {db} will "
                       "until its view is saved: run 'custody projections rebuild --db {db}' "
                       "with write access to it, or read a writable copy ('custody copy "
                       "--from {db} --to FILE')", stood=stood, folded=self.folded,
                       db=database)


class SnapshotView(ViewStore):
    """The stored view read through one read-only ``sqlite3`` transaction: every query of
    the command sees the same state of the file."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    @contextmanager
    def _transaction(self, commit: bool) -> Iterator[sqlite3.Cursor]:
        if commit:
            raise sqlite3.OperationalError("a snapshot of the view is read-only")
        cursor = self.connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def close(self) -> None:
        self.connection.close()


def current_answer(db: str | None) -> Answer | None:
    """The stored view of the SQLite ledger at ``db`` if it stands at the log's head, was
    folded by this version and holds the genesis the log holds; else None."""
    backend = select_backend(db, read_only=True)
    if backend.sqlite_path is None or not backend.exists:
        return None
    try:
        connection = sqlite3.connect(backend.env["SQLITE_DBNAME"], uri=True,
                                     timeout=lock_timeout(), isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        connection.text_factory = lenient_text  # as the ledger's own connections read text
        connection.execute("BEGIN")  # one snapshot for the check and every answer after it
        head = connection.execute(f"SELECT MAX(rowid) FROM {SQLITE_TABLE}").fetchone()[0]
        meta = dict(connection.execute("SELECT key, value FROM view_meta").fetchall())
        genesis = connection.execute(
            "SELECT stream, position FROM view_steps WHERE type = 'ledger.genesis' "
            "ORDER BY position LIMIT 1").fetchone()
        stored = genesis is not None and connection.execute(
            f"SELECT rowid FROM {SQLITE_TABLE} WHERE originator_id = ? AND "
            "originator_version = 1", [genesis[0]]).fetchone() == (genesis[1],)
    except sqlite3.Error:  # no ledger, no view, not a database: the full way says which
        connection.close()
        return None
    if not stored or head is None or str(head) != meta.get("position", str(NOTHING)) \
            or meta.get("view_version") != str(VIEW_VERSION):
        connection.close()
        return None
    return Answer(SnapshotView(connection), head, stored_position=head, owner=connection)


def genesis_time_zone(view: ViewStore) -> str | None:
    """The time zone the ledger's genesis names (``init --time-zone``), as the view saved it:
    what a quick answer prints times in (None when it names none)."""
    import json

    saved = view.fold_get(["time_zone"]).get("time_zone")
    zone = json.loads(saved) if saved else None
    return zone if isinstance(zone, str) else None
