"""Evidence bundles: how big a one-lot bundle is, and how fast it is exported and verified.

    python bench/bench_bundle.py                            # 20k and 100k events, 2,000 people;
                                                            # 100k with 500 and 8,000 people
    python bench/bench_bundle.py --ledgers 1000000:2000     # EVENTS:PEOPLE, repeatable

For each generated ledger (``generate.py``; a copy under ``bench/data/`` gets a log key and a
signed checkpoint), one lot from the middle of the log is exported, then verified:

- in process: ``parse_bundle`` + ``verify_bundle`` (what ``custody verify-bundle`` runs);
- as a user runs it: ``custody verify-bundle`` in a fresh process, no database (wall time,
  median of 3), beside ``custody --version`` (start-up alone) in the same run;
- baseline, same run: raw Ed25519 verification of the same number of signatures (the
  bundle's own, through ``keys.verify_batch``, the verifier's strict rule), and one SHA-256
  pass over the bundle's bytes.

The target (issue 13): a one-lot bundle from a 1M-event ledger verified offline in under 2 s.
A bundle holds the whole roster and ledger stream, so its size follows the roster, not the
log: the "roster share" column says how much of it that is.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import msgpack

from machine import Load, describe

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
CUSTODY = str(Path(sys.executable).with_name("custody"))
DEFAULT = ["20000:2000", "100000:2000", "100000:500", "100000:8000"]


def ledger(events: int, people: int) -> Path:
    """A generated ledger with a log key and a checkpoint covering its head."""
    name = f"bundle-{events // 1000}k-{people}p.db"
    db = DATA / name
    if db.exists():
        return db
    from generate import AUTHORITY, LEDGER_ID, generate, person_key

    # generate.py's default roster (2,000) at 100k and 1M: the ledgers bench_verify.py uses
    shared = {(100_000, 2000): "ledger-100k.db", (1_000_000, 2000): "ledger-1m.db"}
    source = DATA / shared.get((events, people), f"ledger-{events // 1000}k-{people}p.db")
    if not source.exists():
        generate(source, events, people=people, workers=2, quiet=True)
    partial = db.with_name(db.name + ".partial")
    shutil.copyfile(source, partial)
    from ledger.application.custody import open_ledger
    from ledger.application.keystore import Signer
    from ledger.application.log import TransparencyLog

    app = open_ledger(str(partial))
    log_key = Signer(LEDGER_ID, person_key("bench-log-key"))
    state = app.state()[0]
    head = state.head("ledger")
    from ledger.core.canonical import parse_timestamp

    app.set_log_key(log_key.key.public_key, Signer(AUTHORITY, person_key(AUTHORITY)),
                    parse_timestamp(head.occurred_at) + timedelta(seconds=1) if head else
                    app.clock())
    TransparencyLog(app).sign_checkpoint(log_key)
    app.close()
    partial.rename(db)
    return db


def middle_lot(db: Path) -> str:
    from ledger.application.custody import open_ledger

    app = open_ledger(str(db), read_only=True)
    last = app.last_position() or 1
    for note in app.recorder.select_notifications(start=last // 2, limit=200):
        if str(note.originator_id).startswith("lot:"):
            return str(note.originator_id)[4:]
    raise SystemExit("no lot in the middle of the log")


def keys_pub(folder: Path) -> tuple[Path, Path]:
    from generate import AUTHORITY, LEDGER_ID, person_key

    folder.mkdir(parents=True, exist_ok=True)
    trust, log = folder / "auth.pub", folder / "log.pub"
    trust.write_text(person_key(AUTHORITY).public_key.format(AUTHORITY))
    log.write_text(person_key("bench-log-key").public_key.format(LEDGER_ID))
    return trust, log


def wall(args: list[str], runs: int = 3) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of a fresh process running
    ``args``: on a shared machine the CPU time is what the command itself costs."""
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")
    return statistics.median(times), statistics.median(cpu)


def measure(events: int, people: int, folder: Path) -> dict:
    from ledger.application.bundle import export_bundle
    from ledger.application.custody import open_ledger
    from ledger.core import digests, keys
    from ledger.tlog.bundle import parse_bundle
    from ledger.verify.bundle import verify_bundle

    db = ledger(events, people)
    lot = middle_lot(db)
    trust, log = keys_pub(folder)
    app = open_ledger(str(db), read_only=True)
    start = time.perf_counter()
    data, summary = export_bundle(app, [lot])
    export_s = time.perf_counter() - start
    path = folder / f"{db.stem}.bundle"
    path.write_bytes(data)
    bundle = parse_bundle(data)
    roster_bytes = lot_events = 0
    tasks = []
    for event in bundle.events:
        body = msgpack.unpackb(event.stored, raw=False, ext_hook=lambda c, d: d)
        lot_events += body["body"]["stream"].startswith("lot:")
        if not body["body"]["stream"].startswith(("lot:", "room:")):
            roster_bytes += len(event.stored) + 32 * len(event.proof) + 16
        digest = digests.signing_digest_of_bytes(msgpack.packb(body["body"], use_bin_type=True))
        tasks += [(None, digest, signature) for signature in body["signatures"].values()]
    from ledger.application.keystore import read_public_key

    authority, log_key = read_public_key(trust)[0].raw, read_public_key(log)[0].raw
    with Load() as load:
        start = time.perf_counter()
        result = verify_bundle(parse_bundle(path.read_bytes()), authority, log_key,
                               workers=os.cpu_count() or 1)  # as the CLI's default
        verify_s = time.perf_counter() - start
        assert result.report.intact, [f.code for f in result.report.findings][:5]
        # Baseline: the same number of signatures, verified raw (the signer's key stands in
        # for each: what is measured is the Ed25519 work, not the roster lookups).
        signer = keys.SigningKey.from_seed(hashlib.sha256(b"baseline").digest())
        baseline = [(signer.public_key.raw, d, signer.sign(d)) for _, d, _ in tasks]
        start = time.perf_counter()
        assert all(keys.verify_batch(baseline))
        ed25519_s = time.perf_counter() - start
        start = time.perf_counter()
        hashlib.sha256(data).digest()
        sha_s = time.perf_counter() - start
        cli_s, cli_cpu = wall([CUSTODY, "--db", str(folder / "absent.db"), "verify-bundle",
                               str(path), "--trust", str(trust), "--log-key", str(log)])
        version_s, version_cpu = wall([CUSTODY, "--version"])
    return {"events": events, "people": people, "lot": lot, "bundle_events": len(bundle.events),
            "lot_events": lot_events,
            "bytes": len(data), "roster_share": roster_bytes / len(data),
            "signatures": len(tasks), "export": export_s, "verify": verify_s,
            "ed25519": ed25519_s, "sha": sha_s, "cli": cli_s, "version": version_s,
            "cli_cpu": cli_cpu, "version_cpu": version_cpu,
            "load": str(load)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ledgers", action="append", metavar="EVENTS:PEOPLE",
                        help=f"ledgers to measure (default: {' '.join(DEFAULT)})")
    args = parser.parse_args()
    specs = [tuple(int(x) for x in spec.split(":")) for spec in (args.ledgers or DEFAULT)]
    folder = DATA / "bundles"
    print(describe())
    rows = [measure(events, people, folder) for events, people in specs]
    print()
    print("| ledger events | people | bundle events (lot's) | bundle KiB | roster share | signatures "
          "| export | verify (in process) | raw Ed25519, same signatures | ratio "
          "| `verify-bundle` wall (CPU) | `--version` wall (CPU) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['events']:,} | {r['people']:,} | {r['bundle_events']:,} ({r['lot_events']}) "
              f"| {r['bytes'] / 1024:,.0f} | {100 * r['roster_share']:.0f}% | {r['signatures']:,} "
              f"| {r['export'] * 1000:,.0f} ms | {r['verify'] * 1000:,.0f} ms "
              f"| {r['ed25519'] * 1000:,.0f} ms | {r['verify'] / r['ed25519']:.1f}× "
              f"| {r['cli'] * 1000:,.0f} ms ({r['cli_cpu'] * 1000:,.0f} ms) "
              f"| {r['version'] * 1000:,.0f} ms ({r['version_cpu'] * 1000:,.0f} ms) |")
    print()
    for r in rows:
        print(f"- {r['events']:,} events, {r['people']:,} people: lot {r['lot']}; "
              f"SHA-256 of the whole bundle {r['sha'] * 1000:.1f} ms; {r['load']}")


if __name__ == "__main__":
    main()
