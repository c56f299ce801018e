"""What impossible presence (PRESENCE_CONFLICT) costs the fold, and what replay and the
timelines cost to read, against same-run baselines, on generated ledgers.

    python bench/bench_presence.py --db bench/data/ledger-20k.db [--db ...] [--runs 3]

For each ledger (copied to a temp file first; the dataset is never changed):

- the fold: every stored event decoded once into memory, then folded by a fresh
  ``LedgerState`` (signatures taken as checked, as the view folds them) with the presence
  check switched off (``_place_people`` returns nothing: the fold before it) and on,
  alternately, ``--runs`` times each; median events/s and the ratio;
- reads, in process, from the view (rebuilt once): ``replay --lot L`` against
  ``presence --lot L`` (the same steps without holders, checks and findings) and
  ``timeline person P`` against ``presence --person P``, each the median of ``--runs``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import Load, describe  # noqa: E402

from ledger.application.custody import open_ledger  # noqa: E402
from ledger.core.rules import ALL_VALID  # noqa: E402
from ledger.core.state import Event, LedgerState  # noqa: E402
from ledger.domain.stored import prepare, raw  # noqa: E402
from ledger.projections import access, queries  # noqa: E402
from ledger.projections import timeline as tl  # noqa: E402


def load(db: str) -> list[Event]:
    app = open_ledger(db, read_only=True)
    events, start = [], None
    while True:
        notes = app.recorder.select_notifications(start=start, limit=1000)
        if not notes:
            break
        for note in notes:
            row = prepare(raw(note))
            events.append(Event(note.id, row.body, row.signatures or {}, row.event_hash.hex(),
                                row.recorded_at or "", row.digest))
        start = notes[-1].id + 1
    app.close()
    return events


def fold(events: list[Event], presence: bool) -> tuple[float, int]:
    original = LedgerState._place_people
    if not presence:
        LedgerState._place_people = lambda self, event, present: []  # type: ignore[method-assign]
    try:
        state, conflicts = LedgerState(), 0
        began = time.perf_counter()
        for event in events:
            conflicts += sum(f.code == "PRESENCE_CONFLICT" for f in state.apply(event, ALL_VALID).findings)
        return time.perf_counter() - began, conflicts
    finally:
        LedgerState._place_people = original  # type: ignore[method-assign]


def median_of(runs: int, once: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        once()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench(dataset: Path, runs: int) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / dataset.name)
        shutil.copyfile(dataset, db)
        events = load(db)
        off, on, conflicts = [], [], 0
        for _ in range(runs):
            off.append(fold(events, False)[0])
            took, conflicts = fold(events, True)
            on.append(took)
        n = len(events)
        rate_off, rate_on = n / statistics.median(off), n / statistics.median(on)
        rows = [f"| {dataset.name} | fold, presence check off (baseline) | {n:,} events | "
                f"{rate_off:,.0f} events/s | 1.00 |",
                f"| {dataset.name} | fold, presence check on | {n:,} events, {conflicts:,} "
                f"PRESENCE_CONFLICT | {rate_on:,.0f} events/s | {rate_off / rate_on:.2f} |"]
        writer = open_ledger(db)
        access.rebuild(writer)
        view = access.writable_view(writer)
        lot = view.query("SELECT lot FROM view_lots ORDER BY lot LIMIT 1 OFFSET "
                         "(SELECT COUNT(*) / 2 FROM view_lots)")[0][0]
        person = view.query("SELECT person FROM view_attendee_names GROUP BY person "
                            "ORDER BY COUNT(*) DESC LIMIT 1")[0][0]
        for name, mine, base in (
                (f"replay --lot {lot} vs presence --lot",
                 lambda: tl.replay(view, lot=lot), lambda: queries.presence(view, lot=lot)),
                (f"timeline person {person} vs presence --person",
                 lambda: tl.person_timeline(view, person),
                 lambda: queries.presence(view, person=person))):
            ours, theirs = median_of(runs, mine), median_of(runs, base)
            rows.append(f"| {dataset.name} | {name} | in process | {ours * 1000:.1f} ms vs "
                        f"{theirs * 1000:.1f} ms | {ours / theirs:.2f} |")
        writer.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(describe())
    print("| ledger | what | size | result | ratio to baseline |")
    print("|---|---|---|---:|---:|")
    with Load() as load:
        for dataset in args.db:
            for row in bench(dataset, args.runs):
                print(row, flush=True)
    print(f"during the run: {load}")


if __name__ == "__main__":
    main()
