"""A resumed audit (``custody verify --state DIR``) against a full verify, in the same run.

    python bench/bench_resume.py --events 100000          # ~2-3 min on 2 busy cores
    python bench/bench_resume.py --events 1000000         # the issue's size (~20 min more)

On a copy of the generated ledger (``bench/data/ledger-<N>.db``, generated if missing):

1. ``custody verify --state DIR``: a full verify that saves the state (the first run);
2. 1,000 more co-signed lot events appended (new lots, later than everything before, written
   the way ``generate.py`` writes them, the stored Merkle tree growing with them);
3. ``custody verify --state DIR`` again: the resumed audit; it must be intact and say it
   checked exactly the 1,000 new events;
4. ``custody verify`` of the same, longer ledger without ``--state``: the baseline.

Each verify is the real command in a fresh process (``--json --workers N``), timed by wall
clock from start to exit (interpreter start-up and imports included, as an auditor waits for
them), with how much of the cores other processes used meanwhile. The table gives the
resumed run's time as a share of the baseline's (the issue's target: under 2%), and the
state file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import Load, describe

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
NEW_EVENTS = 1000


def label(events: int) -> str:
    return f"{events // 1_000_000}m" if events % 1_000_000 == 0 else f"{events // 1000}k"


def dataset(events: int, workers: int) -> Path:
    db = DATA / f"ledger-{label(events)}.db"
    if not db.exists():
        from generate import generate

        generate(db, events, people=2000, workers=workers)
    return db


def append(db: Path, total: int, count: int, seed: int = 7) -> int:
    """Append ``count`` lot events (new lots) to a ledger ``generate`` wrote with ``total``
    events, through the application's recorder as ``generate`` writes; return how many."""
    import generate as g
    from ledger.application.custody import open_ledger

    people = min(2000, max(12, total // 10))  # as generate() chose
    crew = g.roster(people)
    waves = list(g.plan(total - 1 - len(crew)))
    wave0, lot0 = len(waves), sum(len(w[2]) for w in waves)
    app = open_ledger(str(db))
    try:
        g._init_worker(crew, app.mapper)
        written = 0
        for wave, lot, steps in g.plan(count, seed):
            batch = g.build_wave((wave0 + wave, lot0 + lot, steps))
            for i in range(0, len(batch), g.BATCH):
                app.recorder.insert_events(batch[i:i + g.BATCH])
            written += len(batch)
    finally:
        app.close()
    return written


def verify(db: Path, workers: int, state: Path | None) -> dict[str, Any]:
    """One ``custody verify --json`` in a fresh process: its report, wall time and load."""
    custody = Path(sys.executable).parent / "custody"  # the installed entry point
    command = [str(custody), "--db", str(db), "verify", "--json",
               "--workers", str(workers)] + (["--state", str(state)] if state else [])
    with Load() as load:
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
        seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"verify failed ({done.returncode}): {done.stderr.strip()[:500]}")
    return {"report": json.loads(done.stdout), "seconds": seconds, "load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    source = dataset(args.events, args.workers)
    folder = Path(tempfile.mkdtemp(prefix="bench_resume_"))
    try:
        db, state = folder / "custody.db", folder / "audit"
        shutil.copyfile(source, db)
        first = verify(db, args.workers, state)
        assert first["report"]["intact"], first["report"]["findings"][:3]
        added = append(db, args.events, NEW_EVENTS)
        resumed = verify(db, args.workers, state)
        report = resumed["report"]
        assert report["intact"], report["findings"][:3]
        assert report["resumed"]["new_events"] == added == report["events"], report["resumed"]
        full = verify(db, args.workers, None)
        assert full["report"]["intact"] and full["report"]["events"] == args.events + added
        size = (state / "state").stat().st_size
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ratio = resumed["seconds"] / full["seconds"]
    print(f"# verify --state: resumed vs full, {args.events:,} events + {added:,} new\n")
    print(describe())
    print()
    print("| run | events checked | wall time | other processes |")
    print("|---|---:|---:|---|")
    print(f"| full verify with --state (first run: verifies, saves) | "
          f"{first['report']['events']:,} | {first['seconds']:.2f} s | {first['load']} |")
    print(f"| resumed verify --state after {added:,} new events | {report['events']:,} | "
          f"{resumed['seconds']:.2f} s | {resumed['load']} |")
    print(f"| full verify of the same ledger (baseline) | {full['report']['events']:,} | "
          f"{full['seconds']:.2f} s | {full['load']} |")
    print()
    print(f"Resumed / full: {100 * ratio:.2f}% (target < 2%). State file: "
          f"{size / 2**20:.1f} MiB ({size / args.events:.0f} bytes an event).")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
