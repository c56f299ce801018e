"""Generate a synthetic, province-scale custody ledger that ``custody verify`` reports intact.

    python bench/generate.py --events 1000000 --db bench/data/ledger-1m.db

The ledger holds a genesis (the authority and the two-police-four-staff policy), a roster of
police and staff (2,000 people by default) and lots, each with ``lot.registered`` and several
``lot.handed_over`` steps (8 steps a lot on average, as in DESIGN.md). Every lot step is signed
by exactly 2 police and 4 staff, the giver (the current holder) and the receiver among them,
with seals and counts that match the lot's record, ``occurred_at`` moving forward, and ``prev``
the event hash of the lot's previous stored event. All lots of a wave take each step at one
place, so nobody signs at two places at once (no ``PRESENCE_CONFLICT``).

It does not go through ``CustodyLedger.submit`` (which re-verifies six signatures an event).
Bodies are built with the same core functions (``ledger.core.digests``/``canonical``), signed
with ``SigningKey.from_seed`` keys, wrapped in the domain's event classes and turned into
stored events by the application's own mapper, then inserted with the application's
recorder, 1,000 events a transaction. Lots are built in waves of ``WAVE`` lots whose steps
are interleaved in the log (as on an exam day); waves are signed in a pool of worker
processes, one per core, while the main process writes the previous waves.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from ledger.application.custody import CustodyLedger, open_ledger
from ledger.core import canonical, digests
from ledger.core.keys import SigningKey
from ledger.core.policy import PresencePolicy
from ledger.domain import events
from ledger.domain.aggregates import LEDGER_STREAM, Ledger, Lot, Person, lot_stream, person_stream

LEDGER_ID = "bench-province"
AUTHORITY = "AUTH-01"
POLICY = "two-police-four-staff"
START = datetime(2026, 6, 1, 0, 0, tzinfo=timezone.utc)
WAVE = 500  # lots per worker task; their steps are interleaved in the log
BATCH = 1000  # events per insert transaction
STEPS = (5, 11)  # steps per lot (registration included): uniform, mean 8
TEAM = {"police": 2, "staff": 4}
SUBJECTS = ("chinese", "math", "english", "physics", "chemistry", "biology", "politics",
            "history", "geography")
KINDS = ("question_paper", "answer_sheet", "spare_paper")
LOCATIONS = ("Provincial Printing House", "Escort vehicle", "City Secure Room",
             "County Secure Room", "Exam site secure room", "Exam room", "Marking centre")


def person_key(person_id: str) -> SigningKey:
    """The deterministic benchmark key of a person (never use seeded keys for real)."""
    return SigningKey.from_seed(hashlib.sha256(b"custody-bench-key:" + person_id.encode()).digest())


def roster(people: int) -> list[tuple[str, str]]:
    """(person id, role) for ``people`` people: a quarter police, the rest staff."""
    police = max(TEAM["police"] + 1, people // 4)
    staff = max(TEAM["staff"] + 2, people - police)
    return ([(f"POL-{i:05d}", "police") for i in range(1, police + 1)]
            + [(f"STF-{i:05d}", "staff") for i in range(1, staff + 1)])


def policy() -> PresencePolicy:
    text = resources.files("schemas").joinpath(f"policies/{POLICY}.json").read_text("utf-8")
    return PresencePolicy.from_data(json.loads(text))


def envelope(stream: str, seq: int, event_type: str, occurred_at: datetime, prev: str) -> dict:
    """The common envelope, as ``ledger.application.custody`` drafts it."""
    return {"ledger": LEDGER_ID, "stream": stream, "seq": seq, "type": event_type, "schema": 1,
            "occurred_at": canonical.format_timestamp(occurred_at), "prev": prev}


def stored(mapper: Mapper, body: dict, signatures: dict[str, bytes],
           recorded_at: datetime, aggregate: type | None) -> tuple[StoredEvent, str]:
    """Wrap a signed body in its domain event, map it to a stored event; return it and its hash."""
    cls = events.EVENT_CLASSES[body["type"]]
    fields: dict[str, Any] = dict(originator_id=body["stream"], originator_version=body["seq"],
                                  timestamp=recorded_at, body=body, signatures=signatures)
    if aggregate is not None:  # the first event of a stream names its aggregate class
        fields["originator_topic"] = get_topic(aggregate)
    record = mapper.to_stored_event(cls(**fields))
    return record, digests.event_hash_of_bytes(record.state).hex()


# -- roster (main process: a few thousand authority signatures) ----------------------------


def genesis(mapper: Mapper, body: dict, recorded_at: datetime) -> StoredEvent:
    """The genesis on ``body`` (its envelope): the authority AUTH-01 and the policy, signed by
    the authority it names. ``season.py`` starts its ledgers with it too."""
    authority = person_key(AUTHORITY)
    body.update(authority={"id": AUTHORITY, "name": "Provincial Examination Authority",
                           "unit": "Provincial Exam Office", "role": "authority",
                           "public_key": authority.public_key.hex},
                policy=policy().to_data())
    sign = {AUTHORITY: authority.sign(digests.signing_digest(body))}
    return stored(mapper, body, sign, recorded_at, Ledger)[0]


def roster_events(mapper: Mapper, people: Sequence[tuple[str, str]]) -> list[StoredEvent]:
    """The genesis and one authority-signed enrolment per person."""
    authority = person_key(AUTHORITY)
    at = START
    out = [genesis(mapper, envelope(LEDGER_STREAM, 1, "ledger.genesis", at,
                                    digests.genesis_prev(LEDGER_ID, LEDGER_STREAM)), at)]
    for i, (person_id, role) in enumerate(people):
        at = START + timedelta(seconds=1 + i)
        stream = person_stream(person_id)
        body = envelope(stream, 1, "person.enrolled", at, digests.genesis_prev(LEDGER_ID, stream))
        body["person"] = {"id": person_id, "name": f"{role.title()} {person_id[4:]}",
                          "role": role, "unit": f"Unit {int(person_id[4:]) % 97:02d}",
                          "public_key": person_key(person_id).public_key.hex}
        sign = {AUTHORITY: authority.sign(digests.signing_digest(body))}
        out.append(stored(mapper, body, sign, at, Person)[0])
    return out


# -- lots (worker processes) ---------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(people: Sequence[tuple[str, str]], mapper: Mapper) -> None:
    _worker["keys"] = {pid: person_key(pid) for pid, _ in people}
    _worker["role"] = dict(people)
    _worker["pool"] = {r: [pid for pid, role in people if role == r] for r in TEAM}
    _worker["policy"] = policy().ref
    _worker["mapper"] = mapper


def _team(rng: random.Random, holder: str) -> list[str]:
    """Two police and four staff, the holder among them."""
    team = {holder}
    for role, needed in TEAM.items():
        have = sum(_worker["role"][p] == role for p in team)
        while have < needed:
            pick = rng.choice(_worker["pool"][role])
            if pick not in team:
                team.add(pick)
                have += 1
    return sorted(team)


def _signed(body: dict, team: list[str]) -> dict[str, bytes]:
    body.update(policy=_worker["policy"],
                attendees=[{"person": p, "role": _worker["role"][p]} for p in team])
    digest = digests.signing_digest(body)
    return {p: _worker["keys"][p].sign(digest) for p in team}


def build_wave(task: tuple[int, int, list[int]]) -> list[StoredEvent]:
    """Build, sign and map the events of one wave of lots, steps interleaved across lots."""
    wave, first_lot, steps = task
    mapper: Mapper = _worker["mapper"]
    # Waves 8 hours apart (a wave lasts at most 11 steps x 40 minutes): its last step is
    # recorded before the next wave's first, so recorded_at never goes back in the log
    # (RECORDED_AT_REVERSED); and one place per step of a wave: people drawn for several lots
    # of one step sign them all at the same place, never at two places within minutes
    # (impossible presence, PRESENCE_CONFLICT).
    start = START + timedelta(days=1, hours=8 * wave)
    lots: list[dict[str, Any]] = []
    out: list[StoredEvent] = []
    for step in range(max(steps)):
        for j, total in enumerate(steps):
            if step >= total:
                continue
            occurred = start + timedelta(minutes=40 * step, seconds=2 * j)
            rng = random.Random(f"{first_lot + j}/{step}")
            rng.randint(1, 300)  # the draw that once numbered the place: the rest stays the same
            location = f"{LOCATIONS[min(step, len(LOCATIONS) - 1)]} {wave % 300 + 1}"
            if step == 0:
                lot_id = f"L{first_lot + j:08d}"
                seals = sorted(f"S{first_lot + j:08d}-{k}" for k in range(1, rng.randint(1, 3) + 1))
                lot = {"id": lot_id, "exam": "gaokao-2026", "subject": rng.choice(SUBJECTS),
                       "kind": rng.choice(KINDS), "count": rng.randint(20, 40), "seals": seals}
                holder = rng.choice(_worker["pool"]["staff"])
                stream = lot_stream(lot_id)
                body = envelope(stream, 1, "lot.registered", occurred,
                                digests.genesis_prev(LEDGER_ID, stream))
                body.update(lot=lot, holder=holder, location=location)
                state = {"stream": stream, "holder": holder, "seals": seals, "count": lot["count"]}
                lots.append(state)
                team = _team(rng, holder)
                aggregate: type | None = Lot
            else:
                state = lots[j]
                team = _team(rng, state["holder"])
                receiver = rng.choice([p for p in team if p != state["holder"]])
                body = envelope(state["stream"], step + 1, "lot.handed_over", occurred,
                                state["head"])
                body.update({"from": state["holder"], "to": receiver,
                             "seals_checked": state["seals"], "count_checked": state["count"],
                             "location": location})
                state["holder"] = receiver
                aggregate = None
            record, state["head"] = stored(mapper, body, _signed(body, team),
                                           occurred + timedelta(seconds=30), aggregate)
            out.append(record)
    return out


def plan(lot_events: int, seed: int = 2026) -> Iterator[tuple[int, int, list[int]]]:
    """Waves (index, first lot number, steps of each lot) adding up to ``lot_events``."""
    rng = random.Random(seed)
    wave, lot, left = 0, 0, lot_events
    while left > 0:
        steps = []
        while left > 0 and len(steps) < WAVE:
            steps.append(min(left, rng.randint(*STEPS)))
            left -= steps[-1]
        yield wave, lot, steps
        wave, lot = wave + 1, lot + len(steps)


# -- main ----------------------------------------------------------------------------------


def generate(db: Path, total: int, people: int, workers: int, quiet: bool = False) -> int:
    """Write a ledger of exactly ``total`` events to a new SQLite file ``db``; return lots."""
    people = min(people, max(12, total // 10))  # a small ledger gets a small roster
    crew = roster(people)
    lot_events = total - 1 - len(crew)
    if lot_events < 0:
        raise SystemExit(f"--events {total} is too few for a roster of {len(crew)}")
    db.parent.mkdir(parents=True, exist_ok=True)
    app: CustodyLedger = open_ledger(str(db), create=True)
    began = time.monotonic()
    written = 0

    def write(batch: list[StoredEvent]) -> None:
        nonlocal written
        for i in range(0, len(batch), BATCH):
            app.recorder.insert_events(batch[i:i + BATCH])
        written += len(batch)

    def report() -> None:
        if quiet:
            return
        spent = time.monotonic() - began
        rate = written / spent if spent else 0.0
        eta = (total - written) / rate if rate else 0.0
        print(f"\r{written:>10,}/{total:,} events  {rate:,.0f} events/s  "
              f"{spent:,.0f}s elapsed  ~{eta:,.0f}s left ", end="", file=sys.stderr, flush=True)

    try:
        write(roster_events(app.mapper, crew))
        waves = list(plan(lot_events))
        lots = sum(len(w[2]) for w in waves)
        with multiprocessing.get_context("fork").Pool(
            workers, initializer=_init_worker, initargs=(crew, app.mapper)
        ) as pool:
            for batch in pool.imap(build_wave, waves):
                write(batch)
                report()
        if not quiet:
            print(file=sys.stderr)
    finally:
        app.close()
    assert written == total, (written, total)
    return lots


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, required=True, help="total events to write")
    parser.add_argument("--db", type=Path, required=True, help="new SQLite file to write")
    parser.add_argument("--people", type=int, default=2000, help="roster size (default 2000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="signing processes (default: all cores)")
    parser.add_argument("--force", action="store_true", help="replace an existing --db")
    parser.add_argument("--verify", action="store_true",
                        help="then run the real verifier and fail unless it reports intact")
    args = parser.parse_args(argv)
    if args.db.exists():
        if not args.force:
            raise SystemExit(f"{args.db} exists; pass --force to replace it")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    began = time.monotonic()
    lots = generate(args.db, args.events, args.people, args.workers)
    print(f"wrote {args.events:,} events ({lots:,} lots) to {args.db} "
          f"in {time.monotonic() - began:,.1f}s", file=sys.stderr)
    if args.verify:
        from ledger.verify import Verifier

        app = open_ledger(str(args.db))
        try:
            report = Verifier(app.recorder, workers=args.workers).run()
        finally:
            app.close()
        errors = report.errors
        for finding in errors[:10]:
            print(f"  {finding.code} at {finding.position} {finding.stream}: {finding.message}",
                  file=sys.stderr)
        if errors or report.events != args.events:
            raise SystemExit(f"verify: NOT intact ({len(errors)} errors, "
                             f"{report.events} events)")
        print(f"verify: intact, {report.events:,} events, {report.signatures:,} signatures",
              file=sys.stderr)


if __name__ == "__main__":
    main()
