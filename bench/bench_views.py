"""Read commands answered from the view, against same-run baselines, on generated ledgers.

    python bench/bench_views.py --db bench/data/ledger-100k.db [--db ...] [--runs 5]

For each ledger (copied to a temp file first; the dataset is never changed):

- a full ``projections rebuild`` (in process), against a plain eventsourcing replay of the
  same events (read and decode only: ``select_notifications`` pages through the library's
  mapper), and the view's size as a share of the events' (file size before and after);
- the CLI commands ``status LOT``, ``history LOT``, ``presence --lot LOT``,
  ``status --holder X`` and ``status --as-of T`` (every lot), each the median wall time of
  ``--runs`` fresh processes, as a ratio to ``custody --version`` measured in the same run
  (interpreter and import start-up: what any command costs; with Python's bytecode cache,
  as an installed copy runs, ``machine.installed_env``), and the same queries in process
  (no start-up) as a ratio to reading one events row by primary key;
- catch-up: the view is rebuilt up to 1,000 events before the head, then those 1,000 are
  folded (in process), per event; and ``status LOT`` run with the view 1,000 events behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import Load, describe, installed_env  # noqa: E402

from ledger.application.custody import open_ledger  # noqa: E402
from ledger.projections import access, history, queries  # noqa: E402
from ledger.projections.projection import catch_up  # noqa: E402

BEHIND = 1000


def cli(db: str, *args: str) -> float:
    """Wall seconds of one fresh ``custody`` process (output discarded); fails loudly."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cli", "--db", db, *args], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=installed_env())
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"custody {' '.join(args)} failed: {done.stderr.strip()}")
    return took


def median(runs: int, once: Callable[[], float]) -> float:
    return statistics.median(once() for _ in range(runs))


def timed(once: Callable[[], Any]) -> float:
    start = time.perf_counter()
    once()
    return time.perf_counter() - start


def checkpoint(db: str) -> None:
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def replay(db: str) -> tuple[int, float]:
    """A plain eventsourcing replay: every stored event read and decoded, nothing folded."""
    app = open_ledger(db, read_only=True)
    start, count, began = None, 0, time.perf_counter()
    while True:
        notes = app.recorder.select_notifications(start=start, limit=1000)
        if not notes:
            break
        for note in notes:
            app.mapper.to_domain_event(note)
        count += len(notes)
        start = notes[-1].id + 1
    took = time.perf_counter() - began
    app.close()
    return count, took


def pick(db: str) -> tuple[str, str, str]:
    """A lot in the middle of the ledger, its holder, and a time half-way through the log."""
    with closing(sqlite3.connect(db)) as connection:
        (lots,) = connection.execute("SELECT COUNT(*) FROM view_lots").fetchone()
        lot, holder = connection.execute("SELECT lot, holder FROM view_lots ORDER BY lot "
                                         "LIMIT 1 OFFSET ?", [lots // 2]).fetchone()
        (steps,) = connection.execute("SELECT COUNT(*) FROM view_steps").fetchone()
        (moment,) = connection.execute("SELECT occurred_at FROM view_steps ORDER BY position "
                                       "LIMIT 1 OFFSET ?", [steps // 2]).fetchone()
    return lot, holder, moment


def bench(dataset: Path, runs: int) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="bench_views_"))
    try:
        db = str(folder / "custody.db")
        shutil.copyfile(dataset, db)
        checkpoint(db)
        events_size = os.path.getsize(db)
        out = [f"### {dataset.name}", ""]

        # Rebuild against a plain replay, and the view's size.
        with Load() as load:
            events, plain = replay(db)
            app = open_ledger(db)
            built = timed(lambda: access.rebuild(app))
            app.close()
        checkpoint(db)
        view_size = os.path.getsize(db) - events_size
        out += [f"{events:,} events. Full rebuild {built:.1f} s ({events / built:,.0f} events/s); "
                f"plain replay (read + decode) {plain:.1f} s ({events / plain:,.0f} events/s): "
                f"rebuild at {plain / built:.2f}× the replay's speed. View "
                f"{view_size / 2**20:.0f} MiB = {100 * view_size / events_size:.0f}% of the "
                f"events' {events_size / 2**20:.0f} MiB. ({load})", ""]

        lot, holder, moment = pick(db)
        reader = open_ledger(db, read_only=True)
        view = access.stored_view(reader)
        assert view is not None and view.position() == reader.last_position()
        position = reader.last_position()

        # Fresh processes, as a user runs them, against `custody --version`.
        commands = {
            f"status {lot}": ["status", lot],
            f"history {lot}": ["history", lot],
            f"presence --lot {lot}": ["presence", "--lot", lot],
            f"status --holder {holder}": ["status", "--holder", holder],
            f"status --as-of {moment} (all lots)": ["status", "--as-of", moment],
        }
        in_process = {
            f"status {lot}": lambda: queries.lots_now(view, lot=lot),
            f"history {lot}": lambda: history.lot_history(view, reader.events_at, lot),
            f"presence --lot {lot}": lambda: queries.presence(view, lot=lot),
            f"status --holder {holder}": lambda: queries.lots_now(view, holder=holder),
            f"status --as-of {moment} (all lots)":
                lambda: queries.filter_lots(queries.lots_at(view, as_of=moment)),
        }
        with Load() as load:
            startup = median(runs, lambda: cli(db, "--version"))
            row = median(runs * 20, lambda: timed(lambda: reader.recorder.select_notifications(
                start=position // 2, stop=position // 2, limit=1)))
            rows = [(name, median(runs, lambda args=args: cli(db, *args)),
                     median(runs, lambda q=in_process[name]: timed(q)))
                    for name, args in commands.items()]
        out += [f"Baselines: `custody --version` {1000 * startup:.0f} ms; one events row by "
                f"primary key, in process, {1e6 * row:.0f} µs. ({load})", "",
                "| command | CLI wall | ratio to `--version` | in process | ratio to one row |",
                "|---|---:|---:|---:|---:|"]
        out += [f"| `{name}` | {1000 * wall:.0f} ms | {wall / startup:.2f}× | "
                f"{1000 * inner:.2f} ms | {inner / row:,.0f}× |" for name, wall, inner in rows]
        reader.close()

        # Catch-up: the last BEHIND events folded into a view that stands before them.
        app = open_ledger(db)
        writable = access.writable_view(app)
        writable.clear()
        catch_up(writable, app.recorder, until=position - BEHIND)
        # As a command finds a view behind: indexed (clear left the indexes to the end of
        # the fold, which `until` stopped short of), so the timing is the catch-up's alone.
        writable.index()
        with Load() as load:
            took = timed(lambda: catch_up(writable, app.recorder))
        assert writable.position() == position
        writable.clear()
        catch_up(writable, app.recorder, until=position - BEHIND)
        writable.index()
        app.close()
        behind = cli(db, "status", lot)  # one run: it catches the view up
        out += ["", f"Catch-up: {BEHIND:,} new events folded in {1000 * took:.0f} ms "
                f"({1e6 * took / BEHIND:.0f} µs an event); `status {lot}` with the view "
                f"{BEHIND:,} events behind: {1000 * behind:.0f} ms "
                f"({behind / startup:.2f}× `--version`). ({load})", ""]
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, action="append", required=True,
                        help="a generated ledger (bench/generate.py); repeat for several")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command")
    args = parser.parse_args()
    print(describe())
    print()
    for dataset in args.db:
        for line in bench(dataset, args.runs):
            print(line, flush=True)


if __name__ == "__main__":
    main()
