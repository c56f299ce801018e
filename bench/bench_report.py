"""``custody report`` against ``custody verify`` on the same generated ledger, same run.

    python bench/bench_report.py [--events 10000] [--runs 3]

Generates a ledger (``generate.py``) in a temporary folder, brings its view up to date once
(``custody status``: every read command pays that the same way), then times, each the median
wall time of ``--runs`` fresh processes:

- ``custody verify`` (the baseline: the report runs the same full verification);
- ``custody report --out`` of every lot, and of one lot;

and prints each as a ratio to the baseline, with the report's size. The difference is what
the report adds: reading each lot's steps from the log through the view, the rooms, and
rendering the HTML.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import subprocess  # noqa: E402
import time  # noqa: E402
from generate import generate  # noqa: E402
from machine import describe  # noqa: E402


def cli(db: str, *args: str) -> float:
    """Wall seconds of one fresh ``custody`` process. Exit 1 (verify found errors) is an
    answer too: ``generate.py`` ledgers of some revisions carry RECORDED_AT_REVERSED errors
    at wave boundaries, which cost the report nothing more than a row each."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cli", "--db", db, *args], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"custody {' '.join(args)} failed: {done.stderr.strip()}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="custody-bench-report-") as folder:
        db = str(Path(folder) / "ledger.db")
        lots = generate(Path(db), args.events, 2000, 2, quiet=True)
        cli(db, "status", "--json")  # the view, once
        import sqlite3

        with sqlite3.connect(db) as c:
            one = c.execute("SELECT lot FROM view_lots ORDER BY lot LIMIT 1").fetchone()[0]
        out = Path(folder) / "report.html"

        def median(*command: str) -> float:
            return statistics.median(cli(db, *command) for _ in range(args.runs))

        verify = median("verify", "--workers", "2")
        everything = median("report", "--out", str(out), "--force", "--workers", "2")
        size = out.stat().st_size
        single = median("report", "--out", str(out), "--force", "--lot", one, "--workers", "2")
    print(describe())
    print(f"ledger: {args.events:,} events, {lots:,} lots; median of {args.runs} runs")
    print(f"| command | seconds | ratio to verify |\n|---|---:|---:|")
    for name, took in (("custody verify", verify),
                       (f"custody report (every lot; {size / 1e6:.1f} MB of HTML)", everything),
                       ("custody report --lot (one lot)", single)):
        print(f"| {name} | {took:.2f} | {took / verify:.2f} |")


if __name__ == "__main__":
    main()
