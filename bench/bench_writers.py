"""Many writer processes at once: six-signature steps per second vs plain eventsourcing.

    python bench/bench_writers.py --steps 150 --writers 1 2 4 8

For each backend and each number of writer processes P, in the same run:

- **custody**: P processes, each opening the ledger itself and recording ``--steps``
  handovers (``record_handover``: drafted, validated, signed by 2 police and 4 staff, judged
  with all six signatures verified, appended; one transaction each) round-robin over its own
  lots, so writers never contend for a lot, only for the database;
- **plain**: P processes appending the same number of events with ``eventsourcing`` alone
  (read the aggregate, trigger an event, save), each carrying an unsigned payload as large,
  stored, as a custody handover, on the same library settings and the same durable
  connections (SQLite WAL + synchronous=FULL, PostgreSQL synchronous_commit=on).

All P processes open their database first and then start together; the rate is all their
events over the time from the common start to the last one's finish. PostgreSQL runs on a
fresh database on ``--postgres`` (dropped afterwards).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import secrets
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from eventsourcing.application import Application

import ledger.application.custody as custody
from bench_append import Bag, Registered, Stepped, custody_ledger, similar_payload
from generate import person_key
from machine import Load, describe
from ledger.application.keystore import Signer
from ledger.storage.backend import select_backend

LOTS_PER_WRITER = 8
TEAM = ["POL-01", "POL-02", "STF-01", "STF-02", "STF-03", "STF-04"]


def custody_writer(db: str, writer: int, steps: int, start: Any, results: Any) -> None:
    app = custody.open_ledger(db)
    team = [Signer(p, person_key(p)) for p in TEAM]
    holders: dict[str, str] = {}
    start.wait()
    began = time.monotonic()
    for n in range(steps):
        lot_id = f"LOT-{writer * LOTS_PER_WRITER + n % LOTS_PER_WRITER:05d}"
        giver = holders.get(lot_id, "STF-01")
        receiver = "STF-02" if giver == "STF-01" else "STF-01"
        app.record_handover(lot_id, giver, receiver, "Secure room 1", ["S-1", "S-2"], 30,
                            app.clock(), team)
        holders[lot_id] = receiver
    results.put((began, time.monotonic()))
    app.close()


def plain_writer(db: str, writer: int, steps: int, payload: dict, start: Any,
                 results: Any) -> None:
    app = Application[str](env=select_backend(db).env)
    start.wait()
    began = time.monotonic()
    for n in range(steps):
        bag = app.repository.get(f"bag:{writer * LOTS_PER_WRITER + n % LOTS_PER_WRITER:05d}")
        bag.trigger_event(Stepped, payload=payload)
        app.save(bag)
    results.put((began, time.monotonic()))
    app.close()


def race(target: Any, args: list[tuple], ctx: Any) -> tuple[float, Load]:
    """Run one process per args tuple, released together; seconds from start to last end."""
    start, results = ctx.Barrier(len(args)), ctx.Queue()
    processes = [ctx.Process(target=target, args=(*a, start, results)) for a in args]
    with Load() as load:
        for process in processes:
            process.start()
        spans = [results.get(timeout=3600) for _ in processes]
        for process in processes:
            process.join()
            if process.exitcode != 0:
                raise SystemExit(f"a writer failed (exit {process.exitcode})")
    return max(end for _, end in spans) - min(began for began, _ in spans), load


class Databases:
    """Fresh databases for each measurement: SQLite files, or PostgreSQL databases."""

    def __init__(self, backend: str, folder: Path, server: str) -> None:
        self.backend, self.folder, self.server = backend, folder, server.rstrip("/")
        self.made: list[str] = []

    def new(self, name: str) -> str:
        if self.backend == "sqlite":
            return str(self.folder / f"{name}.db")
        import psycopg

        dbname = f"bench_{name}_{secrets.token_hex(4)}".replace("-", "_")
        with closing(psycopg.connect(f"{self.server}/postgres", autocommit=True)) as admin:
            admin.execute(f'CREATE DATABASE "{dbname}"')
        self.made.append(dbname)
        return f"{self.server}/{dbname}"

    def drop(self) -> None:
        if not self.made:
            return
        import psycopg

        with closing(psycopg.connect(f"{self.server}/postgres", autocommit=True)) as admin:
            for dbname in self.made:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def measure(backend: str, writers: int, steps: int, dbs: Databases, ctx: Any) -> dict:
    lots = writers * LOTS_PER_WRITER
    db = dbs.new(f"custody-{writers}")
    app, _, _ = custody_ledger(Path(db) if backend == "sqlite" else db, lots)  # type: ignore[arg-type]
    payload, size = similar_payload(app)
    app.close()
    custody_s, custody_load = race(custody_writer, [(db, w, steps) for w in range(writers)], ctx)

    plain_db = dbs.new(f"plain-{writers}")
    bags = Application[str](env=select_backend(plain_db).env)
    for i in range(lots):
        bags.save(Bag._create(Registered, id=f"bag:{i:05d}", payload=payload))
    bags.close()
    plain_s, plain_load = race(plain_writer, [(plain_db, w, steps, payload)
                                              for w in range(writers)], ctx)
    events = writers * steps
    return {"backend": backend, "writers": writers, "events": events, "size": size,
            "custody": events / custody_s, "plain": events / plain_s,
            "load": f"{100 * max(custody_load.others, plain_load.others):.0f}%"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="events per writer process")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432",
                        help="server to create the benchmark's databases on")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")  # each writer starts clean, as a separate command would
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-writers-") as tmp:
        for backend in args.backends:
            dbs = Databases(backend, Path(tmp), args.postgres)
            try:
                for writers in args.writers:
                    rows.append(measure(backend, writers, args.steps, dbs, ctx))
                    r = rows[-1]
                    print(f"  {backend} x{writers}: custody {r['custody']:,.0f}/s, "
                          f"plain {r['plain']:,.0f}/s", flush=True)
            finally:
                dbs.drop()
    print(f"\nMachine: {describe()}\n")
    print(f"### Writer processes at once, {args.steps} events each, one event per transaction\n")
    print("| backend | writers | custody steps/s (6 signatures) | plain eventsourcing events/s "
          "| custody / plain | stored bytes/event | other load |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['writers']} | {r['custody']:,.0f} | {r['plain']:,.0f} | "
              f"{r['custody'] / r['plain']:.2f} | {r['size']:,} | {r['load']} |")


if __name__ == "__main__":
    main()
