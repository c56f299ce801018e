"""The recorder's cost against the ledger's size: a step judged against the view's saved fold
(now), and the same kind of step judged against its streams folded afresh from the log
(before: ``standing`` told the view is unusable, the recorder's fallback), in the same run.

    python bench/bench_record.py --db small.db --db large.db [--steps 12]

Each ``--db`` (made by ``generate.py`` or ``season.py``) is copied to a temporary folder and
its view brought up to the log's head first, as every writing command leaves it (that
one-off catch-up is reported, not counted). Then, on each copy, ``--steps`` steps are
recorded through ``CustodyLedger`` in process, the two ways alternated step by step:

- **handover**: a lot held by a person passes to another staff member, six present (the
  holder, the receiver, and police and staff from the roster to make two and four);
- **patrol** (season ledgers): a secure room's remote patrol, as its last one was, one
  hour after the ledger's last step. The room's stream holds every duty shift and patrol
  of the season, which the fresh fold re-reads, with everyone who signed them.

With ``--cli BEFORE``, ``custody record handover`` is timed instead, in fresh processes
with six unencrypted key files, on two copies of each ledger (one for this checkout, one for
the code in BEFORE, each view rebuilt by its own code first), against ``custody --version``
in the same rounds: what an officer waits for, less the key derivation. Each process runs
with Python's bytecode cache, as an installed copy does (``machine.installed_env``).

Each step signs with the benchmark's deterministic keys (``generate.person_key``); key
files and passphrases (scrypt) are left out: they cost the same on any ledger. Prints the
median wall time a step and the ratios: now against before on the same ledger, and each
way against itself on the first ledger given that has that kind of step (give the smallest
first) — flat in ledger size is 1.0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from generate import person_key  # noqa: E402
from machine import Load, describe, installed_env  # noqa: E402

from ledger.application import standing  # noqa: E402
from ledger.application.custody import open_ledger  # noqa: E402
from ledger.application.keystore import Signer, write_key_pair  # noqa: E402
from ledger.core import canonical  # noqa: E402
from ledger.core.custody import is_person  # noqa: E402
from ledger.domain.aggregates import lot_stream, room_stream  # noqa: E402
from ledger.domain.stored import prepare  # noqa: E402
from ledger.projections import access  # noqa: E402

WAYS = ("before", "now")

# What a recording command imports of its libraries (read off ``python -X importtime``): a
# process that imports these and nothing else is the floor of such a command's start-up.
DEPENDENCIES = ("import click, sqlite3, zoneinfo, msgpack, msgspec, nacl.bindings, "
                "eventsourcing.application, eventsourcing.sqlite, eventsourcing.projection, "
                "cryptography.hazmat.primitives.serialization, "
                "cryptography.hazmat.primitives.asymmetric.ed25519")


class Clock:
    """One second later at every reading, from just after the ledger's last step."""

    def __init__(self, start: Any) -> None:
        self.now = start

    def __call__(self) -> Any:
        self.now += timedelta(seconds=1)
        return self.now


def fresh_fold_only(app: Any, streams: list[str]) -> None:
    """``standing._saved`` for the "before" way: the view is never used."""
    return None


def handover_plans(view: Any, n: int) -> list[tuple[str, str, str, list[str], int, list[str]]]:
    """(lot, holder, receiver, seals, count, team) for ``n`` distinct lots held by a staff
    member: the holder, the receiver, and police and staff from the roster to make 2 + 4."""
    roles = dict(view.query("SELECT person, MAX(role) FROM view_attendee_names WHERE role IN "
                            "('police', 'staff') GROUP BY person"))
    police = sorted(p for p, r in roles.items() if r == "police")
    staff = sorted(p for p, r in roles.items() if r == "staff")
    lots = [row for row in view.query(
        "SELECT lot, holder, seals, count FROM view_lots WHERE packed_in IS NULL AND "
        "closed = 0 AND unsealed = 0 ORDER BY lot") if is_person(row[1])
        and roles.get(row[1]) == "staff"][:n]
    plans = []
    for k, (lot, holder, seals, count) in enumerate(lots):
        receiver = next(p for p in staff[k % len(staff):] + staff if p != holder)
        team = {holder, receiver}
        team |= set([p for p in staff if p not in team][:4 - len(team)]) | set(police[:2])
        plans.append((lot, holder, receiver, json.loads(seals), count, sorted(team)))
    return plans


def handovers(app: Any, view: Any, n: int) -> list[Callable[[], Any]]:
    """``n`` handovers of distinct lots held by a person, each by a team of six."""
    steps = []
    for lot, holder, receiver, seals, count, team in handover_plans(view, n):
        signers = [Signer(p, person_key(p)) for p in team]

        def step(lot=lot, holder=holder, receiver=receiver, seals=seals, count=count,
                 signers=signers) -> Any:
            return app.record_handover(lot, holder, receiver, "Bench room", seals, count,
                                       app.clock(), signers)
        steps.append(step)
    return steps


def patrols(app: Any, view: Any, n: int) -> list[Callable[[], Any]]:
    """``n`` remote patrols of the secure rooms in turn, each as the room's last patrol was."""
    last_patrols = []
    for (room,) in view.query("SELECT room FROM view_rooms ORDER BY room")[:n]:
        stream = room_stream(room)
        last = next((prepare((0, s.originator_id, s.originator_version, s.topic, s.state))
                     for s in app.recorder.select_events(stream, desc=True, limit=50)
                     if b"room.patrolled" in bytes(s.state)), None)
        if last is not None and last.body is not None:
            last_patrols.append((stream, last.body))
    steps = []
    for k in range(n if last_patrols else 0):
        stream, body = last_patrols[k % len(last_patrols)]
        signers = [Signer(a["person"], person_key(a["person"])) for a in body["attendees"]]

        def step(stream=stream, body=body, signers=signers) -> Any:
            return app.record_step(stream, "room.patrolled", {"observed": body["observed"]},
                                   body["location"], app.clock(), signers,
                                   place=body.get("place"))
        steps.append(step)
    return steps


def measure(db: Path, steps: int, folder: Path) -> dict[str, Any]:
    copy = folder / db.name
    shutil.copyfile(db, copy)
    app = open_ledger(str(copy))
    last = app.state()[0].recorded_at
    app.clock = Clock(canonical.parse_timestamp(last) + timedelta(hours=1))
    started = time.perf_counter()
    access.refresh(app)
    catch_up = time.perf_counter() - started
    view = access.writable_view(app)
    events = view.position() or 0
    kinds = {"handover": handovers(app, view, steps), "patrol": patrols(app, view, steps)}
    result: dict[str, Any] = {"db": db.name, "events": events, "catch_up": catch_up,
                              "kinds": {}}
    saved = standing._saved
    for kind, recorded in kinds.items():
        if len(recorded) < 2:
            continue
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        for i, step in enumerate(recorded):
            way = WAYS[i % 2]
            standing._saved = fresh_fold_only if way == "before" else saved  # type: ignore
            try:
                start = time.perf_counter()
                receipt = step()
                times[way].append(time.perf_counter() - start)
            finally:
                standing._saved = saved  # type: ignore[assignment]
            assert receipt.position is not None
        result["kinds"][kind] = {way: statistics.median(t) for way, t in times.items() if t}
    app.close()
    return result


def timed(args: list[str], env: dict[str, str] | None = None) -> float:
    """Wall seconds of one fresh process, which must succeed."""
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} ... exited {done.returncode}: "
                         f"{done.stderr.decode().strip()}")
    return time.perf_counter() - start


def measure_cli(db: Path, steps: int, folder: Path, before: Path) -> dict[str, Any]:
    """``custody record handover`` in fresh processes, six unencrypted key files (no key
    derivation), this checkout and ``before``'s alternated, each round with ``custody
    --version``. Each way records on its own copy, whose view its own code brought up to
    the head first (a view of another version is folded again)."""
    custody = str(Path(sys.executable).parent / "custody")
    envs = {"now": installed_env(), "before": installed_env({"PYTHONPATH": str(before.resolve())})}
    copies = {way: folder / f"{way}-{db.name}" for way in envs}
    for way, copy in copies.items():
        shutil.copyfile(db, copy)
        timed([custody, "--db", str(copy), "projections", "rebuild"], envs[way])
    app = open_ledger(str(copies["now"]))
    start = canonical.parse_timestamp(app.state()[0].recorded_at) + timedelta(hours=1)
    plans = handover_plans(access.writable_view(app), steps)
    app.close()
    keys = folder / "keys"
    keys.mkdir(exist_ok=True)
    times: dict[str, list[float]] = {"version": [], "now": [], "before": [], "floor": []}
    for i, (lot, holder, receiver, seals, count, team) in enumerate(plans):
        for person in team:
            if not (keys / person).exists():
                write_key_pair(keys / person, person, person_key(person), None)
        at = canonical.format_timestamp(start + timedelta(minutes=i))
        for way, env in envs.items():
            args = [custody, "--db", str(copies[way]), "record", "handover", "--lot", lot,
                    "--from", holder, "--to", receiver,
                    *[a for seal in seals for a in ("--seal", seal)], "--count", str(count),
                    "--location", "Bench room", "--occurred-at", at,
                    *[a for p in team for a in ("--sign", str(keys / p))]]
            times[way].append(timed(args, env))
        times["version"].append(timed([custody, "--version"], envs["now"]))
        times["floor"].append(timed([sys.executable, "-c", DEPENDENCIES], envs["now"]))
    return {"db": db.name, **{k: statistics.median(v) for k, v in times.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, action="append", required=True,
                        help="a ledger to record on (a copy); give the smallest first")
    parser.add_argument("--steps", type=int, default=12,
                        help="steps of each kind a ledger, half each way (default 12)")
    parser.add_argument("--cli", type=Path, default=None, metavar="BEFORE",
                        help="time 'custody record handover' processes instead, against "
                             "'custody --version' and the checkout BEFORE (say `git archive "
                             "<commit> | tar -x -C BEFORE`)")
    args = parser.parse_args(argv)
    print(describe())
    if args.cli is not None:
        with tempfile.TemporaryDirectory() as tmp, Load() as load:
            rows = [measure_cli(db, args.steps, Path(tmp), args.cli) for db in args.db]
        print(load)
        print("| ledger | `--version` ms | libraries alone ms | before ms | now ms "
              "| libraries / `--version` | before / `--version` | now / `--version` |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['db']} | {r['version'] * 1e3:.0f} | {r['floor'] * 1e3:.0f} "
                  f"| {r['before'] * 1e3:.0f} | {r['now'] * 1e3:.0f} "
                  f"| {r['floor'] / r['version']:.2f}x | {r['before'] / r['version']:.2f}x "
                  f"| {r['now'] / r['version']:.2f}x |")
        return
    with tempfile.TemporaryDirectory() as tmp, Load() as load:
        results = [measure(db, args.steps, Path(tmp)) for db in args.db]
    print(load)
    first: dict[str, Any] = {}  # each kind of step on the first ledger that has it
    for result in results:
        for kind, r in result["kinds"].items():
            first.setdefault(kind, r)
    print("| ledger | events | step | before ms | now ms | now / before | before / first "
          "ledger's | now / first ledger's |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for result in results:
        for kind, r in result["kinds"].items():
            base = first[kind]
            print(f"| {result['db']} | {result['events']:,} | {kind} | {r['before'] * 1e3:.1f} "
                  f"| {r['now'] * 1e3:.1f} | {r['now'] / r['before']:.2f}x "
                  f"| {r['before'] / base['before']:.2f}x | {r['now'] / base['now']:.2f}x |")
    for result in results:
        print(f"{result['db']}: the view's first catch-up took {result['catch_up']:.1f} s "
              "(not counted)")


if __name__ == "__main__":
    main()
