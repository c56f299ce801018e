"""After an incident: a replay of the steps, and timelines per person and per room, from the view.

Plain reads of the view's tables (``view_steps``, ``view_attendee_names``, ``view_people``,
``view_findings``, ``view_duty``, ``view_occupancy``, ``view_rooms``), returned as frozen
dataclasses with ``to_data()`` (the shapes in ``schemas/replay.schema.json`` and
``schemas/timeline.schema.json``), for ``custody replay``, ``custody timeline`` and the report.
Nothing here judges anything: every verdict and finding is the one the fold (``LedgerState``)
returned when the view folded the step; duty gaps are ``queries.duty_gaps``, the verifier's
own rule. Rows are read by name, through ``queries.select`` (the SQL shared with the other
questions lives there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ledger.core.custody import STEPS
from ledger.core.errors import InputError
from ledger.core.kinds import DUTY_SHIFTS
from ledger.core.packing import lot_steps
from ledger.core.policy import ROLE_WORDS
from ledger.core.text import Message
from ledger.projections import queries
from ledger.projections.names import ViewNames
from ledger.projections.queries import (FindingAt, StepRow, attendees, findings_at, select,
                                       select_at)
from ledger.projections.view import ViewStore


@dataclass(frozen=True)
class Check:
    """A seal or count check at a step: what the record held, what was found, the verdict
    (``ok``, ``mismatch``, or ``acknowledged`` for a mismatch acknowledged on record)."""

    verdict: str
    expected: Any
    found: Any

    def to_data(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "expected": self.expected, "found": self.found}


@dataclass(frozen=True)
class ReplayStep:
    """One step as the inspector replays it."""

    position: int
    stream: str
    seq: int
    type: str
    occurred_at: str
    recorded_at: str
    location: str
    lot: str | None  # the lot (or container) whose step it is
    via: str | None  # the container the replayed lot was packed in, for a container's step
    released: str | None
    received: str | None
    holder_before: str | None
    holder_after: str | None
    packed_in: str | None
    attendees: tuple[tuple[str, str, bool], ...]  # (person, roster role, counted)
    policy: str
    verdict: str  # "met", "short", or "" for an event presence does not judge
    missing: str
    seals: Check | None
    count: Check | None
    findings: tuple[FindingAt, ...]

    def to_data(self) -> dict[str, Any]:
        return {
            "position": self.position, "stream": self.stream, "seq": self.seq,
            "type": self.type, "occurred_at": self.occurred_at,
            "recorded_at": self.recorded_at, "location": self.location, "lot": self.lot,
            "via": self.via, "released": self.released, "received": self.received,
            "holder_before": self.holder_before, "holder_after": self.holder_after,
            "packed_in": self.packed_in,
            "attendees": [{"person": p, "role": r, "counted": c} for p, r, c in self.attendees],
            "presence": {"policy": self.policy, "verdict": self.verdict,
                         "missing": self.missing},
            "seals": self.seals.to_data() if self.seals else None,
            "count": self.count.to_data() if self.count else None,
            "findings": [f.to_data() for f in self.findings],
        }


@dataclass(frozen=True)
class Replay:
    """The steps chosen, in log order, and the log position the view reflects."""

    log_position: int | None
    scope: dict[str, Any]
    steps: tuple[ReplayStep, ...]

    def to_data(self) -> dict[str, Any]:
        return {"log_position": self.log_position, "scope": self.scope,
                **on_record(f for s in self.steps for f in s.findings),
                "steps": [s.to_data() for s in self.steps]}


@dataclass(frozen=True)
class Entry:
    """One moment of a person's or a room's timeline.

    ``kind``: ``step`` (a step they signed or a lot they released, received or held),
    ``duty`` (a duty shift, from its start to its end; ``end`` None while open),
    ``stored``/``retrieved`` (a lot into or out of the room), ``patrol``, ``duty_gap``
    (the room held papers with too few on duty: ``DUTY_UNCOVERED``)."""

    kind: str
    at: str
    position: int | None
    stream: str = ""
    type: str = ""
    location: str = ""
    parts: tuple[str, ...] = ()  # present, released, received, holder, on duty
    end: str | None = None
    end_position: int | None = None
    people: tuple[tuple[str, str], ...] = ()  # (person, role): on duty, or present
    lot: str | None = None
    findings: tuple[FindingAt, ...] = ()
    detail: str = ""

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at, "position": self.position,
                "stream": self.stream, "type": self.type, "location": self.location,
                "parts": list(self.parts), "end": self.end, "end_position": self.end_position,
                "people": [{"person": p, "role": r} for p, r in self.people], "lot": self.lot,
                "detail": self.detail, "findings": [f.to_data() for f in self.findings]}


@dataclass(frozen=True)
class Timeline:
    """A person's or a room's timeline, in time order."""

    subject: str  # "person" or "room"
    id: str
    log_position: int | None
    entries: tuple[Entry, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        return {"subject": self.subject, "id": self.id, "log_position": self.log_position,
                **on_record(f for e in self.entries for f in e.findings),
                **self.extra, "entries": [e.to_data() for e in self.entries]}


def on_record(findings: Iterable[FindingAt]) -> dict[str, int]:
    """How many errors and warnings the steps shown carried (a duty gap's interval is the
    finding of the step that opened it, counted there once)."""
    severities = [f.severity for f in findings if f.position is not None]
    return {"errors": severities.count("error"), "warnings": severities.count("warning")}


# -- reading helpers --------------------------------------------------------------------------


def known_lot(view: ViewStore, lot_id: str) -> bool:
    """Whether the view holds the lot (its registration folded, unlike ``ViewNames``'s
    lots, which include any stream with a step)."""
    return bool(view.query("SELECT 1 FROM view_lots WHERE lot = ?", [lot_id]))


def _window(where: list[str], params: list[Any], since: str | None, until: str | None,
            column: str = "occurred_at") -> None:
    if since is not None:
        where.append(f"{column} >= ?")
        params.append(since)
    if until is not None:
        where.append(f"{column} <= ?")
        params.append(until)


# -- replay -----------------------------------------------------------------------------------


def _check(kind: str, findings: Sequence[FindingAt]) -> Check | None:
    for f in findings:
        if f.code == kind:
            return Check("mismatch", f.evidence.get("expected"), f.evidence.get("found"))
        if f.code == "ACKNOWLEDGED_VIOLATION" and f.evidence.get("code") == kind:
            return Check("acknowledged", f.evidence.get("expected"), f.evidence.get("found"))
    return None


def replay(view: ViewStore, *, lot: str | None = None, exam: str | None = None,
           room: str | None = None, since: str | None = None, until: str | None = None
           ) -> Replay:
    """The steps of one lot (with its container's while it was packed in one), of an exam's
    lots, of a secure room (its duty shifts and patrols, lots into and out of it), or of the
    whole log, that occurred from ``since`` to ``until`` (canonical times), in log order,
    each with who held the lot before and after, who was present with their roster roles,
    the presence verdict, the seal and count checks and every finding."""
    chosen = [name for name, value in (("lot", lot), ("exam", exam), ("room", room)) if value]
    if len(chosen) > 1:
        raise InputError(f"give one of --lot, --exam, --room (got {', '.join(chosen)})")
    if lot is not None and not known_lot(view, lot):
        raise InputError(f"unknown lot {lot}: 'custody status' lists the lots")
    if exam is not None and not ViewNames(view).known("exam", exam):
        raise InputError(f"unknown exam {exam}: no lot of it is recorded")
    if room is not None and not ViewNames(view).known("room", room):
        raise InputError(f"unknown secure room {room}: no room of that id is registered "
                         "('custody presence --room' and 'room register' take the same id)")
    where, params = [], []
    if lot is not None:
        where.append("stream = ?")
        params.append(f"lot:{lot}")
    elif exam is not None:
        where.append("lot IN (SELECT lot FROM view_lots WHERE exam = ?)")
        params.append(exam)
    elif room is not None:
        where.append("(stream = ? OR from_party = ? OR to_party = ?)")
        params += [f"room:{room}"] * 3
    else:
        where.append("(verdict <> '' OR nfindings > 0 OR type = '')")
    _window(where, params, since, until)
    rows = select(view, "view_steps", " AND ".join(where), params, "position")
    via: dict[int, str] = {}
    if lot is not None:
        rows, via = _with_containers(view, lot, rows, since, until)
    before = _previous(view, rows)
    positions = [row.position for row in rows]
    found = findings_at(view, positions)
    people = attendees(view, positions)
    steps = []
    for row in rows:
        step_findings = tuple(found.get(row.position, ()))
        prior = before.get(row.position)
        seal_check = count_check = None
        if row.lot is not None and row.type in STEPS and prior is not None:
            spec = STEPS[row.type]
            if spec.checks_seals and not prior.unsealed:
                seal_check = _check("SEAL_MISMATCH", step_findings) or Check(
                    "ok", _seals(prior), _seals(row))
            count_check = _check("COUNT_MISMATCH", step_findings) or (
                Check("ok", prior.count, row.count) if row.count == prior.count else None)
        steps.append(ReplayStep(
            row.position, row.stream, row.seq, row.type, row.occurred_at, row.recorded_at,
            row.location, row.lot, via.get(row.position), row.from_party, row.to_party,
            prior.holder if prior else None, row.holder, row.packed_in,
            tuple(people.get(row.position, ())), row.policy, row.verdict, row.missing,
            seal_check, count_check, step_findings))
    scope = {"lot": lot, "exam": exam, "room": room, "from": since, "to": until}
    return Replay(view.position(), scope, tuple(steps))


def _seals(row: StepRow) -> list[str]:
    """The seals on a lot after the step of ``row``."""
    return json.loads(row.seals) if row.seals else []


def _with_containers(view: ViewStore, lot_id: str, rows: list[StepRow],
                     since: str | None, until: str | None
                     ) -> tuple[list[StepRow], dict[int, str]]:
    """The lot's own steps and, while it was packed, its containers' (containers in
    containers nest), chosen by ``ledger.core.packing``'s rule: by log position."""
    via = {position: container for position, container in lot_steps(
        lot_id, lambda lot: queries.packing_steps(queries.lot_steps_of(view, lot)))
           if container is not None}
    extra: list[StepRow] = []
    for part in queries.chunks(sorted(via)):
        where, params = [f"position IN ({','.join('?' * len(part))})"], list(part)
        _window(where, params, since, until)
        extra += select(view, "view_steps", " AND ".join(where), params)
    return sorted(rows + extra, key=lambda r: r.position), via


def _previous(view: ViewStore, rows: Sequence[StepRow]) -> dict[int, StepRow]:
    """For each lot step: its lot's step before it (the lot as it stood then)."""
    streams = sorted({row.stream for row in rows if row.lot is not None})
    out: dict[int, StepRow] = {}
    for part in queries.chunks(streams):
        last: dict[str, StepRow] = {}
        for row in select(view, "view_steps", f"stream IN ({','.join('?' * len(part))}) AND "
                          "lot IS NOT NULL", part, "stream, seq, position"):
            if row.stream in last:
                out[row.position] = last[row.stream]
            last[row.stream] = row
    return out


# -- timelines --------------------------------------------------------------------------------


def person_timeline(view: ViewStore, person: str, *, since: str | None = None,
                    until: str | None = None) -> Timeline:
    """Everything ``person`` signed, released, received or held, and every duty shift they
    were on, in time order, with places and the findings at each step (``PRESENCE_CONFLICT``
    among them, at the step that made the conflict)."""
    if not ViewNames(view).known("person", person):
        raise InputError(f"unknown person {person}: nobody of that id is enrolled "
                         "('custody presence --person' takes the same id)")
    parts: dict[int, set[str]] = {}
    for attended in select(view, "view_attendee_names", "person = ?", [person]):
        parts.setdefault(attended.position, set()).add("present")
    for took in select(view, "view_people", "person = ?", [person]):
        if took.part in ("from", "to", "holder"):
            parts.setdefault(took.position, set()).add(
                {"from": "released", "to": "received", "holder": "holder"}[took.part])
    positions = sorted(parts)
    steps = {row.position: row for row in select_at(view, "view_steps", positions)}
    found = findings_at(view, positions)
    people = attendees(view, positions)
    entries = []
    for position in positions:
        if position not in steps:
            continue
        step = steps[position]
        if not _within(step.occurred_at, since, until):
            continue
        if step.type in DUTY_SHIFTS:
            continue  # shown as the shift they open or close
        entries.append(Entry("step", step.occurred_at, position, step.stream, step.type,
                             step.location, tuple(sorted(parts[position])),
                             people=tuple((p, r) for p, r, _ in people.get(position, ())),
                             lot=step.lot, findings=tuple(found.get(position, ()))))
    for shift in _shifts(view, person):
        if _overlaps(shift.at, shift.end, since, until):
            entries.append(shift)
    entries.sort(key=lambda e: (e.at, e.position or 0))
    return Timeline("person", person, view.position(), tuple(entries))


def _shifts(view: ViewStore, person: str) -> list[Entry]:
    """The person's duty shifts: from the duty event that put them on duty in a room to the
    one that took them off (or still open), each with the findings of those two events."""
    rows = select(view, "view_duty", "type <> 'room.patrolled' AND on_duty LIKE ?",
                  [f'%"{person}"%'], "room, position")
    rooms = {row.room for row in rows if person in json.loads(row.on_duty)}
    shifts: list[Entry] = []
    for room in sorted(rooms):
        start: tuple[int, str] | None = None
        for row in select(view, "view_duty", "room = ? AND type <> 'room.patrolled'", [room],
                          "position"):
            on = person in json.loads(row.on_duty)
            if on and start is None:
                start = (row.position, row.occurred_at)
            elif not on and start is not None:
                shifts.append(_shift(view, room, start, (row.position, row.occurred_at)))
                start = None
        if start is not None:
            shifts.append(_shift(view, room, start, None))
    return shifts


def _shift(view: ViewStore, room: str, start: tuple[int, str],
           end: tuple[int, str] | None) -> Entry:
    positions = [start[0]] + ([end[0]] if end else [])
    found = findings_at(view, positions)
    opened = select(view, "view_steps", "position = ?", [start[0]])
    return Entry("duty", start[1], start[0], f"room:{room}", "duty",
                 opened[0].location if opened else room, ("on duty",),
                 end=end[1] if end else None, end_position=end[0] if end else None,
                 findings=tuple(f for p in positions for f in found.get(p, ())),
                 detail=Message("on duty in secure room {room}", room=room))


def listed(items: Sequence[str]) -> str:
    """``items`` as "a, b, c", translatable when they are Messages."""
    if len(items) <= 1:
        return items[0] if items else ""
    return Message("{first}, {rest}", first=items[0], rest=listed(items[1:]))


def _within(moment: str, since: str | None, until: str | None) -> bool:
    return (since is None or moment >= since) and (until is None or moment <= until)


def _overlaps(start: str, end: str | None, since: str | None, until: str | None) -> bool:
    return (until is None or start <= until) and (since is None or end is None or end >= since)


def room_timeline(view: ViewStore, room: str, end: str, *, since: str | None = None,
                  until: str | None = None) -> Timeline:
    """A secure room's lots stored and retrieved, duty shifts (who was on duty after each),
    patrols and coverage gaps (``DUTY_UNCOVERED``, judged up to ``end`` for a room still
    holding papers), in time order."""
    if not ViewNames(view).known("room", room):
        raise InputError(f"unknown secure room {room}: no room of that id is registered "
                         "('custody presence --room' and 'room register' take the same id)")
    party = f"room:{room}"
    rows = select(view, "view_steps", "stream = ? OR from_party = ? OR to_party = ?",
                  [party, party, party], "position")
    positions = [row.position for row in rows]
    found = findings_at(view, positions)
    people = attendees(view, positions)
    duty = {row.position: json.loads(row.on_duty)
            for row in select(view, "view_duty", "room = ?", [room])}
    entries = []
    for row in rows:
        if not _within(row.occurred_at, since, until):
            continue
        present = tuple((p, r) for p, r, _ in people.get(row.position, ()))
        if row.type in DUTY_SHIFTS:
            kind = "duty"
            after = duty.get(row.position, {})
            who = [Message("{person} ({role})", person=p, role=ROLE_WORDS.get(r, r))
                   for p, r in sorted(after.items())]
            detail = Message("on duty after it: {who}",
                             who=listed(who) if who else Message("nobody"))
        elif row.type == "room.patrolled":
            kind, detail = "patrol", Message("remote video patrol")
        elif row.to_party == party:
            kind, detail = "stored", Message("lot {lot} into the room", lot=row.lot)
        elif row.from_party == party:
            kind, detail = "retrieved", Message("lot {lot} out of the room", lot=row.lot)
        else:
            kind, detail = "step", ""
        entries.append(Entry(kind, row.occurred_at, row.position, row.stream, row.type,
                             row.location, people=present, lot=row.lot,
                             findings=tuple(found.get(row.position, ())), detail=detail))
    gaps = queries.duty_gaps(view, end, room)
    for gap in gaps:
        ev = gap.evidence
        if _overlaps(ev["start"], ev["end"], since, until):
            entries.append(Entry("duty_gap", ev["start"], None, party, "DUTY_UNCOVERED",
                                 end=ev["end"],
                                 people=tuple(sorted(ev["on_duty"].items())),
                                 findings=(FindingAt(None, gap.code, gap.severity.value, party,
                                                     gap.message, dict(ev)),),
                                 detail=gap.message))
    # A gap opens with the step at its start: it is listed after it.
    entries.sort(key=lambda e: (e.at, e.position if e.position is not None else 2**63))
    return Timeline("room", room, view.position(), tuple(entries),
                    {"duty_gaps": [g.evidence for g in gaps]})
