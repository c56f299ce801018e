"""Read commands on a ledger whose view is current: this checkout against another, same run.

    python bench/bench_reads.py --db season-1m.db --before DIR [--rounds 5] [--as-of TIME]

``--db`` is used as it is (not copied): bring its view up to the log's head first
(``custody --db ... projections rebuild``), or the first command does it. ``--before`` is
another checkout (say ``git archive <commit> | tar -x -C DIR``) run with its code first on
PYTHONPATH; the view must be one both versions read (the same view version).

Each round runs ``custody --version``, then each command with this checkout and with
BEFORE, one after the other, in fresh processes with Python's bytecode cache
(``machine.installed_env``). The commands: ``status LOT``, ``history LOT``,
``presence --lot LOT`` (LOT a lot in the middle of the view's lots), ``status --as-of
TIME``, ``status --at POSITION`` (half the log) and ``status`` (every lot). Prints the
median wall time of each, each way, the ratio now / before and each as a ratio to
``--version``; and fails if the two ways print different output for any command.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from machine import Load, describe, installed_env  # noqa: E402

CUSTODY = str(Path(sys.executable).parent / "custody")


def run(args: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    """Wall seconds and standard output of one fresh process (exit 0, or 1 for findings)."""
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args[:6])} ... exited {done.returncode}: "
                         f"{done.stderr.decode().strip()}")
    return wall, done.stdout


def commands(db: Path, as_of: str) -> list[list[str]]:
    with closing(sqlite3.connect(db)) as connection:
        lots = connection.execute("SELECT COUNT(*) FROM view_lots").fetchone()[0]
        if not lots:
            raise SystemExit(f"{db} has no view: run 'custody --db {db} projections rebuild'")
        (lot,) = connection.execute("SELECT lot FROM view_lots WHERE kind != 'container' "
                                    "ORDER BY lot LIMIT 1 OFFSET ?", [lots // 2]).fetchone()
        (position,) = connection.execute(
            "SELECT value FROM view_meta WHERE key = 'position'").fetchone()
    return [["status", lot], ["history", lot], ["presence", "--lot", lot],
            ["status", "--as-of", as_of], ["status", "--at", str(int(position) // 2)],
            ["status"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a ledger whose view is current")
    parser.add_argument("--before", type=Path, required=True, metavar="DIR",
                        help="the other checkout, run with its code first on PYTHONPATH")
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per command")
    parser.add_argument("--as-of", default="2026-06-07T14:05:00+08:00", metavar="TIME",
                        help="the time status --as-of asks about (default: the season's "
                             "second exam day, 14:05 +08:00)")
    args = parser.parse_args(argv)
    print(describe())
    envs = {"before": installed_env({"PYTHONPATH": str(args.before.resolve())}),
            "now": installed_env()}
    asked = commands(args.db, args.as_of)
    times: dict[str, list[float]] = {"--version": []}
    with Load() as load:
        for _ in range(args.rounds):
            times["--version"].append(run([CUSTODY, "--version"], envs["now"])[0])
            for command in asked:
                printed = {}
                for way, env in envs.items():
                    wall, printed[way] = run([CUSTODY, "--db", str(args.db), *command], env)
                    times.setdefault(f"{' '.join(command)}\t{way}", []).append(wall)
                if printed["now"] != printed["before"]:
                    raise SystemExit(f"custody {' '.join(command)}: the two ways printed "
                                     "different output")
    print(load)
    version = statistics.median(times["--version"])
    print(f"`custody --version`: {version * 1e3:.0f} ms; median of {args.rounds} each")
    print("| command | before ms | now ms | now / before | before / `--version` "
          "| now / `--version` |")
    print("|---|---:|---:|---:|---:|---:|")
    for command in asked:
        name = " ".join(command)
        before, now = (statistics.median(times[f"{name}\t{way}"]) for way in ("before", "now"))
        print(f"| `{name}` | {before * 1e3:.0f} | {now * 1e3:.0f} | {now / before:.2f} "
              f"| {before / version:.1f}x | {now / version:.1f}x |")


if __name__ == "__main__":
    main()
