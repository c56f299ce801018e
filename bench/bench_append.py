"""Append throughput: ``CustodyLedger.record_handover`` (six signers) vs plain eventsourcing.

    python bench/bench_append.py --events 2000

Both sides run on a fresh SQLite file with the ledger's library settings (the canonical
msgpack transcoder, text originator ids), one event per transaction, and both read the
aggregate before appending to it, as an officer's command does:

- **custody**: ``record_handover`` with the default policy's six signers (2 police, 4 staff)
  over lots registered beforehand (8 handovers a lot, round-robin, as on an exam day): the body
  is drafted, validated, signed six times, judged (six signatures verified) and saved.
- **plain**: a minimal aggregate on ``eventsourcing`` alone whose events carry an unsigned dict
  as large, encoded, as the custody event (same body shape, padded to the same stored size).

Also counts, per handover, the repository reads, schema checks and signature operations, and
with ``--profile N`` prints the top N functions of ``record_handover`` by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from eventsourcing.application import Application
from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate

import ledger.application.custody as custody
import ledger.core.keys as keys
from generate import person_key, policy
from machine import Load, describe
from ledger.application.keystore import Signer
from ledger.storage.backend import select_backend

START = datetime(2026, 6, 6, 5, 0, tzinfo=timezone.utc)
PEOPLE = {"POL-01": "police", "POL-02": "police", "STF-01": "staff", "STF-02": "staff",
          "STF-03": "staff", "STF-04": "staff"}
STEPS_PER_LOT = 8


class Clock:
    """A deterministic clock: one second later at every reading."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


# -- custody -------------------------------------------------------------------------------


def custody_ledger(db: Path, lots: int) -> tuple[custody.CustodyLedger, list[Signer], Clock]:
    """A ledger with an authority, six people and ``lots`` registered lots held by STF-01."""
    clock = Clock()
    app = custody.open_ledger(str(db), create=True, clock=clock)
    authority = Signer("AUTH-01", person_key("AUTH-01"))
    app.init("bench-append", {"id": "AUTH-01", "name": "Exam Authority", "unit": "Province"},
             authority, policy(), clock.now)
    team = [Signer(pid, person_key(pid)) for pid in PEOPLE]
    for signer in team:
        app.enrol({"id": signer.person_id, "name": f"Person {signer.person_id}",
                   "role": PEOPLE[signer.person_id], "unit": "Unit"},
                  signer.key.public_key, authority, clock.now)
    for i in range(lots):
        app.register_lot({"id": f"LOT-{i:05d}", "exam": "gaokao-2026", "subject": "math",
                          "kind": "question_paper", "count": 30, "seals": ["S-1", "S-2"]},
                         "Printing house", clock.now, team, holder="STF-01")
    return app, team, clock


class Handovers:
    """Records handovers round-robin over the lots, each passing STF-01 <-> STF-02."""

    def __init__(self, app: custody.CustodyLedger, team: list[Signer], clock: Clock,
                 lots: int) -> None:
        self.app, self.team, self.clock, self.lots = app, team, clock, lots
        self.holders: dict[str, str] = {}
        self.done = 0

    def run(self, events: int) -> None:
        for _ in range(events):
            lot_id = f"LOT-{self.done % self.lots:05d}"
            giver = self.holders.get(lot_id, "STF-01")
            receiver = "STF-02" if giver == "STF-01" else "STF-01"
            self.app.record_handover(lot_id, giver, receiver, "Secure room 1", ["S-1", "S-2"],
                                     30, self.clock.now, self.team)
            self.holders[lot_id] = receiver
            self.done += 1


class Calls:
    """Counts calls to a few functions while a block runs (patched from here, not in ledger/)."""

    def __init__(self, app: custody.CustodyLedger) -> None:
        self.counts: Counter[str] = Counter()
        self.targets = [(app.repository, "get", "repository reads (replay a stream)"),
                        (custody, "check_body", "JSON Schema checks"),
                        (keys, "verify", "signature verifications"),
                        (keys.SigningKey, "sign", "signatures made")]

    def __enter__(self) -> "Calls":
        self.saved = [(t, a, getattr(t, a)) for t, a, _ in self.targets if hasattr(t, a)]
        for target, attribute, name in self.targets:
            if hasattr(target, attribute):
                setattr(target, attribute, self._counting(name, getattr(target, attribute)))
        return self

    def _counting(self, name: str, func: Callable) -> Callable:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return func(*args, **kwargs)
        return counted

    def __exit__(self, *exc: Any) -> None:
        for target, attribute, original in self.saved:
            setattr(target, attribute, original)


# -- plain eventsourcing -------------------------------------------------------------------


@dataclass(frozen=True)
class Stepped(CanMutateAggregate[str]):
    originator_id: str
    originator_version: int
    timestamp: datetime
    payload: dict[str, Any]

    def apply(self, aggregate: Any) -> None:
        aggregate.payload = self.payload


@dataclass(frozen=True)
class Registered(CanInitAggregate[str], Stepped):
    originator_topic: str


class Bag(BaseAggregate[str]):
    """A minimal aggregate whose events carry an unsigned payload."""


def plain(db: Path, lots: int, events: int, payload: dict[str, Any]) -> tuple[Application, Callable]:
    """An Application on the same settings, with ``lots`` bags; and a callable appending."""
    app = Application[str](env=select_backend(str(db)).env)
    for i in range(lots):
        app.save(Bag._create(Registered, id=f"bag:{i:05d}", payload=payload))

    def run() -> None:
        for n in range(events):
            bag = app.repository.get(f"bag:{n % lots:05d}")
            bag.trigger_event(Stepped, payload=payload)
            app.save(bag)
    return app, run


def similar_payload(app: custody.CustodyLedger) -> tuple[dict[str, Any], int]:
    """A handover body without signatures, padded to the stored size of a custody handover."""
    note = app.recorder.select_notifications(start=app.recorder.max_notification_id(), limit=1)[0]
    event = app.mapper.to_domain_event(note)
    body = dict(event.body)
    body["padding"] = b""
    bare = len(app.mapper.transcoder.encode({"payload": body, "timestamp": START}))
    body["padding"] = b"\0" * max(0, len(note.state) - bare - 2)
    return body, len(note.state)


# -- main ----------------------------------------------------------------------------------


def timed(run: Callable[[], None]) -> tuple[float, Load]:
    """Seconds ``run`` took, and how busy other processes kept the machine meanwhile."""
    with Load() as load:
        began = time.perf_counter()
        run()
        took = time.perf_counter() - began
    return took, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="appends per side")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile 200 more handovers and print the top N functions")
    args = parser.parse_args()
    lots = max(1, args.events // STEPS_PER_LOT)
    with tempfile.TemporaryDirectory(prefix="bench-append-") as tmp:
        app, team, clock = custody_ledger(Path(tmp) / "custody.db", lots)
        steps = Handovers(app, team, clock, lots)
        with Calls(app) as calls:
            steps.run(50)
        custody_s, custody_load = timed(lambda: steps.run(args.events))
        payload, size = similar_payload(app)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(steps.run, 200)
        app.close()
        bag_app, run = plain(Path(tmp) / "plain.db", lots, args.events, payload)
        plain_s, plain_load = timed(run)
        plain_size = len(bag_app.recorder.select_notifications(
            start=bag_app.recorder.max_notification_id(), limit=1)[0].state)
        bag_app.close()
    custody_rate, plain_rate = args.events / custody_s, args.events / plain_s
    print(f"Machine: {describe()}\n")
    print(f"### Appends on SQLite, one event per transaction ({args.events:,} each)\n")
    print("| path | stored bytes/event | events/s | ms/event | during the run |")
    print("|---|---:|---:|---:|---|")
    print(f"| custody `record_handover`, 6 signers | {size:,} | {custody_rate:,.0f} "
          f"| {1000 / custody_rate:.2f} | {custody_load} |")
    print(f"| plain eventsourcing, unsigned payload | {plain_size:,} | {plain_rate:,.0f} "
          f"| {1000 / plain_rate:.2f} | {plain_load} |")
    print(f"\ncustody / plain: {custody_rate / plain_rate:.2f} "
          f"({plain_rate / custody_rate:.1f}x slower)\n")
    print("Per handover: " + ", ".join(f"{n / 50:g} {name}" for name, n in calls.counts.items()))
    if args.profile:
        print()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
