"""The fold's CPU an event: the serial part of ``verify`` and half of a view rebuild.

    python bench/bench_fold.py --db season-3k.db --db simple-10k.db
    python bench/bench_fold.py --db season-1m.db --rows 300000 --before ../old-checkout

Reads the first ``--rows`` rows of each ledger and decodes them (``compiled_rows``, the
verifier's row stage), then times, on the same decoded rows, the best of ``--rounds`` (each
round a fresh process, the two checkouts taking turns):

- **decode**: decoding the rows alone (the baseline: what any reader of the log pays);
- **fold, dicts**: ``LedgerState.apply`` over every row, signatures taken as valid (they are
  the workers' part), every per-stream map a dict: the fold's own cost;
- **fold, verifier's maps**: the same with the maps the verifier gives it (``Verifier``:
  lots, heads and lots in rooms in spill maps of as many entries as this machine's memory
  allows, ``resident_for``; whereabouts in memory), which is what ``verify`` pays on a
  ledger larger than its cache.

With ``--before PATH`` (another checkout of this project) the same is run there, on the
same rows, and both are printed side by side with their ratio. CPU time (this
process's own) is reported, so other processes on a shared machine add little; the load they
put on the cores is printed all the same.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def measure(db: str, rows: int, rounds: int) -> dict[str, Any]:
    """µs of CPU an event for each way, in this process's code."""
    from ledger.application.custody import open_ledger
    from ledger.core.rules import ALL_VALID
    from ledger.core.state import Event, LedgerState
    from ledger.domain import compiled_rows
    from ledger.verify import verifier
    from ledger.verify.rows import raw
    from ledger.verify.spill import SpillMap

    app = open_ledger(db, read_only=True)
    notes: list[Any] = []
    start = None
    while len(notes) < rows:
        page = app.recorder.select_notifications(start=start, limit=min(5000, rows - len(notes)))
        if not page:
            break
        notes.extend(page)
        start = page[-1].id + 1
    raws = [raw(note) for note in notes]

    def decode() -> list[Any]:
        return [compiled_rows.prepare(r) for r in raws]

    prepared = decode()
    events = [Event(note.id, p.body, p.signatures, p.event_hash.hex(), p.recorded_at, p.digest)
              for note, p in zip(notes, prepared)]

    def fold(maps: dict[str, Any]) -> None:
        state = LedgerState(**maps)
        for event in events:
            state.apply(event, ALL_VALID)

    def verifier_maps() -> dict[str, Any]:
        if hasattr(verifier, "resident_for"):  # as many in memory as the machine allows
            return verifier.state_maps(  # type: ignore[no-any-return]
                verifier.resident_for(verifier.available_memory()))
        if hasattr(verifier, "state_maps"):
            return verifier.state_maps()  # type: ignore[no-any-return]
        resident = verifier.RESIDENT  # an older checkout: every map spilled, as it was
        return {kind: SpillMap(resident) for kind in ("lots", "heads", "entered", "whereabouts")}

    ways = {"decode": decode, "fold, dicts": lambda: fold({}),
            "fold, verifier's maps": lambda: fold(verifier_maps())}
    result: dict[str, Any] = {"rows": len(events)}
    for name, work in ways.items():
        best = float("inf")
        for _ in range(rounds):
            began = time.process_time()
            work()
            best = min(best, time.process_time() - began)
        result[name] = best / max(1, len(events)) * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", action="append", required=True, help="a ledger (repeatable)")
    parser.add_argument("--rows", type=int, default=1_000_000_000, help="first N rows")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another checkout to compare against")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({db: measure(db, args.rows, args.rounds) for db in args.db}))
        return
    sys.path.insert(0, str(ROOT / "bench"))
    from machine import Load, describe

    print(describe())

    def run(checkout: Path) -> dict[str, Any]:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "--rows",
                   str(args.rows), "--rounds", "1"]
        for db in args.db:
            command += ["--db", str(Path(db).resolve())]
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        out = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout)

    def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {db: {way: min(run[db][way] for run in runs) for way in runs[0][db]}
                for db in runs[0]}

    # The two checkouts take turns, one round each, so a change in the machine's load
    # falls on both alike; the best round of each is kept.
    nows: list[dict[str, Any]] = []
    befores: list[dict[str, Any]] = []
    with Load() as load:
        for _ in range(args.rounds):
            nows.append(run(ROOT))
            if args.before:
                befores.append(run(args.before.resolve()))
    now = best(nows)
    before = best(befores) if befores else None
    print(f"load during the runs: {load}")
    header = "| ledger | rows | way | now µs/event | vs decode |"
    if before:
        header += " before µs/event | now / before |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for db in args.db:
        for way in ("decode", "fold, dicts", "fold, verifier's maps"):
            cells = [Path(db).name, f"{now[db]['rows']:,}", way, f"{now[db][way]:.1f}",
                     f"{now[db][way] / now[db]['decode']:.1f}x"]
            if before:
                cells += [f"{before[db][way]:.1f}", f"{now[db][way] / before[db][way]:.2f}"]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
