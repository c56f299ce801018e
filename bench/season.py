"""Generate a ledger that lives a whole exam season, with the findings it injects written beside it.

    python bench/season.py --candidates 1000 --db /tmp/county.db            # a county, ~3.5k events
    python bench/season.py --candidates 100000 --db /tmp/city.db            # a city, ~350k events
    python bench/season.py --candidates 1000000 --db /tmp/province.db       # a province, ~3.5M

Deterministic by ``--seed``. Candidates are split into counties of ``--county-size`` (1,000),
each with its exam rooms (30 candidates each) grouped in exam sites of up to 12 rooms, one
licensed secure room, a vehicle and its own people: a dispatch team, three duty crews, a team
per exam site and a return team (two police and four staff each, a crew two and two).
Inspectors patrol every room remotely from the provincial inspection centre. The season:

- day 0: the genesis, every enrolment (authority-signed), every site (the printing house, the
  scanning and inspection centres, each exam site) and secure room registered;
- day 1: each subject's question papers and answer sheets (one lot each per exam room) and a
  container per county and subject registered at the printing house and packed; the
  containers leave under escort, arrive at the county's secure room and are stored; the first
  duty crew starts before they arrive;
- from then on, duty shifts of 8 hours, relieved with 5 minutes' overlap, around the clock
  while the room holds papers; a remote patrol every 6 hours; a zero report every evening;
- exam days 3 to 7, two subjects a day: the container retrieved and unpacked in the room,
  the lots distributed to the exam rooms site by site, question papers unsealed in the exam
  room, answer sheets collected, sealed anew and returned to the scanning centre.

Nobody signs at two places within the policy's window, or away from a duty shift they are
on, except where a conflict is injected. Injected at configurable rates (``--rate``):
incident reports and zero reports (no finding), corrections (a count short by one,
acknowledged, then a ``lot.corrected``: ACKNOWLEDGED_VIOLATION and CORRECTION), acknowledged
violations (an unsealing with five people: ACKNOWLEDGED_VIOLATION), duty gaps (a relief 20
minutes late: DUTY_UNCOVERED at the end of the shift it relieves) and presence conflicts (a
crew member on duty in the secure room signs a distribution at an exam site:
PRESENCE_CONFLICT). Every step names its registered place (``place``), the free-text
``location`` being the detail within it. Every finding injected is written to
``--findings`` (default ``DB.findings.json``): ``custody verify --json`` reports exactly these.

Events are written as ``generate.py`` writes them: bodies built as the application drafts them
(``CustodyLedger._draft``), signed with real Ed25519 keys (``generate.person_key``), wrapped
in the domain's event classes and mapped to stored events by the application's own mapper,
inserted with its recorder 1,000 a transaction. Counties are built in worker processes (each
owns a fixed set of counties and their stream heads), an hour of the season at a time, and the
main process merges each hour's events in time order and writes them.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import multiprocessing
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from eventsourcing.persistence import Mapper, StoredEvent

from generate import genesis, person_key, policy, stored  # noqa: E402 - bench/ is on sys.path
from ledger.application.custody import CustodyLedger, open_ledger
from ledger.core import canonical, digests
from ledger.domain.aggregates import (
    LEDGER_STREAM, Lot, Person, Report, Room, Site, incident_stream, lot_stream,
    person_stream, room_stream, site_stream, zero_stream,
)
from ledger.domain.schemas import schema_version

LEDGER_ID = "season-2026"
AUTHORITY = "AUTH-01"
EXAM = "gaokao-2026"
DAY0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
SUBJECTS = ("chinese", "math", "english", "physics", "chemistry", "biology", "politics",
            "history", "geography")
ROOM_SIZE = 30  # candidates per exam room
ROOMS_PER_SITE = 12
MAX_SITES = 4  # a county's sites are visited SITE_APART apart within the 100 minutes before an exam
SITE_APART = timedelta(minutes=20)
SHIFT = timedelta(hours=8)
OVERLAP = timedelta(minutes=5)  # a relief starts this long before the crew it relieves ends
LATE = timedelta(minutes=20)  # how late an injected relief comes
FIRST_SHIFT = DAY0 + timedelta(days=1, hours=8, minutes=30)
RECORDED_AFTER = timedelta(seconds=30)  # the ledger records a step this long after it occurred
WINDOW = timedelta(hours=1)  # the workers build the season an hour at a time
BATCH = 1000  # events per insert transaction
COUNTIES_PER_INSPECTOR = 25
RATES = {  # injections, each a chance per eligible step
    "incident": 0.01,  # per question paper unsealed: an incident report (no finding)
    "correction": 0.002,  # per distribution: count short, acknowledged, then corrected
    "acknowledged": 0.002,  # per unsealing: five people present, acknowledged
    "duty_gap": 0.02,  # per shift change while the room holds papers: relief 20 min late
    "conflict": 0.001,  # per distribution: a crew member on duty signs it
}


# -- places: the one place that says how a place is written in a step ---------------------


@dataclass(frozen=True)
class Place:
    """A registered place steps happen at: a site (``site:ID``) or a secure room
    (``room:ID``). A step names it as its ``place``; its free-text ``location`` is the detail
    within it."""

    id: str
    name: str
    kind: str = "site"

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"

    def location(self, detail: str | None = None) -> str:
        return self.name if detail is None else f"{self.name}, {detail}"


PRINTING_HOUSE = Place("PRINT-PROV", "Provincial Printing House")
SCANNING_CENTRE = Place("SCAN-PROV", "Provincial Scanning Centre")
INSPECTION_CENTRE = Place("INSPECT-PROV", "Provincial Inspection Centre")


# -- the people and places of one county ---------------------------------------------------


def team_ids(county: int, name: str, police: int, staff: int) -> list[str]:
    prefix = f"C{county:04d}-{name}"
    return ([f"{prefix}-P{i}" for i in range(1, police + 1)]
            + [f"{prefix}-S{i}" for i in range(1, staff + 1)])


def role_of(person_id: str) -> str:
    """Every generated id says its role: ``...-P1`` police, ``...-S1`` staff, ``INS-...``."""
    if person_id == AUTHORITY:
        return "authority"
    if person_id.startswith("INS-"):
        return "inspector"
    return "police" if person_id.rsplit("-", 1)[1].startswith("P") else "staff"


@dataclass(frozen=True)
class County:
    """One county's exam rooms, sites, secure room, vehicle and teams."""

    number: int
    candidates: int

    @property
    def id(self) -> str:
        return f"C{self.number:04d}"

    @property
    def exam_rooms(self) -> int:
        return max(1, math.ceil(self.candidates / ROOM_SIZE))

    def room_size(self, room: int) -> int:
        """Candidates in exam room ``room`` (the last one may be smaller)."""
        return min(ROOM_SIZE, self.candidates - room * ROOM_SIZE) if self.candidates else 1

    @property
    def sites(self) -> int:
        return math.ceil(self.exam_rooms / ROOMS_PER_SITE)

    def site(self, j: int) -> Place:
        return Place(f"{self.id}-S{j + 1}", f"County {self.number} No. {j + 1} Middle School")

    def site_rooms(self, j: int) -> range:
        return range(j * ROOMS_PER_SITE, min(self.exam_rooms, (j + 1) * ROOMS_PER_SITE))

    @property
    def secure_room(self) -> Place:
        return Place(f"SR-{self.id}", f"County {self.number} Secure Room", "room")

    @property
    def vehicle(self) -> str:
        return f"V-{self.id}"

    @property
    def dispatch(self) -> list[str]:
        return team_ids(self.number, "D", 2, 4)

    def crew(self, n: int) -> list[str]:
        return team_ids(self.number, "ABC"[n % 3], 2, 2)

    def site_team(self, j: int) -> list[str]:
        return team_ids(self.number, f"T{j + 1}", 2, 4)

    @property
    def returns(self) -> list[str]:
        return team_ids(self.number, "Q", 2, 4)

    @property
    def inspector(self) -> str:
        return f"INS-{(self.number - 1) // COUNTIES_PER_INSPECTOR + 1:03d}"

    def people(self) -> list[str]:
        out = self.dispatch + self.crew(0) + self.crew(1) + self.crew(2) + self.returns
        for j in range(self.sites):
            out += self.site_team(j)
        return out


def counties(candidates: int, county_size: int) -> list[County]:
    if not 1 <= county_size <= MAX_SITES * ROOMS_PER_SITE * ROOM_SIZE:
        raise SystemExit(f"--county-size must be 1 to {MAX_SITES * ROOMS_PER_SITE * ROOM_SIZE}")
    full, rest = divmod(candidates, county_size)
    sizes = [county_size] * full + ([rest] if rest else [])
    return [County(i + 1, size) for i, size in enumerate(sizes)]


def exam_start(k: int) -> datetime:
    """Subject ``k``'s exam: days 3 to 7, at 01:00 and 07:00 UTC (09:00, 15:00 in Beijing)."""
    return DAY0 + timedelta(days=3 + k // 2, hours=1 if k % 2 == 0 else 7)


def lot_ids(county: County, k: int) -> tuple[str, list[tuple[str, str, int]]]:
    """The container and the lots (id, kind, exam room) of one county's subject ``k``."""
    tag = f"{county.id}-{SUBJECTS[k][:4].upper()}"
    lots = []
    for r in range(county.exam_rooms):
        lots.append((f"{tag}-Q{r + 1:03d}", "question_paper", r))
        lots.append((f"{tag}-A{r + 1:03d}", "answer_sheet", r))
    return f"{tag}-BOX", lots


def us(moment: datetime) -> int:
    return int((moment - DAY0) / timedelta(microseconds=1))


# -- steps: what a county does, in time order ----------------------------------------------


@dataclass
class Step:
    """One co-signed step a county takes, before its stream's head is known."""

    at: datetime
    stream: str
    type: str
    fields: dict[str, Any]
    location: str
    team: list[str]
    place: str | None = None  # the registered place (none for the steps placed in their room)
    acknowledge: str | None = None
    expect: list[dict[str, Any]] = field(default_factory=list)  # findings it injects
    corrects_previous: bool = False  # a lot.corrected naming the stream's step before it


def _seals(lot: str, n: int = 1) -> list[str]:
    return [f"{lot}-S{n}"]


def _checked(seals: list[str], count: int) -> dict[str, Any]:
    return {"seals_checked": sorted(seals), "count_checked": count}


def season_steps(county: County, seed: int, rates: dict[str, float]) -> Iterator[Step]:
    """Every step of one county, in time order."""
    rng = random.Random(f"{seed}/{county.number}")  # draws depend on the county only
    sources = [_lot_steps(county, rng, rates),
               _room_steps(county, random.Random(f"{seed}/{county.number}/duty"), rates)]
    for _, step in heapq.merge(*(_keyed(i, source) for i, source in enumerate(sources))):
        yield step


def _keyed(source: int, steps: Iterator[Step]) -> Iterator[tuple[tuple[datetime, int, int], Step]]:
    for n, step in enumerate(steps):
        yield (step.at, source, n), step


def _lot_steps(county: County, rng: random.Random, rates: dict[str, float]) -> Iterator[Step]:
    d = county.dispatch
    holder = d[2]  # the dispatch team's first staff member
    day1 = DAY0 + timedelta(days=1)
    room = county.secure_room
    steps: list[Step] = []
    # Day 1: registration and packing at the printing house, transport, storage.
    for k in range(len(SUBJECTS)):
        box, lots = lot_ids(county, k)
        base = day1 + timedelta(minutes=40 * k)
        registered = [(box, "container", None)] + lots
        for i, (lot, kind, r) in enumerate(registered):
            count = len(lots) if kind == "container" else county.room_size(r)
            steps.append(Step(base + timedelta(seconds=2 * i), lot_stream(lot), "lot.registered",
                              {"lot": {"id": lot, "exam": EXAM, "subject": SUBJECTS[k],
                                       "kind": kind, "count": count, "seals": _seals(lot)},
                               "holder": holder}, PRINTING_HOUSE.location(), d, PRINTING_HOUSE.ref))
        for i, (lot, _, _) in enumerate(lots):
            steps.append(Step(base + timedelta(minutes=20, seconds=2 * i), lot_stream(lot),
                              "lot.packed", {"container": box}, PRINTING_HOUSE.location(), d, PRINTING_HOUSE.ref))
        box_checked = _checked(_seals(box), len(lots))
        crew = county.crew(0)
        steps.append(Step(day1 + timedelta(hours=6, minutes=30 + k), lot_stream(box),
                          "lot.transport_departed",
                          {"from": holder, "vehicle": county.vehicle, "escort": sorted(d[:2]),
                           "destination": room.name, **box_checked},
                          PRINTING_HOUSE.location("loading bay"), d,
                          PRINTING_HOUSE.ref))
        steps.append(Step(day1 + timedelta(hours=9, minutes=k), lot_stream(box),
                          "lot.transport_arrived",
                          {"vehicle": county.vehicle, "to": crew[2], **box_checked},
                          room.location("gate"), d + crew, room.ref))
        steps.append(Step(day1 + timedelta(hours=9, minutes=30 + k), lot_stream(box),
                          "lot.stored", {"from": crew[2], "room": room.id, **box_checked},
                          room.location(), d + crew))
    yield from sorted(steps, key=lambda s: s.at)
    # Exam days, one subject at a time (each subject's steps end before the next one's start).
    for k in range(len(SUBJECTS)):
        yield from sorted(_exam_steps(county, k, rng, rates), key=lambda s: s.at)


def crew_on_duty(at: datetime) -> int:
    """Which crew's shift it is at ``at`` (never asked within a shift change's overlap)."""
    return (at - FIRST_SHIFT) // SHIFT


def _exam_steps(county: County, k: int, rng: random.Random,
                rates: dict[str, float]) -> list[Step]:
    d, q = county.dispatch, county.returns
    holder = d[2]
    room = county.secure_room
    box, lots = lot_ids(county, k)
    start = exam_start(k)
    crew = county.crew(crew_on_duty(start - timedelta(hours=2)))
    steps: list[Step] = []
    steps.append(Step(start - timedelta(hours=2), lot_stream(box), "lot.retrieved",
                      {"room": room.id, "to": holder, **_checked(_seals(box), len(lots))},
                      room.location(), d + crew))
    for i, (lot, _, _) in enumerate(lots):
        steps.append(Step(start - timedelta(hours=1, minutes=55) + timedelta(seconds=2 * i),
                          lot_stream(lot), "lot.unpacked", {"container": box, "holder": holder},
                          room.location(), d + crew, room.ref))
    returned = 0
    for j in range(county.sites):
        site, team = county.site(j), county.site_team(j)
        # Sites SITE_APART apart, so the team is never at two places within the policy's
        # window (10 minutes), even with a correction SITE_APART / 6 after a distribution.
        arrive = start - timedelta(hours=1, minutes=40) + SITE_APART * j
        i = 0
        for lot, kind, r in lots:
            if r not in county.site_rooms(j):
                continue
            count = county.room_size(r)
            party = f"site:{site.id}-R{r + 1:03d}"
            at = arrive + timedelta(seconds=2 * i)
            i += 1
            distribution = Step(at, lot_stream(lot), "lot.distributed",
                                {"from": holder, "to": party, **_checked(_seals(lot), count)},
                                site.location(), list(d), site.ref)
            if rng.random() < rates["conflict"]:
                # A crew member on duty in the secure room signs instead of a dispatcher.
                distribution.team = d[:5] + [crew[3]]
                distribution.expect.append({"code": "PRESENCE_CONFLICT",
                                            "evidence": {"person": crew[3], "kind": "on_duty"}})
            steps.append(distribution)
            if rng.random() < rates["correction"]:
                distribution.fields["count_checked"] = count - 1
                distribution.acknowledge = "one sheet short at distribution; recount follows"
                distribution.expect.append({"code": "ACKNOWLEDGED_VIOLATION",
                                            "evidence": {"code": "COUNT_MISMATCH"}})
                steps.append(Step(at + SITE_APART / 6, lot_stream(lot), "lot.corrected",
                                  {"reason": f"recount: {count} sheets", "count": count},
                                  site.location(), list(d), site.ref, corrects_previous=True,
                                  expect=[{"code": "CORRECTION"}]))
            # The site's team unseals and collects every exam room's lots, so these steps
            # are at the site (exam rooms are places of their own: one team in all of them
            # within minutes would be impossible presence).
            in_room = site.location()
            if kind == "question_paper":
                unsealing = Step(start - timedelta(minutes=15)
                                 + timedelta(seconds=10 * (r % ROOMS_PER_SITE)), lot_stream(lot), "lot.unsealed", _checked(_seals(lot), count),
                                 in_room, list(team), site.ref)
                if rng.random() < rates["acknowledged"]:
                    unsealing.team = team[:5]
                    unsealing.acknowledge = "one invigilator taken ill; unsealed with five present"
                    unsealing.expect.append({"code": "ACKNOWLEDGED_VIOLATION",
                                             "evidence": {"code": "PRESENCE_SHORT"}})
                steps.append(unsealing)
                if rng.random() < rates["incident"]:
                    incident = f"INC-{lot}"
                    steps.append(Step(start - timedelta(minutes=10), incident_stream(incident),
                                      "incident.reported",
                                      {"incident": {"id": incident, "lots": [lot],
                                                    "what": "a seal scuffed in transit; "
                                                            "papers intact"}},
                                      in_room, [team[2]], site.ref))
            else:
                collected = (start + timedelta(hours=2, minutes=30) + SITE_APART * j
                             + timedelta(seconds=10 * (r % ROOMS_PER_SITE)))
                steps.append(Step(collected, lot_stream(lot), "lot.collected",
                                  {"from": party, "to": q[2], "count_checked": count,
                                   "seals_applied": _seals(lot, 2)}, in_room, team + q, site.ref))
                steps.append(Step(start + timedelta(hours=3, minutes=50, seconds=2 * returned),
                                  lot_stream(lot), "lot.returned",
                                  {"from": q[2], "to": f"site:{SCANNING_CENTRE.id}",
                                   **_checked(_seals(lot, 2), count)},
                                  SCANNING_CENTRE.location(), list(q), SCANNING_CENTRE.ref))
                returned += 1
    return steps


def _room_steps(county: County, rng: random.Random, rates: dict[str, float]) -> Iterator[Step]:
    """Duty shifts, patrols and zero reports on the county's secure room, in time order."""
    room = county.secure_room
    stream = room_stream(room.id)
    first_store = DAY0 + timedelta(days=1, hours=9, minutes=30)
    last_retrieval = exam_start(len(SUBJECTS) - 1) - timedelta(hours=2)
    steps: list[Step] = [Step(FIRST_SHIFT, stream, "duty.started", {}, room.location(),
                              county.crew(0))]
    n = 1
    while True:
        change = FIRST_SHIFT + n * SHIFT
        leaving = county.crew(n - 1)
        if change > last_retrieval:  # the room is empty: the last crew goes home
            steps.append(Step(change, stream, "duty.ended", {}, room.location(), leaving))
            break
        late = first_store < change and rng.random() < rates["duty_gap"]
        if late:  # the crew leaving opens the gap: verify reports it at that step
            steps.append(Step(change, stream, "duty.ended", {}, room.location(), leaving,
                              expect=[{"code": "DUTY_UNCOVERED", "evidence": {
                                  "room": room.id, "start": canonical.format_timestamp(change)}}]))
            steps.append(Step(change + LATE, stream, "duty.started", {}, room.location(),
                              county.crew(n)))
        else:
            steps.append(Step(change, stream, "duty.started", {}, room.location(),
                              county.crew(n)))
            steps.append(Step(change + OVERLAP, stream, "duty.ended", {}, room.location(),
                              leaving))
        n += 1
    end = steps[-1].at
    patrol = DAY0 + timedelta(days=1, hours=12,
                              seconds=20 * ((county.number - 1) % COUNTIES_PER_INSPECTOR))
    while patrol < end:
        crew = county.crew(crew_on_duty(patrol))
        steps.append(Step(patrol, stream, "room.patrolled",
                          {"observed": f"{len(crew)} on duty ({', '.join(crew)}); seals intact"},
                          INSPECTION_CENTRE.location("video patrol"), [county.inspector],
                          INSPECTION_CENTRE.ref))
        patrol += timedelta(hours=6)
    day = DAY0 + timedelta(days=1)
    while day + timedelta(hours=20) < end:
        at = day + timedelta(hours=20)
        crew = county.crew(crew_on_duty(at))
        report = f"ZR-{county.id}-{day:%m%d}"
        steps.append(Step(at, zero_stream(report), "zero.reported",
                          {"report": {"id": report, "scope": room.name, "period": {
                              "start": canonical.format_timestamp(day + timedelta(hours=8)),
                              "end": canonical.format_timestamp(at)}}},
                          room.location(), [crew[2]], room.ref))
        day += timedelta(days=1)
    yield from sorted(steps, key=lambda s: s.at)


# -- building events (in the workers) ------------------------------------------------------


Built = tuple[tuple[int, int, int], StoredEvent, list[dict[str, Any]]]  # key, event, expected


class CountyBuilder:
    """Builds the events of a set of counties, a window of the season at a time, keeping each
    stream's head (step number, event hash) between windows."""

    def __init__(self, numbered: Sequence[County], seed: int, rates: dict[str, float],
                 mapper: Mapper, rooms: dict[str, tuple[int, str]]) -> None:
        self.mapper = mapper
        self.policy = policy().ref
        self.keys: dict[str, Any] = {}
        self.heads = {room_stream(c.secure_room.id): rooms[room_stream(c.secure_room.id)]
                      for c in numbered}
        self.pending: list[tuple[County, Iterator[Step], list[Step | None], int]] = []
        for county in numbered:
            steps = season_steps(county, seed, rates)
            self.pending.append((county, steps, [next(steps, None)], 0))
        self.last: dict[int, datetime] = {}

    def key(self, person_id: str) -> Any:
        if person_id not in self.keys:
            self.keys[person_id] = person_key(person_id)
        return self.keys[person_id]

    def until(self, end: datetime) -> list[Built]:
        """The events of every county that occur before ``end``, in time order."""
        out: list[Built] = []
        for i, (county, steps, peek, counter) in enumerate(self.pending):
            while peek[0] is not None and peek[0].at < end:
                step = peek[0]
                # The log must go forward in time (recorded_at never goes back).
                assert step.at >= self.last.get(county.number, step.at), (county, step)
                self.last[county.number] = step.at
                out.append(((us(step.at), county.number, counter), *self.build(step)))
                counter += 1
                peek[0] = next(steps, None)
            self.pending[i] = (county, steps, peek, counter)
        out.sort(key=lambda built: built[0])
        return out

    def build(self, step: Step) -> tuple[StoredEvent, list[dict[str, Any]]]:
        head = self.heads.get(step.stream)
        seq = head[0] + 1 if head else 1
        prev = head[1] if head else digests.genesis_prev(LEDGER_ID, step.stream)
        body = envelope(step.stream, seq, step.type, step.at, prev)
        fields = dict(step.fields)
        if step.corrects_previous:
            assert head is not None
            fields["corrects"] = {"seq": head[0], "event_hash": head[1]}
        body.update(fields)
        body.update(location=step.location, policy=self.policy,
                    attendees=sorted(({"person": p, "role": role_of(p)} for p in step.team),
                                     key=lambda a: a["person"]))
        if step.place is not None:
            body["place"] = step.place
        body["schema"] = schema_version(body)
        if step.acknowledge is not None:
            body["acknowledged_violation"] = {"reason": step.acknowledge}
        digest = digests.signing_digest(body)
        signatures = {p: self.key(p).sign(digest) for p in step.team}
        first = {"lot": Lot, "room": Room, "incident": Report, "zero": Report}
        aggregate = first[step.stream.split(":", 1)[0]] if seq == 1 else None
        record, event_hash = stored(self.mapper, body, signatures,
                                    step.at + RECORDED_AFTER, aggregate)
        self.heads[step.stream] = (seq, event_hash)
        expected = [{"stream": step.stream, **e} for e in step.expect]
        return record, expected


def envelope(stream: str, seq: int, event_type: str, occurred_at: datetime, prev: str) -> dict:
    """The common envelope, as ``ledger.application.custody`` drafts it."""
    return {"ledger": LEDGER_ID, "stream": stream, "seq": seq, "type": event_type, "schema": 1,
            "occurred_at": canonical.format_timestamp(occurred_at), "prev": prev}


def _serve(builder: CountyBuilder, conn: Any) -> None:
    """A worker process: build each window the main process asks for, until it sends None."""
    while True:
        end = conn.recv()
        if end is None:
            return
        conn.send(builder.until(end))


# -- setup: genesis, roster, rooms (main process) -----------------------------------------


def setup_events(mapper: Mapper, all_counties: Sequence[County]
                 ) -> tuple[list[StoredEvent], dict[str, tuple[int, str]]]:
    """The genesis, one authority-signed enrolment per person and one registration per site
    and per secure room, all on day 0; and the rooms' stream heads."""
    authority = person_key(AUTHORITY)

    def first(stream: str, event_type: str, at: datetime, fields: dict[str, Any],
              aggregate: type) -> tuple[StoredEvent, str]:
        """The first event of ``stream``, signed by the authority; and its hash."""
        body = envelope(stream, 1, event_type, at, digests.genesis_prev(LEDGER_ID, stream))
        body.update(fields)
        body["schema"] = schema_version(body)
        return stored(mapper, body, {AUTHORITY: authority.sign(digests.signing_digest(body))},
                      at + RECORDED_AFTER, aggregate)

    out = [genesis(mapper, envelope(LEDGER_STREAM, 1, "ledger.genesis", DAY0,
                                    digests.genesis_prev(LEDGER_ID, LEDGER_STREAM)),
                   DAY0 + RECORDED_AFTER)]
    inspectors = sorted({c.inspector for c in all_counties})
    people = [(p, None) for p in inspectors] + [(p, c) for c in all_counties for p in c.people()]
    at = DAY0 + timedelta(seconds=1)
    for person_id, county in people:
        role = role_of(person_id)
        unit = (f"County {county.number} Exam Office" if county is not None
                else "Provincial Discipline Inspection Office")
        out.append(first(person_stream(person_id), "person.enrolled", at, {"person": {
            "id": person_id, "name": f"{role.title()} {person_id}", "role": role, "unit": unit,
            "public_key": person_key(person_id).public_key.hex}}, Person)[0])
        at += timedelta(milliseconds=100)
    at = max(at, DAY0 + timedelta(hours=6))
    sites = [PRINTING_HOUSE, SCANNING_CENTRE, INSPECTION_CENTRE]
    sites += [county.site(j) for county in all_counties for j in range(county.sites)]
    for site in sites:
        out.append(first(site_stream(site.id), "site.registered", at,
                         {"site": {"id": site.id, "name": site.name}}, Site)[0])
        at += timedelta(milliseconds=100)
    at = max(at, DAY0 + timedelta(hours=12))
    heads: dict[str, str] = {}
    for county in all_counties:
        room = county.secure_room
        stream = room_stream(room.id)
        record, heads[stream] = first(stream, "room.registered", at, {"room": {
            "id": room.id, "name": room.name, "licence": f"BM-{county.id}-2026",
            "valid_from": "2026-01-01T00:00:00.000000Z",
            "valid_until": "2026-12-31T23:59:59.000000Z"}}, Room)
        out.append(record)
        at += timedelta(milliseconds=100)
    assert at < DAY0 + timedelta(days=1), "too many people or rooms for day 0"
    return out, {stream: (1, head) for stream, head in heads.items()}


# -- main ----------------------------------------------------------------------------------


@dataclass
class Generated:
    events: int
    lots: int
    people: int
    counties: int
    expected: list[dict[str, Any]]


def generate(db: Path, candidates: int, *, seed: int = 2026, county_size: int = 1000,
             rates: dict[str, float] | None = None, workers: int = 1,
             quiet: bool = True) -> Generated:
    """Write a season's ledger to a new SQLite file ``db``; return what was written and every
    finding injected (code, stream, position and evidence)."""
    rates = {**RATES, **(rates or {})}
    all_counties = counties(candidates, county_size)
    db.parent.mkdir(parents=True, exist_ok=True)
    app: CustodyLedger = open_ledger(str(db), create=True)
    began = time.monotonic()
    written = 0
    expected: list[dict[str, Any]] = []

    def write(batch: Sequence[StoredEvent]) -> None:
        nonlocal written
        for i in range(0, len(batch), BATCH):
            app.recorder.insert_events(list(batch[i:i + BATCH]))
        written += len(batch)

    people = 0
    try:
        setup, rooms = setup_events(app.mapper, all_counties)
        people = (len({c.inspector for c in all_counties})
                  + sum(len(c.people()) for c in all_counties))
        write(setup)
        shares = [all_counties[w::workers] for w in range(workers)]
        shares = [share for share in shares if share]
        if len(shares) == 1:
            builders = [CountyBuilder(shares[0], seed, rates, app.mapper, rooms)]
            windows = lambda end: [builders[0].until(end)]  # noqa: E731
            stop = lambda: None  # noqa: E731
        else:
            context = multiprocessing.get_context("fork")
            links = []
            for share in shares:
                here, there = context.Pipe()
                process = context.Process(target=_serve, daemon=True, args=(
                    CountyBuilder(share, seed, rates, app.mapper, rooms), there))
                process.start()
                links.append((here, process))

            def windows(end: datetime) -> list[list[Built]]:
                for here, _ in links:
                    here.send(end)
                return [here.recv() for here, _ in links]

            def stop() -> None:
                for here, process in links:
                    here.send(None)
                    process.join()

        try:
            end = DAY0 + timedelta(days=1)
            last = exam_start(len(SUBJECTS) - 1) + timedelta(days=2)
            while end <= last:
                end += WINDOW
                merged = list(heapq.merge(*windows(end), key=lambda built: built[0]))
                for offset, (_, _, found) in enumerate(merged, start=written + 1):
                    for finding in found:
                        expected.append({"position": offset, **finding})
                write([event for _, event, _ in merged])
                if not quiet:
                    spent = time.monotonic() - began
                    print(f"\r{written:>11,} events  {written / spent:,.0f} events/s  "
                          f"{end:%m-%d %H:%M} of the season ", end="", file=sys.stderr,
                          flush=True)
        finally:
            stop()
        if not quiet:
            print(file=sys.stderr)
    finally:
        app.close()
    lots = sum(1 + 2 * c.exam_rooms for c in all_counties) * len(SUBJECTS)
    return Generated(written, lots, people, len(all_counties), sorted(expected, key=_order))


def _order(finding: dict[str, Any]) -> tuple:
    return (finding["position"], finding["stream"],
            finding["code"], json.dumps(finding.get("evidence", {}), sort_keys=True))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, required=True,
                        help="candidates sitting the exam (1,000 a county)")
    parser.add_argument("--db", type=Path, required=True, help="new SQLite file to write")
    parser.add_argument("--findings", type=Path, default=None,
                        help="where to write the injected findings (default DB.findings.json)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--county-size", type=int, default=1000,
                        help="candidates a county (default 1000)")
    parser.add_argument("--rate", action="append", default=[], metavar="KIND=P",
                        help=f"injection rate, repeatable; kinds: {', '.join(RATES)}")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="building processes (default: all cores)")
    parser.add_argument("--force", action="store_true", help="replace an existing --db")
    args = parser.parse_args(argv)
    rates = {}
    for item in args.rate:
        kind, _, value = item.partition("=")
        if kind not in RATES:
            raise SystemExit(f"--rate {item}: unknown kind {kind!r}; one of {', '.join(RATES)}")
        rates[kind] = float(value)
    if args.db.exists():
        if not args.force:
            raise SystemExit(f"{args.db} exists; pass --force to replace it")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    began = time.monotonic()
    result = generate(args.db, args.candidates, seed=args.seed, county_size=args.county_size,
                      rates=rates, workers=max(1, args.workers), quiet=False)
    findings = args.findings or Path(f"{args.db}.findings.json")
    findings.write_text(json.dumps(result.expected, indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"wrote {result.events:,} events ({result.counties:,} counties, {result.lots:,} lots, "
          f"{result.people:,} people) to {args.db} in {time.monotonic() - began:,.1f}s; "
          f"{len(result.expected):,} findings injected, listed in {findings}", file=sys.stderr)


if __name__ == "__main__":
    main()
