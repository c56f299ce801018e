"""Questions answered from the view: where lots are (now, as of a time, at a position), the
presence record of steps, and where the view stands. Plain reads; nothing here writes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from ledger.core.findings import Finding
from ledger.projections.view import ViewStore


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
    return LotRow(lot, kind, exam, subject, count, tuple(json.loads(seals)), holder, packed_in,
                  location, last_type, occurred_at, bool(unsealed), bool(closed), position,
                  int(findings or 0))


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
    containers = {row.lot_id: row for row in map(_lot, view.query(
        _NOW + " WHERE kind = 'container'"))}
    if holder is not None:
        held = [c for c, row in containers.items() if row.holder == holder]
        marks = ",".join("?" * len(held))
        where.append(f"(holder = ? OR packed_in IN ({marks}))" if held else "holder = ?")
        params += [holder, *held]
    statement = _NOW + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY lot"
    rows = [(row, row.held_by(containers)) for row in map(_lot, view.query(statement, params))]
    return [(row, held) for row, held in rows if holder is None or held == holder]


_CUT = ("SELECT s.lot, l.kind, l.exam, l.subject, s.count, s.seals, s.holder, s.packed_in, "
        "s.location, s.type, s.occurred_at, s.unsealed, s.closed, s.position, 0 "
        "FROM view_steps s JOIN view_lots l ON l.lot = s.lot WHERE s.position IN "
        "(SELECT MAX(position) FROM view_steps WHERE lot IS NOT NULL AND {cut} GROUP BY lot)")


def lots_at(view: ViewStore, *, position: int | None = None, as_of: str | None = None
            ) -> list[LotRow]:
    """Every lot as it stood after the last of its steps at or before log ``position``, or
    that occurred at or before ``as_of`` (canonical time); lots with no such step are out."""
    cut, param = ("position <= ?", position) if position is not None else ("occurred_at <= ?",
                                                                          as_of)
    found = {row[0]: int(row[1] or 0) for row in view.query(
        f"SELECT lot, SUM(nfindings) FROM view_steps WHERE lot IS NOT NULL AND {cut} "
        "GROUP BY lot", [param])}
    rows = [_lot(r) for r in view.query(_CUT.format(cut=cut), [param])]
    return sorted((LotRow(**{**row.__dict__, "findings": found.get(row.lot_id, 0)})
                   for row in rows), key=lambda row: row.lot_id)


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
        where.append("(position IN (SELECT position FROM view_attendees WHERE person = ?) OR "
                     "position IN (SELECT position FROM view_people WHERE person = ?))")
        params += [person, person]
    if room is not None:
        where.append("(stream = ? OR from_party = ? OR to_party = ?)")
        params += [f"room:{room}"] * 3
    if violations:
        where.append("(verdict = 'short' OR nfindings > 0)")
    steps = view.query("SELECT position, stream, seq, type, occurred_at, location, policy, "
                       "verdict, missing, findings FROM view_steps WHERE "
                       + " AND ".join(where) + " ORDER BY position", params)
    attendees: dict[int, list[tuple[str, str, bool]]] = {}
    positions = [row[0] for row in steps]
    for i in range(0, len(positions), 500):
        part = positions[i:i + 500]
        for position, who, role, counted in view.query(
                "SELECT position, person, role, counted FROM view_attendees WHERE position IN "
                f"({','.join('?' * len(part))}) ORDER BY position, person", part):
            attendees.setdefault(position, []).append((who, role, bool(counted)))
    return [PresenceRow(p, s, q, t, o, loc, pol, v, m, tuple(json.loads(f)),
                        tuple(attendees.get(p, ())))
            for p, s, q, t, o, loc, pol, v, m, f in steps]


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
    out: dict[int, PresenceRow] = {}
    for i in range(0, len(positions), 500):
        part = list(positions[i:i + 500])
        marks = ",".join("?" * len(part))
        steps = view.query("SELECT position, stream, seq, type, occurred_at, location, policy, "
                           f"verdict, missing, findings FROM view_steps WHERE position IN "
                           f"({marks})", part)
        people: dict[int, list[tuple[str, str, bool]]] = {}
        for position, who, role, counted in view.query(
                "SELECT position, person, role, counted FROM view_attendees WHERE position IN "
                f"({marks}) ORDER BY position, person", part):
            people.setdefault(position, []).append((who, role, bool(counted)))
        for p, s, q, t, o, loc, pol, v, m, f in steps:
            out[p] = PresenceRow(p, s, q, t, o, loc, pol, v, m, tuple(json.loads(f)),
                                 tuple(people.get(p, ())))
    return out


def duty_gaps(view: ViewStore, end: str, room: str | None = None) -> list[Finding]:
    """Every interval a secure room held papers with too few on duty (each reported as
    ``DUTY_UNCOVERED`` by ``custody verify`` at the step that opened it), open ones judged up
    to ``end`` (canonical time); only ``room``'s if given.

    Not a second rule: the fold's saved duty coverage and closed gaps are put into a
    ``LedgerState`` and listed by its own ``duty_gaps``. Computed on reading, because an open
    gap grows with the time the question is asked."""
    # The fold is imported here only: status and the other plain reads do without it.
    from ledger.core.state import LedgerState
    from ledger.projections import codec

    state = LedgerState()
    core = view.fold_get(["core"]).get("core")
    if core is None:
        return []
    saved = codec.loads(core)
    state.policy, state.policies = saved.get("policy"), saved.get("policies", [])
    state.coverage = {r: c for r, c in saved.get("coverage", {}).items()
                      if room is None or r == room}
    state.gaps = [g for g in saved.get("gaps", []) if room is None or g.room == room]
    return state.duty_gaps(end)


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
