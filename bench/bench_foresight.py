"""What saying verify's verdict at record time costs: ``record_handover`` with and without
the foresight (``ledger/application/foresight.py``), alternated in one run.

    python bench/bench_foresight.py --events 400 --rounds 3

Each round records ``--events`` handovers on a fresh SQLite ledger (six signers, lots
round-robin, as ``bench_append.py``) twice: once as the recorder now does — after the append,
the view is brought up to the log's head and the findings it recorded at the step are read
back — and once with the foresight switched off (the baseline: the recorder's own warnings
only). The view is brought up to date after every append on both sides, as every writing
command of the CLI does, so the comparison is what an officer's command pays for it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import ledger.application.submitting as submitting
from bench_append import Handovers, STEPS_PER_LOT, custody_ledger
from machine import Load, describe
from ledger.projections import access


def record(events: int, foresight: bool, folder: Path, cli: bool) -> tuple[float, Load]:
    """Seconds ``events`` handovers took, each followed by the view's catch-up if ``cli``."""
    lots = max(1, events // STEPS_PER_LOT)
    app, team, clock = custody_ledger(folder / f"custody-{foresight}.db", lots)
    steps = Handovers(app, team, clock, lots)
    original = submitting.foresee
    if not foresight:
        submitting.foresee = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        access.refresh(app)
        with Load() as load:
            began = time.perf_counter()
            for _ in range(events):
                steps.run(1)
                if cli:
                    access.refresh(app)  # what refresh_after_write does after every command
            took = time.perf_counter() - began
    finally:
        submitting.foresee = original
        app.close()
    return took, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=400, help="handovers per side and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds")
    parser.add_argument("--api", action="store_true",
                        help="no catch-up of the view after each append (an API loop)")
    args = parser.parse_args()
    rows: list[tuple[int, float, float, Any, Any]] = []
    for round_ in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="bench-foresight-") as tmp:
            off, off_load = record(args.events, False, Path(tmp), not args.api)
            on, on_load = record(args.events, True, Path(tmp), not args.api)
        rows.append((round_, off, on, off_load, on_load))
    print(f"Machine: {describe()}\n")
    what = "record_handover alone" if args.api else "record_handover + view catch-up"
    print(f"### {what}, {args.events:,} handovers a side, SQLite\n")
    print("| round | without foresight (baseline) | with foresight | ratio | during the runs |")
    print("|---:|---:|---:|---:|---|")
    for round_, off, on, off_load, on_load in rows:
        print(f"| {round_} | {args.events / off:,.0f} events/s | {args.events / on:,.0f} "
              f"events/s | **{on / off:.2f}** | {off_load}; {on_load} |")
    ratios = sorted(on / off for _, off, on, _, _ in rows)
    print(f"\nmedian cost of the foresight: {ratios[len(ratios) // 2]:.2f}x the time per step")


if __name__ == "__main__":
    main()
