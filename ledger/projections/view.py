"""Where the view lives: its tables in the ledger's own database, and how they are written.

The view's recorders subclass the eventsourcing library's tracking recorders
(``SQLiteTrackingRecorder`` in ``sqlite.py``, ``PostgresTrackingRecorder`` in ``postgres.py``;
this module imports neither, so a read of a current view needs no more than ``sqlite3``): the
library's tracking table says up to which log position the view has been brought, and the
view's tables are written in the same transaction as that position, so each event's effect
on the view is recorded exactly once, or not at all.

A write is a compare-and-swap on ``view_meta.position``: it applies only if the view still
stands where the batch started from, so two commands catching up at once cannot both write
the same events (the one that loses finds the view moved, and reads it again).

Tables (documented in docs/operations.md):

- ``view_lots``: one row per lot as it stands now (its own holder; a packed lot's holder is
  its container's, resolved when read), with the findings, acknowledged violations and
  corrections its steps carried when recorded;
- ``view_steps``: one row per event of the log — position, stream, step, type, times,
  from/to, location, policy, presence verdict and who was missing, the codes of its
  findings — and, for a lot's step, the lot as it stood after it (for ``--as-of``/``--at``);
- ``view_attendees``: every person listed at a step, with the roster's role and whether
  they counted (signed, enrolled, key in force), the person and the role as ids of their
  names in ``view_names``; questions read them with the names, as the SQL view
  ``view_attendee_names``;
- ``view_people``: every other way a person appears: released or received a lot, holds
  one from registration, key events of their own;
- ``view_rooms``, ``view_duty``, ``view_occupancy``: secure rooms and their licences, duty
  shifts with who was on duty, and when each lot lay in which room;
- ``view_findings``: every finding each step carried when folded (code, severity, message,
  evidence as JSON), by position and order (``custody replay`` and the timelines read it);
- ``view_meta`` and ``view_fold``: the position and counts, and the fold state
  (``LedgerState``) saved as ``verify --state`` saves it (``codec.py``), so a catch-up
  folds only newer events.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

APPLICATION = "custody"  # the tracked application's name (the log is CustodyLedger's)
NOTHING = -(2**63)  # view_meta.position before any event is folded
# What the view's tables hold; a view folded by an older version (2: no view_findings rows
# for its steps; 3: their messages as plain English, not a template with its values, so
# they could not be shown in another language; 4: presence conflicts judged between
# location texts and duty gaps found at the end, not at the step that opened them; 5: the
# fold state as JSON of its own, without the log keys, the genesis's witnesses and the
# position of the last recorded_at; 6: rowid tables beside their key's index on SQLite, each
# event hash and saved fold row as text, hex and base64, not as bytes, each attendee's
# person and role as text, not the id of a name in view_names, and the roster and key
# owners inside the fold's one ``state`` row, read and written whole by every catch-up; 7:
# rooms, sites and rooms' duty coverage inside that row; 8: streams' heads without the
# position of their last step) is folded again by the next
# catch-up, into tables made anew (``ViewStore.clear``), so it also takes the newer layout.
VIEW_VERSION = 9

TABLES: dict[str, tuple[str, ...]] = {
    # table -> (column definitions..., primary key)
    "view_meta": ("key {text}", "value {text}", "PRIMARY KEY (key)"),
    "view_fold": ("key {text}", "value {blob}", "PRIMARY KEY (key)"),
    "view_lots": ("lot {text}", "kind {text}", "exam {text}", "subject {text}", "count {int}",
                  "seals {text}", "holder {text}", "packed_in {text}", "location {text}",
                  "last_type {text}", "occurred_at {text}", "unsealed {int}", "closed {int}",
                  "steps {int}", "position {int}", "findings {int}", "acknowledged {int}",
                  "corrections {int}", "PRIMARY KEY (lot)"),
    "view_steps": ("position {int}", "stream {text}", "seq {int}", "type {text}",
                   "occurred_at {text}", "recorded_at {text}", "from_party {text}",
                   "to_party {text}", "location {text}", "policy {text}", "verdict {text}",
                   "missing {text}", "findings {text}", "nfindings {int}", "event_hash {blob}",
                   "lot {text}",
                   "holder {text}", "packed_in {text}", "count {int}", "seals {text}",
                   "unsealed {int}", "closed {int}", "PRIMARY KEY (position)"),
    # Each person and role as the id of its name: a step lists six people or more, and the
    # same few thousand names would otherwise fill most of the view.
    "view_attendees": ("position {int}", "person {int}", "role {int}", "counted {int}",
                       "PRIMARY KEY (position, person)"),
    "view_names": ("id {int}", "name {text}", "PRIMARY KEY (id)"),
    "view_people": ("person {text}", "position {int}", "part {text}",
                    "PRIMARY KEY (person, position, part)"),
    "view_rooms": ("room {text}", "name {text}", "licence {text}", "valid_from {text}",
                   "valid_until {text}", "position {int}", "PRIMARY KEY (room)"),
    "view_duty": ("room {text}", "position {int}", "occurred_at {text}", "type {text}",
                  "on_duty {text}", "PRIMARY KEY (room, position)"),
    "view_occupancy": ("lot {text}", "entered {int}", "room {text}", "since {text}",
                       "until {text}", "PRIMARY KEY (lot, entered)"),
    "view_findings": ("position {int}", "ordinal {int}", "code {text}", "severity {text}",
                      "stream {text}", "message {text}", "evidence {text}",
                      "PRIMARY KEY (position, ordinal)"),
}
# On SQLite every table whose key is not one integer (that one is the rowid already) is stored
# in its key's order (WITHOUT ROWID): a rowid table would keep each row a second time in its
# key's index. Not view_lots: its rows are long and rewritten in no order, which leaves such
# a table's pages emptier than its key's index costs (a 21k-event season: 1.05 MiB against
# 0.94 with its indexes).
CLUSTERED = frozenset(TABLES) - {"view_steps", "view_names", "view_lots"}
# Read as these (SQL views): the attendees with their names, for questions that name people.
NAMED: dict[str, tuple[str, str]] = {
    # name -> (columns, what it selects)
    "view_attendee_names": ("position, person, role, counted",
                            "SELECT a.position, p.name, r.name, a.counted FROM view_attendees a "
                            "JOIN view_names p ON p.id = a.person "
                            "JOIN view_names r ON r.id = a.role"),
}
# The secondary indexes: made with the tables, but dropped by a rebuild and made again once
# it has folded the whole log (``ViewStore.index``), which builds each one sorted and packed
# instead of inserting every row's entry at random.
INDEXES = (
    "CREATE INDEX IF NOT EXISTS view_steps_lot ON view_steps (lot, position)",
    "CREATE INDEX IF NOT EXISTS view_steps_stream ON view_steps (stream, seq)",
    "CREATE INDEX IF NOT EXISTS view_attendees_person ON view_attendees (person, position)",
    "CREATE UNIQUE INDEX IF NOT EXISTS view_names_name ON view_names (name)",
    "CREATE INDEX IF NOT EXISTS view_lots_holder ON view_lots (holder)",
    "CREATE INDEX IF NOT EXISTS view_lots_packed ON view_lots (packed_in)",
)
# Compared by `verify --projections`, each in its primary key's order.
# ({c}: text columns sort bytewise on both backends, as PostgreSQL's "C" collation does.)
COMPARED: dict[str, str] = {
    "view_lots": "lot{c}", "view_steps": "position", "view_attendees": "position, person",
    "view_names": "id",
    "view_people": "person{c}, position, part{c}", "view_rooms": "room{c}",
    "view_duty": "room{c}, position", "view_occupancy": "lot{c}, entered",
    "view_findings": "position, ordinal", "view_fold": "key{c}", "view_meta": "key{c}",
}
UPSERT_KEYS = {"view_lots": ("lot",), "view_rooms": ("room",), "view_fold": ("key",),
               "view_meta": ("key",)}


def _index_name(statement: str) -> str:
    """The name a statement of ``INDEXES`` gives its index."""
    return statement.split(" IF NOT EXISTS ", 1)[1].split()[0]


def _columns(table: str) -> list[str]:
    if table in NAMED:
        return NAMED[table][0].split(", ")
    return [c.split()[0] for c in TABLES[table] if not c.startswith("PRIMARY")]


@dataclass
class Batch:
    """What folding some events decided the view should now hold: rows to insert, rows to
    put in place of their earlier selves, and occupancy intervals that ended."""

    inserts: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    upserts: dict[str, "OrderedDict[Any, tuple[Any, ...]]"] = field(default_factory=dict)
    ended: list[tuple[str, str, str, str]] = field(default_factory=list)  # until, lot, room, since

    def insert(self, table: str, row: tuple[Any, ...]) -> None:
        self.inserts.setdefault(table, []).append(row)

    def inserted(self, table: str) -> list[tuple[Any, ...]]:
        """The rows to insert into ``table``, to append to."""
        return self.inserts.setdefault(table, [])

    def upsert(self, table: str, row: tuple[Any, ...]) -> None:
        rows = self.upserts.setdefault(table, OrderedDict())
        rows[row[0]] = row  # the last state of a row in a batch is the one written


class ViewStore:
    """The view's reads and writes, shared by both backends' recorders (SQL with ``?``)."""

    param = "?"
    int_type, text_type, blob_type = "INTEGER", "TEXT", "BLOB"
    clustered = " WITHOUT ROWID"  # how a table is stored in its key's order ("" if it always is)
    make_view = "CREATE VIEW IF NOT EXISTS"
    collate = ""

    # -- what each backend provides ---------------------------------------------------------

    def _transaction(self, commit: bool) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        return statement if self.param == "?" else statement.replace("?", self.param)

    def _fetch(self, cursor: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in cursor.fetchall()]

    def _rowcount(self, cursor: Any) -> int:
        return int(cursor.rowcount)

    # -- schema -----------------------------------------------------------------------------

    def view_statements(self, indexed: bool = True) -> list[str]:
        statements = [f"CREATE TABLE IF NOT EXISTS {table} (" + ", ".join(
            c.format(int=self.int_type, text=self.text_type, blob=self.blob_type)
            for c in columns) + ")" + (self.clustered if table in CLUSTERED else "")
            for table, columns in TABLES.items()]
        statements += [f"{self.make_view} {name} ({columns}) AS {select}"
                       for name, (columns, select) in NAMED.items()]
        return statements + list(INDEXES if indexed else ())

    def opener(self) -> Callable[[], "ViewStore"] | None:
        """A picklable way to open this view in another process (``writer.PageWriter``), or
        None where pages are written by the folding process itself (PostgreSQL; a database in
        memory)."""
        return None

    # -- reading ----------------------------------------------------------------------------

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._transaction(False) as c:
            c.execute(self._sql(statement), list(params))
            return self._fetch(c)

    def position(self) -> int | None:
        """The last log position folded into the view (None: nothing folded yet)."""
        rows = self.query("SELECT value FROM view_meta WHERE key = 'position'")
        if not rows or int(rows[0][0]) == NOTHING:
            return None
        return int(rows[0][0])

    def meta(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.query("SELECT key, value FROM view_meta")}

    def current(self) -> bool:
        """Whether the view's tables were made by this version of the view."""
        return self.meta().get("view_version") == VIEW_VERSION

    def fold_get(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Saved fold entries by key (missing keys are left out)."""
        found: dict[str, bytes] = {}
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            marks = ",".join("?" * len(part))
            found.update(self.query(f"SELECT key, value FROM view_fold WHERE key IN ({marks})",
                                    part))
        return found

    def rows(self, table: str, page: int = 5000) -> Iterator[tuple[Any, ...]]:
        """Every row of a view table in its key's order, a page at a time."""
        order = COMPARED[table].format(c=self.collate)
        offset = 0
        while True:
            # A fold entry removed is stored as NULL: the same as one never written; and
            # whether a rebuild has made its indexes yet is no part of what the view holds.
            where = {"view_fold": " WHERE value IS NOT NULL",
                     "view_meta": " WHERE key <> 'unindexed'"}.get(table, "")
            found = self.query(f"SELECT * FROM {table}{where} ORDER BY {order} LIMIT {page} "
                               f"OFFSET {offset}")
            yield from found
            if len(found) < page:
                return
            offset += page

    # -- writing ----------------------------------------------------------------------------

    def write(self, batch: Batch, start: int | None, end: int, meta: dict[str, int]) -> bool:
        """Write ``batch`` (the events after ``start`` up to ``end``) and move the view's
        position to ``end``, in one transaction. False, and nothing written, if the view no
        longer stands at ``start`` (another command caught up first)."""
        with self._transaction(True) as c:
            # The compare-and-swap comes first: it takes the write lock, then checks.
            c.execute(self._sql("UPDATE view_meta SET value = ? WHERE key = 'position' "
                                "AND value = ?"),
                      [str(end), str(NOTHING if start is None else start)])
            if self._rowcount(c) != 1:
                raise _Stale()
            for table, rows in batch.inserts.items():
                columns = _columns(table)
                c.executemany(self._sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                        f"({', '.join('?' * len(columns))})"), rows)
            for table, keyed in batch.upserts.items():
                self._upsert(c, table, list(keyed.values()))
            if batch.ended:
                c.executemany(self._sql("UPDATE view_occupancy SET until = ? WHERE lot = ? "
                                        "AND room = ? AND since = ? AND until IS NULL"),
                              batch.ended)
            self._upsert(c, "view_meta", [(k, str(v)) for k, v in meta.items()
                                          if k != "position"])
            from eventsourcing.persistence import Tracking

            self._insert_tracking(c, Tracking(APPLICATION, end))
        return True

    def _upsert(self, c: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        columns = _columns(table)
        keys = UPSERT_KEYS[table]
        updates = ", ".join(f"{col} = excluded.{col}" for col in columns if col not in keys)
        c.executemany(self._sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            f"({', '.join('?' * len(columns))}) ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            f"{updates}"), rows)

    def clear(self) -> None:
        """Empty the view (``projections rebuild``, or a view an older version folded),
        without its secondary indexes until the log is folded into it again (``index``);
        position back to nothing folded. A view of this version keeps its tables, and with
        them whatever access was granted on them (a PostgreSQL role that may only read keeps
        its SELECT); one an older version folded is made anew, in this version's layout."""
        same_layout = self.current()
        with self._transaction(True) as c:
            # view_meta first: a command writing a page holds it from its first statement, so
            # this waits for that page rather than deadlocking with it (on PostgreSQL).
            if same_layout:
                for table in TABLES:
                    c.execute(f"DELETE FROM {table}")
                for statement in INDEXES:
                    c.execute(f"DROP INDEX IF EXISTS {_index_name(statement)}")
            else:
                for name in NAMED:  # no page is written through them
                    c.execute(f"DROP VIEW IF EXISTS {name}")
                for table in TABLES:
                    c.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in self.view_statements(indexed=False):
                    c.execute(statement)
            self._init_meta(c)
            c.execute("INSERT INTO view_meta (key, value) VALUES ('unindexed', '1')")
            self._reset_tracking(c)

    def index(self) -> None:
        """Make the secondary indexes ``clear`` left out, once the log is folded."""
        with self._transaction(True) as c:
            for statement in INDEXES:
                c.execute(statement)
            c.execute("DELETE FROM view_meta WHERE key = 'unindexed'")

    def _init_meta(self, c: Any) -> None:
        c.execute(self._sql("INSERT INTO view_meta (key, value) VALUES ('position', ?) "
                            "ON CONFLICT (key) DO NOTHING"), [str(NOTHING)])
        if self._rowcount(c) == 1:  # new tables: of this version (an older view keeps its own)
            c.execute(self._sql("INSERT INTO view_meta (key, value) VALUES ('view_version', ?)"),
                      [str(VIEW_VERSION)])


class _Stale(Exception):
    """The view moved while a batch was folded: read it again."""


Stale = _Stale
