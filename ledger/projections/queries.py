"""Questions answered from the view: where lots are (now, as of a time, at a position), the
presence record of steps, who was present at which step, the roster and duty gaps the saved
fold holds, and where the view stands. Plain reads; nothing here writes.

Rows are read by name: :func:`select` returns each row of a view table as a named tuple of
its columns (``ROWS``, made from the table's definition in ``view.py``), so a query and the
code reading it cannot disagree on which column is where."""

from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ledger.core.findings import Finding
from ledger.core.packing import OwnStep
from ledger.core.text import message_from_data
from ledger.projections.view import NAMED, TABLES, ViewStore, _columns

BATCH = 500  # values per "IN (...)" list

# One named tuple per view table (or SQL view), its fields the table's columns in order.
class _Rows(dict[str, Any]):
    """Each table's named tuple, made when a query first reads the table."""

    def __missing__(self, table: str) -> Any:
        if table not in TABLES and table not in NAMED:
            raise KeyError(table)
        row = self[table] = namedtuple("".join(w.title() for w in table.split("_")),
                                       _columns(table))
        return row


ROWS = _Rows()
StepRow = ROWS["view_steps"]  # one event of the log as the view holds it


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    """``values`` in slices short enough for one "IN (...)" list."""
    for i in range(0, len(values), BATCH):
        yield values[i:i + BATCH]


def select(view: ViewStore, table: str, where: str, params: Sequence[Any] = (),
           order: str | None = None) -> list[Any]:
    """The rows of ``table`` that match ``where`` (with ``?`` for ``params``), in ``order``,
    each a ``ROWS[table]`` named tuple."""
    row = ROWS[table]
    statement = f"SELECT {', '.join(row._fields)} FROM {table} WHERE {where}"
    found = view.query(statement + (f" ORDER BY {order}" if order else ""), list(params))
    return [row._make(values) for values in found]


def select_at(view: ViewStore, table: str, positions: Sequence[int],
              order: str | None = None) -> list[Any]:
    """The rows of ``table`` at log ``positions``, a slice of them per query (``order``
    holds within each slice: order by position first for one order overall)."""
    rows: list[Any] = []
    for part in chunks(list(positions)):
        rows += select(view, table, f"position IN ({','.join('?' * len(part))})", part, order)
    return rows


@dataclass(frozen=True)
class FindingAt:
    """One finding a step carried when the view folded it."""

    position: int | None
    code: str
    severity: str
    stream: str
    message: str
    evidence: dict[str, Any]

    def to_data(self) -> dict[str, Any]:
        return {"position": self.position, "code": self.code, "severity": self.severity,
                "stream": self.stream, "message": self.message, "evidence": self.evidence}


def findings_at(view: ViewStore, positions: Sequence[int]) -> dict[int, list[FindingAt]]:
    """The findings each step at ``positions`` carried, in the order the fold returned them."""
    out: dict[int, list[FindingAt]] = {}
    for row in select_at(view, "view_findings", positions, "position, ordinal"):
        out.setdefault(row.position, []).append(
            FindingAt(row.position, row.code, row.severity, row.stream, _message(row.message),
                      json.loads(row.evidence)))
    return out


def _message(stored: str) -> str:
    """A finding's message as the view keeps it (``message_data`` as JSON), a ``Message``
    again so it reads in any language; a row edited into something else reads as it is
    (``verify --projections`` reports the edit)."""
    try:
        return message_from_data(json.loads(stored))
    except ValueError:  # json.JSONDecodeError is one too
        return stored


def lot_steps_of(view: ViewStore, lot_id: str) -> list[StepRow]:
    """The view's rows of one lot's own stream, in stream order (damaged rows included)."""
    return select(view, "view_steps", "stream = ?", [f"lot:{lot_id}"], "seq, position")


def packing_steps(rows: Iterable[StepRow]) -> list[OwnStep]:
    """A lot's own rows as ``ledger.core.packing`` reads them: (position, type, the container
    a ``lot.packed`` names)."""
    return [(row.position, row.type, row.packed_in if row.type == "lot.packed" else None)
            for row in rows]


@dataclass(frozen=True)
class LotRow:
    """A lot as the view holds it at some cut of the log (status prints these)."""

    lot_id: str
    kind: str
    exam: str
    subject: str
    count: int
    seals: tuple[str, ...]
    holder: str | None
    packed_in: str | None
    location: str
    last_type: str
    last_occurred_at: str
    unsealed: bool
    closed: bool
    position: int  # the log position of its last step in this cut
    findings: int  # findings its steps carried when recorded

    def held_by(self, containers: dict[str, "LotRow"]) -> str | None:
        """Who holds it: its container's holder while it is packed (``effective_holder``)."""
        if self.packed_in is not None and self.packed_in in containers:
            return containers[self.packed_in].holder
        return self.holder


_NOW = ("SELECT lot, kind, exam, subject, count, seals, holder, packed_in, location, last_type, "
        "occurred_at, unsealed, closed, position, findings FROM view_lots")


def _lot(row: Sequence[Any]) -> LotRow:
    (lot, kind, exam, subject, count, seals, holder, packed_in, location, last_type,
     occurred_at, unsealed, closed, position, findings) = row
    return LotRow(lot, kind, exam, subject, count, _seals(seals), holder, packed_in,
                  location, last_type, occurred_at, bool(unsealed), bool(closed), position,
                  int(findings or 0))


def _seals(stored: str) -> tuple[str, ...]:
    """A lot's seals as the view stores them, ``json.dumps`` of a list of ids: ids hold no
    quote, backslash or control character, so that form splits without a JSON parser (a
    listing of a province's lots spent a quarter of its time in ``json.loads``); any other
    text is read as JSON."""
    if stored.startswith('["') and stored.endswith('"]') and "\\" not in stored \
            and stored.isprintable():
        seals = stored[2:-2].split('", "')
        if not any('"' in seal for seal in seals):
            return tuple(seals)
    return tuple(json.loads(stored))


def lots_now(view: ViewStore, *, lot: str | None = None, exam: str | None = None,
             subject: str | None = None, location: str | None = None,
             holder: str | None = None) -> list[tuple[LotRow, str | None]]:
    """Lots as they stand at the view's position, each with who holds it, filtered."""
    where, params = [], []
    for column, value in (("lot", lot), ("exam", exam), ("subject", subject),
                          ("location", location)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if holder is not None:  # held by it, or packed in a container it holds
        held = [row[0] for row in view.query(
            "SELECT lot FROM view_lots WHERE holder = ? AND kind = 'container'", [holder])]
        marks = ",".join("?" * len(held))
        where.append(f"(holder = ? OR packed_in IN ({marks}))" if held else "holder = ?")
        params += [holder, *held]
    statement = _NOW + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY lot"
    found = [_lot(row) for row in view.query(statement, params)]
    containers = _containers(view, {row.packed_in for row in found if row.packed_in})
    rows = [(row, row.held_by(containers)) for row in found]
    return [(row, held) for row, held in rows if holder is None or held == holder]


def _containers(view: ViewStore, ids: Iterable[str]) -> dict[str, LotRow]:
    """The containers among ``ids``, by id: only those the lots asked about are packed in
    (a province holds thousands; one lot's status needs at most one)."""
    found: dict[str, LotRow] = {}
    for part in chunks(sorted(ids)):
        statement = _NOW + f" WHERE kind = 'container' AND lot IN ({','.join('?' * len(part))})"
        found.update((row.lot_id, row) for row in map(_lot, view.query(statement, part)))
    return found


# Each registered lot's last step in the cut: found by the (lot, position) index from the
# lot's newest step back, so a cut late in the season reads one index entry a lot.
_CUT = ("SELECT s.lot, l.kind, l.exam, l.subject, s.count, s.seals, s.holder, s.packed_in, "
        "s.location, s.type, s.occurred_at, s.unsealed, s.closed, s.position, 0 "
        "FROM view_lots l JOIN view_steps s ON s.position = ("
        "SELECT position FROM view_steps WHERE lot = l.lot AND {cut} "
        "ORDER BY position DESC LIMIT 1)")
# The steps in the cut that carried findings: one pass over the steps in log order, summed by
# lot here (grouping in SQL has SQLite walk the lot index and fetch every step's row at random).
_FOUND = "SELECT lot, nfindings FROM view_steps WHERE nfindings > 0 AND {cut}"


def lots_at(view: ViewStore, *, position: int | None = None, as_of: str | None = None
            ) -> list[LotRow]:
    """Every lot as it stood after the last of its steps at or before log ``position``, or
    that occurred at or before ``as_of`` (canonical time); lots with no such step are out.
    In lot order."""
    cut, param = ("position <= ?", position) if position is not None else ("occurred_at <= ?",
                                                                          as_of)
    found: dict[str, int] = {}
    for lot, count in view.query(_FOUND.format(cut=cut), [param]):
        found[lot] = found.get(lot, 0) + count
    return sorted((_lot((*row[:-1], found.get(row[0], 0)))
                   for row in view.query(_CUT.format(cut=cut), [param])),
                  key=lambda row: row.lot_id)  # by code point, whatever the database's collation


def filter_lots(rows: list[LotRow], *, lot: str | None = None, exam: str | None = None,
                subject: str | None = None, location: str | None = None,
                holder: str | None = None) -> list[tuple[LotRow, str | None]]:
    containers = {row.lot_id: row for row in rows if row.kind == "container"}
    out = []
    for row in rows:
        held = row.held_by(containers)
        wanted = [(lot, row.lot_id), (exam, row.exam), (subject, row.subject),
                  (location, row.location), (holder, held)]
        if all(want is None or want == have for want, have in wanted):
            out.append((row, held))
    return out


@dataclass(frozen=True)
class PresenceRow:
    """One step's presence record: who was there with the roster's role, and the verdict."""

    position: int
    stream: str
    seq: int
    type: str
    occurred_at: str
    location: str
    policy: str
    verdict: str  # "met" or "short"
    missing: str
    findings: tuple[str, ...]
    attendees: tuple[tuple[str, str, bool], ...]  # (person, roster role, counted)

    def to_data(self) -> dict[str, Any]:
        return {"position": self.position, "stream": self.stream, "seq": self.seq,
                "type": self.type, "occurred_at": self.occurred_at, "location": self.location,
                "policy": self.policy, "verdict": self.verdict, "missing": self.missing,
                "findings": list(self.findings),
                "attendees": [{"person": p, "role": r, "counted": c}
                              for p, r, c in self.attendees]}


def presence(view: ViewStore, *, lot: str | None = None, exam: str | None = None,
             person: str | None = None, room: str | None = None,
             violations: bool = False) -> list[PresenceRow]:
    """Every step judged for presence (optionally of one lot, exam, person or room), in log
    order; ``violations``: only those short of the policy or carrying a finding."""
    where, params = ["verdict <> ''"], []
    if lot is not None:
        where.append("stream = ?")
        params.append(f"lot:{lot}")
    if exam is not None:
        where.append("lot IN (SELECT lot FROM view_lots WHERE exam = ?)")
        params.append(exam)
    if person is not None:
        where.append("(position IN (SELECT position FROM view_attendee_names WHERE person = ?) "
                     "OR position IN (SELECT position FROM view_people WHERE person = ?))")
        params += [person, person]
    if room is not None:
        where.append("(stream = ? OR from_party = ? OR to_party = ?)")
        params += [f"room:{room}"] * 3
    if violations:
        where.append("(verdict = 'short' OR nfindings > 0)")
    return _presence_rows(view, select(view, "view_steps", " AND ".join(where), params,
                                       "position"))


def steps_of(view: ViewStore, steps: Sequence[tuple[str, int]]
             ) -> dict[tuple[str, int], PresenceRow]:
    """The presence record of each (stream, step number) the view holds (for history)."""
    positions = []
    for stream, seq in steps:
        positions += [p for (p,) in view.query(
            "SELECT position FROM view_steps WHERE stream = ? AND seq = ?", [stream, seq])]
    return {(r.stream, r.seq): r for r in step_records(view, positions).values()}


def step_records(view: ViewStore, positions: Sequence[int]) -> dict[int, PresenceRow]:
    """The presence record of each step at ``positions``."""
    return {row.position: row
            for row in _presence_rows(view, select_at(view, "view_steps", positions))}


def _presence_rows(view: ViewStore, steps: Sequence[Any]) -> list[PresenceRow]:
    present = attendees(view, [step.position for step in steps])
    return [PresenceRow(step.position, step.stream, step.seq, step.type, step.occurred_at,
                        step.location, step.policy, step.verdict, step.missing,
                        tuple(json.loads(step.findings)),
                        tuple(present.get(step.position, ())))
            for step in steps]


def attendees(view: ViewStore, positions: Sequence[int]
              ) -> dict[int, list[tuple[str, str, bool]]]:
    """Who was listed at each step at ``positions``: (person, roster role, counted), by
    person."""
    out: dict[int, list[tuple[str, str, bool]]] = {}
    for row in select_at(view, "view_attendee_names", positions, "position, person"):
        out.setdefault(row.position, []).append((row.person, row.role, bool(row.counted)))
    return out


def enrolled(view: ViewStore, person: str | None = None) -> list[str]:
    """The ids of everyone the view's saved fold holds a roster entry for (one row a person:
    nothing decoded), or only ``person``'s if given and enrolled."""
    if person is not None:
        found = view.query("SELECT key FROM view_fold WHERE key = ? AND value IS NOT NULL",
                           [f"roster|{person}"])
    else:
        found = view.query("SELECT key FROM view_fold WHERE key LIKE ? AND value IS NOT NULL "
                           "ORDER BY key", ["roster|%"])
    return [key.split("|", 1)[1] for (key,) in found]


def duty_gaps(view: ViewStore, end: str, room: str | None = None) -> list[Finding]:
    """Every interval a secure room held papers with too few on duty (each reported as
    ``DUTY_UNCOVERED`` by ``custody verify`` at the step that opened it), open ones judged up
    to ``end`` (canonical time); only ``room``'s if given.

    Not a second rule: the fold the view saved (its duty coverage and closed gaps) is read
    back and listed by its own ``LedgerState.duty_gaps``. Computed on reading, because an
    open gap grows with the time the question is asked."""
    # the saved fold: status and the others do without
    from ledger.projections import codec
    from ledger.projections.projection import FoldMap

    state = codec.saved_state(view, coverage=FoldMap(view, "coverage"))
    if state is None:
        return []
    return [gap for gap in state.duty_gaps(end) if room is None or gap.evidence["room"] == room]


@dataclass(frozen=True)
class OnRecord:
    """The findings the view holds on record: what ``custody verify`` reports for a ledger
    the recorder wrote (the view takes signatures as checked; verify checks them again)."""

    errors: int
    warnings: int

    @property
    def intact(self) -> bool:
        return self.errors == 0


def on_record(view: ViewStore, position: int | None = None) -> OnRecord:
    """Errors and warnings the folded steps carried, all of them or up to ``position``."""
    if position is None:
        meta = view.meta()
        return OnRecord(meta.get("errors", 0), meta.get("warnings", 0))
    counts = dict(view.query("SELECT severity, count(*) FROM view_findings WHERE position <= ? "
                             "GROUP BY severity", [position]))
    return OnRecord(int(counts.get("error", 0)), int(counts.get("warning", 0)))
