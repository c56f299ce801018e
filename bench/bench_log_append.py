"""What the Merkle tree costs an append, and the bytes it adds per event: SQLite and PostgreSQL.

    python bench/bench_log_append.py                         # both backends
    python bench/bench_log_append.py --backends sqlite --single 1000 --batches 100

The recorders write the tree's stored hashes and leaf rows inside every append's
transaction (``ledger/storage/tree.py``). To see what that costs, the same appends run,
in the same process and interleaved round by round (so drift in the machine's load hits
both sides alike), against two fresh databases of one backend: one with the ledger's
recorder as it is, one whose recorder has the tree insert switched off (``TreeOff``, a
``TreeTables`` whose ``append`` does nothing: used only here). Three workloads:

- **single**: the recorder's ``insert_events`` with one stored event per transaction (each
  commit is durable: fsync on SQLite, synchronous_commit on PostgreSQL) — the floor an
  officer's step pays, with nothing else in the way;
- **batch**: the same with 100 events per transaction (a bulk import, a multi-lot step);
- **custody**: ``CustodyLedger.record_handover`` with six signers (``bench_append.py``'s
  workload), one per transaction: what an officer's step costs end to end.

Stored events are 977 bytes (a handover as stored) of random content: the tree's work does
not depend on what the bytes say. The ratio is with-tree time / without-tree time - 1.

Verify's stored-tree check (``StoredTreeAudit``): on the same database, the tree recomputed
from the events' hashes with and without every stored row streamed and compared.

Bytes the tree adds: after the batch workload, the tree tables' size divided by the events
they cover, next to the events table's own bytes per event. SQLite: the ``dbstat`` virtual
table (pages of each table and index, WAL included); PostgreSQL: ``pg_total_relation_size``
(heap, indexes and TOAST) of each table.

PostgreSQL: ``--postgres postgresql://USER@HOST:PORT`` (default: postgres@127.0.0.1:5432);
a database is created for each side and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eventsourcing.persistence import StoredEvent  # noqa: E402

from ledger.application.custody import open_ledger  # noqa: E402
from ledger.storage.tree import TreeTables  # noqa: E402
from machine import Load, describe  # noqa: E402

STORED_SIZE = 977  # bytes of a six-signer handover as stored (bench_append.py)
BATCH = 100


class TreeOff(TreeTables):
    """The tree's SQL with ``append`` switched off: the recorder appends events only."""

    def append(self, c: Any, new: Any) -> int:
        return 0


def switch_tree_off(recorder: Any) -> None:
    recorder.tree.__class__ = TreeOff


class Databases:
    """Fresh databases for one backend, removed at the end."""

    def __init__(self, backend: str, server: str, folder: Path) -> None:
        self.backend, self.server, self.folder = backend, server, folder
        self.made: list[str] = []

    def new(self, name: str) -> str:
        if self.backend == "sqlite":
            return str(self.folder / f"{name}.db")
        import psycopg

        database = f"bench_log_{name}_{secrets.token_hex(4)}"
        with closing(psycopg.connect(f"{self.server}/postgres", autocommit=True)) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        self.made.append(database)
        return f"{self.server}/{database}"

    def drop(self) -> None:
        if not self.made:
            return
        import psycopg

        with closing(psycopg.connect(f"{self.server}/postgres", autocommit=True)) as admin:
            for database in self.made:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def events(prefix: str, start: int, count: int) -> list[StoredEvent]:
    return [StoredEvent(f"bench:{prefix}:{n}", 1, "bench.Event", os.urandom(STORED_SIZE))
            for n in range(start, start + count)]


class Side:
    """One database and a way to append ``n`` more events to it, timed."""

    def __init__(self, name: str, db: str, tree: bool) -> None:
        self.name, self.db, self.tree = name, db, tree
        self.app = open_ledger(db, create=True)
        self.recorder: Any = self.app.recorder
        if not tree:
            switch_tree_off(self.recorder)
        self.appended = 0
        self.seconds: list[float] = []  # per round, per event

    def recorder_round(self, n: int, per_transaction: int) -> None:
        todo = [events(self.name, self.appended + i, per_transaction)
                for i in range(0, n, per_transaction)]
        began = time.perf_counter()
        for batch in todo:
            self.recorder.insert_events(batch)
        self.seconds.append((time.perf_counter() - began) / n)
        self.appended += n

    def close(self) -> None:
        self.app.close()


def interleaved(sides: list[Any], rounds: int, run: Callable[[Any], None]) -> Load:
    """Run ``run(side)`` for every side, ``rounds`` times, alternating which goes first."""
    with Load() as load:
        for r in range(rounds):
            for side in (sides if r % 2 == 0 else list(reversed(sides))):
                run(side)
    return load


def cost_row(label: str, with_tree: list[float], without: list[float], load: Load) -> str:
    on, off = statistics.median(with_tree), statistics.median(without)
    return (f"| {label} | {1 / on:,.0f} | {1 / off:,.0f} | {on * 1e3:.3f} | {off * 1e3:.3f} | "
            f"**{100 * (on / off - 1):+.1f}%** | {load} |")


def recorder_workloads(dbs: Databases, backend: str, single: int, batches: int, rounds: int
                       ) -> tuple[list[str], Side]:
    rows = []
    on, off = Side("single_on", dbs.new("single_on"), True), Side("single_off",
                                                                   dbs.new("single_off"), False)
    on.recorder_round(20, 1)  # warm up: connections, statements
    off.recorder_round(20, 1)
    on.seconds.clear(), off.seconds.clear()
    load = interleaved([on, off], rounds, lambda s: s.recorder_round(single // rounds, 1))
    rows.append(cost_row(f"{backend}, 1 event / transaction", on.seconds, off.seconds, load))
    on.close(), off.close()
    on, off = Side("batch_on", dbs.new("batch_on"), True), Side("batch_off",
                                                                dbs.new("batch_off"), False)
    per_round = batches * BATCH // rounds
    load = interleaved([on, off], rounds, lambda s: s.recorder_round(per_round, BATCH))
    rows.append(cost_row(f"{backend}, {BATCH} events / transaction", on.seconds, off.seconds,
                         load))
    off.close()
    return rows, on  # the batch database with its tree, for the bytes table


class HandoverSide:
    """A custody ledger recording six-signer handovers, with or without the tree."""

    def __init__(self, db: str, tree: bool, events_total: int) -> None:
        from bench_append import STEPS_PER_LOT, Handovers, custody_ledger

        lots = max(1, events_total // STEPS_PER_LOT)
        app, team, clock = custody_ledger(db, lots)  # type: ignore[arg-type]
        if not tree:
            switch_tree_off(app.recorder)
        self.app = app
        self.steps = Handovers(app, team, clock, lots)
        self.seconds: list[float] = []

    def round(self, n: int) -> None:
        began = time.perf_counter()
        self.steps.run(n)
        self.seconds.append((time.perf_counter() - began) / n)


def custody_workload(dbs: Databases, backend: str, handovers: int, rounds: int) -> str:
    on = HandoverSide(dbs.new("custody_on"), True, handovers)
    off = HandoverSide(dbs.new("custody_off"), False, handovers)
    load = interleaved([on, off], rounds, lambda s: s.round(handovers // rounds))
    row = cost_row(f"{backend}, `record_handover` (6 signers), 1 / transaction", on.seconds,
                   off.seconds, load)
    on.app.close(), off.app.close()
    return row


def tree_bytes(side: Side, backend: str) -> str:
    """One row of the bytes table: the tree tables' bytes per event beside the events'."""
    recorder = side.recorder
    events_count = recorder.tree_size()
    with recorder.datastore.transaction(commit=False) as c:
        if backend == "sqlite":
            c.execute("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name")
            sizes = {row["name"]: int(row["bytes"]) for row in c.fetchall()}
            stored = sum(v for k, v in sizes.items() if "stored_events" in k)
            hashes = sizes.get("tree_hashes", 0)
            leaves = sizes.get("tree_leaves", 0)
        else:
            names = {"stored": recorder.tree.events, "hashes": recorder.tree.hashes,
                     "leaves": recorder.tree.leaves}
            found = {}
            for key, table in names.items():
                c.execute("SELECT pg_total_relation_size(%s::regclass) AS bytes", (table,))
                found[key] = int(c.fetchone()["bytes"])
            stored, hashes, leaves = found["stored"], found["hashes"], found["leaves"]
    per = max(1, events_count)
    return (f"| {backend} | {events_count:,} | {stored / per:,.0f} | "
            f"**{(hashes + leaves) / per:,.0f}** | {hashes / per:,.0f} | {leaves / per:,.0f} | "
            f"{100 * (hashes + leaves) / stored:.0f}% |")


def verify_check_cost(side: Side, backend: str) -> str:
    """What verify's stored-tree check adds: the tree recomputed from the events' hashes
    (``LogAudit``) alone, then with every stored hash and leaf row streamed in pages and
    compared (``StoredTreeAudit``), same events, same run."""
    from ledger.core.digests import event_hash_of_bytes
    from ledger.verify.log import LogAudit, StoredTreeAudit

    recorder = side.recorder
    rows, start = [], None
    while page := recorder.select_notifications(start=start, limit=5000):
        rows += [(n.id, event_hash_of_bytes(n.state)) for n in page]
        start = page[-1].id + 1
    times = {}
    for label, stored in (("alone", False), ("with", True)):
        began = time.perf_counter()
        audit = LogAudit((), StoredTreeAudit.of(recorder) if stored else None)
        for position, event_hash in rows:
            audit.add(event_hash, None, position, None)
        if stored:
            assert audit.stored is not None and audit.stored.findings(audit.size) == []
        times[label] = (time.perf_counter() - began) / len(rows)
    extra = times["with"] - times["alone"]
    return (f"| {backend} | {len(rows):,} | {times['alone'] * 1e6:.1f} | "
            f"{times['with'] * 1e6:.1f} | **{extra * 1e6:.1f}** |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432",
                        help="server to create the databases on")
    parser.add_argument("--single", type=int, default=2000, help="single-event appends per side")
    parser.add_argument("--batches", type=int, default=200, help=f"{BATCH}-event batches per side")
    parser.add_argument("--handovers", type=int, default=200,
                        help="record_handover calls per side (0: skip)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per workload")
    args = parser.parse_args()

    costs, sizes, checks = [], [], []
    for backend in args.backends:
        with tempfile.TemporaryDirectory(prefix="bench-log-append-") as tmp:
            dbs = Databases(backend, args.postgres, Path(tmp))
            try:
                rows, batch_side = recorder_workloads(dbs, backend, args.single, args.batches,
                                                      args.rounds)
                costs += rows
                sizes.append(tree_bytes(batch_side, backend))
                checks.append(verify_check_cost(batch_side, backend))
                batch_side.close()
                if args.handovers:
                    costs.append(custody_workload(dbs, backend, args.handovers, args.rounds))
            finally:
                dbs.drop()

    print(f"Machine: {describe()}\n")
    print(f"### The tree's cost per append (median of {args.rounds} interleaved rounds)\n")
    print("| backend, workload | with tree, events/s | without, events/s | with, ms/event | "
          "without, ms/event | tree's cost | during the run |")
    print("|---|---:|---:|---:|---:|---:|---|")
    print("\n".join(costs))
    print(f"\n### Bytes the tree adds per event (the {BATCH}-event-batch database)\n")
    print("| backend | events | events table, B/event | tree, B/event | tree_hashes | "
          "tree_leaves | tree / events table |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(sizes))
    print("\n### What verify's stored-tree check adds (the same database)\n")
    print("| backend | events | tree recomputed, µs/event | and every stored row compared, "
          "µs/event | the check's cost, µs/event |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(checks))


if __name__ == "__main__":
    main()
