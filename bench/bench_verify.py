"""How fast ``verify`` runs against the physical Ed25519 limit, and how its memory grows.

    python bench/bench_verify.py                       # 100k and 1M events
    python bench/bench_verify.py --sizes 100000        # quicker
    python bench/bench_verify.py --db season-1m.db --workers-list 1 2   # any ledgers

Measures, in one run:

(a) the raw Ed25519 verification rate through ``cryptography`` (prebuilt key objects, one
    verify call per signature, nothing else) on one core and on every core — the physical
    limit — and the events/s ceiling it implies at six signatures an event; the same through
    libsodium (PyNaCl) when ``nacl`` is importable. Measured before and after the verify
    runs, and averaged: a shared machine's speed drifts over a long run;
(b) ``Verifier(app.recorder, workers=os.cpu_count()).run()`` events/s on generated ledgers;
(c) the peak RSS of each verify run, each in a fresh subprocess: its own ``ru_maxrss`` and
    that of its largest worker process (``RUSAGE_CHILDREN``);
(d) the CPU each run spent per event in the main process (the serial part: reading, judging,
    folding in log order) and in the workers, and from the serial share of a one-worker run
    the Amdahl projection to 16 and 64 cores.

A run's share of the limit is its signatures/s over the raw all-core signatures/s: the same
as events/s over the six-signature ceiling on ``generate.py``'s ledgers, and right for
``season.py``'s, whose steps carry 1 to 12 signatures.

Ledgers are generated under ``bench/data/`` (gitignored) by ``generate.py`` and reused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from machine import Load, describe

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SIGS_PER_EVENT = 6
KEYS = 2000  # as many distinct keys as the generated roster


def label(events: int) -> str:
    return f"{events // 1_000_000}m" if events % 1_000_000 == 0 else f"{events // 1000}k"


def dataset(events: int, workers: int) -> Path:
    """The generated ledger of ``events`` events under bench/data/, generating it if missing."""
    db = DATA / f"ledger-{label(events)}.db"
    if not db.exists():
        from generate import generate

        generate(db, events, people=KEYS, workers=workers)
    return db


# -- (a) the raw limit ---------------------------------------------------------------------


def _cryptography_verifier(keys: list[Ed25519PrivateKey]) -> tuple[list, Callable]:
    public = [k.public_key() for k in keys]
    return public, lambda pub, sig, msg: pub.verify(sig, msg)


def _nacl_verifier(keys: list[Ed25519PrivateKey]) -> tuple[list, Callable]:
    from cryptography.hazmat.primitives import serialization
    from nacl.bindings import crypto_sign_open

    raw = [k.public_key().public_bytes(serialization.Encoding.Raw,
                                       serialization.PublicFormat.Raw) for k in keys]
    return raw, lambda pub, sig, msg: crypto_sign_open(sig + msg, pub)


BACKENDS = {"cryptography (OpenSSL)": _cryptography_verifier, "PyNaCl (libsodium)": _nacl_verifier}
_barrier: Any = None


def raw_rate(task: tuple[str, float, int]) -> float:
    """Verify prepared signatures for ``seconds`` with ``backend``; return signatures/s.

    The triples (key, 32-byte digest, signature) use ``KEYS`` distinct keys, like a roster.
    """
    backend, seconds, salt = task
    keys = [Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"raw%d/%d" % (salt, i)).digest())
            for i in range(KEYS)]
    public, verify = BACKENDS[backend](keys)
    triples = []
    for i in range(4 * KEYS):
        digest = hashlib.sha256(b"digest%d/%d" % (salt, i)).digest()
        triples.append((public[i % KEYS], keys[i % KEYS].sign(digest), digest))
    if _barrier is not None:
        _barrier.wait()  # every core starts together
    chunks = [triples[i:i + 1000] for i in range(0, len(triples), 1000)]
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        for pub, sig, msg in chunks[(done // 1000) % len(chunks)]:
            verify(pub, sig, msg)
        done += 1000
    return done / (time.perf_counter() - began)


def raw_limits(seconds: float, cores: int) -> dict[str, tuple[float, float, float]]:
    """backend -> (sigs/s on one core, sigs/s on ``cores`` cores at once, others' load)."""
    global _barrier
    out = {}
    for backend in BACKENDS:
        try:
            if backend.startswith("PyNaCl"):
                import nacl.bindings  # noqa: F401
        except ImportError:
            continue
        with Load() as load:
            one = raw_rate((backend, seconds, 0))
            ctx = multiprocessing.get_context("fork")
            _barrier = ctx.Barrier(cores)
            with ctx.Pool(cores) as pool:
                rates = pool.map(raw_rate, [(backend, seconds, i) for i in range(cores)],
                                 chunksize=1)
            _barrier = None
        out[backend] = (one, sum(rates), load.others)  # (1 core, all cores, others' load)
    return out


# -- (b), (c): the real verifier, each run in a fresh process ------------------------------


def child(db: Path, workers: int) -> None:
    """Run the verifier once on ``db`` and print one JSON line of what it took."""
    from ledger.application.custody import open_ledger
    from ledger.verify import Verifier

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    app = open_ledger(str(db))
    began, cpu = time.perf_counter(), time.process_time()
    report = Verifier(app.recorder, workers=workers).run()
    seconds, main_cpu = time.perf_counter() - began, time.process_time() - cpu
    app.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "events": report.events, "signatures": report.signatures, "intact": report.intact,
        "errors": len(report.errors), "findings": len(report.findings), "seconds": seconds,
        "workers": workers, "main_cpu": main_cpu,
        "worker_cpu": children.ru_utime + children.ru_stime,
        "rss_start_kib": rss_before,
        "rss_main_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_worker_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }))


def verify_run(db: Path, workers: int) -> dict[str, Any]:
    with Load() as load:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(db), "--workers", str(workers)],
            check=True, capture_output=True, text=True,
        )
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "others": load.others}


# -- the table -----------------------------------------------------------------------------


def table(limits: dict[str, tuple[float, float, float]], runs: dict[tuple[str, int], dict[str, Any]],
          cores: int, machine: str) -> str:
    lines = [f"Machine: {machine}", "",
             f"### (a) raw Ed25519 verification ({cores} cores)", "",
             "| backend | sigs/s, 1 core | sigs/s, all cores | events/s ceiling (÷6), all cores "
             "| other processes' load |",
             "|---|---:|---:|---:|---:|"]
    for backend, (one, every, others) in limits.items():
        lines.append(f"| {backend} | {one:,.0f} | {every:,.0f} | {every / SIGS_PER_EVENT:,.0f} "
                     f"| {100 * others:.0f}% |")
    ceilings = {backend.split(" (")[1][:-1]: every for backend, (_, every, _) in limits.items()}
    lines += ["", "### (b, c, d) `Verifier(workers=N).run()`, fresh process per run", "",
              "| ledger | workers | events | sigs/event | findings | seconds | events/s | sigs/s | "
              + " | ".join(f"% of {name} limit" for name in ceilings)
              + " | main CPU µs/event | workers' CPU µs/event | peak RSS main "
              "| peak RSS largest worker | other processes' load |",
              "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(ceilings)
              + "---:|---:|---:|---:|---:|"]
    for (name, workers), r in sorted(runs.items()):
        rate, sigs = r["events"] / r["seconds"], r["signatures"] / r["seconds"]
        lines.append(
            f"| {name} | {workers} | {r['events']:,} | {r['signatures'] / r['events']:.2f} "
            f"| {r['findings']:,} | {r['seconds']:,.1f} | {rate:,.0f} | {sigs:,.0f} | "
            + " | ".join(f"{100 * sigs / ceiling:.0f}%" for ceiling in ceilings.values())
            + f" | {1e6 * r['main_cpu'] / r['events']:,.0f} "
            f"| {1e6 * r['worker_cpu'] / r['events']:,.0f} "
            f"| {r['rss_main_kib'] / 1024:,.0f} MiB | {r['rss_worker_kib'] / 1024:,.0f} MiB "
            f"| {100 * r['others']:.0f}% |")
    one_core = {name: r for (name, workers), r in runs.items() if workers == 1}
    if one_core and "libsodium" in ceilings:
        raw_one = next(one for backend, (one, _, _) in limits.items() if "libsodium" in backend)
        lines += ["", "### Amdahl: the serial share of a one-worker run (all in one process), "
                  "projected", "",
                  "Serial: the CPU a one-worker run spends outside signature checks and the "
                  "row stage that a worker would take (its main-process CPU in a run with "
                  f"{cores} workers, per event). Speed-up on N cores: 1 / (s + (1 - s) / N).", "",
                  "| ledger | serial µs/event | one-process µs/event | serial share s | speed-up "
                  "1→2 workers, measured | Amdahl, 2 cores | 16 cores | 64 cores "
                  "| % of libsodium at 16 | at 64 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, single in sorted(one_core.items()):
            many = runs.get((name, cores))
            if many is None:
                continue
            total = (single["main_cpu"] + single["worker_cpu"]) / single["events"]
            serial = many["main_cpu"] / many["events"]
            share = min(1.0, serial / total)
            speedup = lambda n: 1 / (share + (1 - share) / n)  # noqa: E731
            measured = (single["seconds"] / single["events"]) / (many["seconds"] / many["events"])
            # One worker's rate as a share of one core's raw rate, scaled by Amdahl's speed-up.
            base = (single["signatures"] / single["seconds"]) / raw_one
            lines.append(
                f"| {name} | {1e6 * serial:,.0f} | {1e6 * total:,.0f} | {share:.3f} "
                f"| {measured:.2f}x | {speedup(2):.2f}x | {speedup(16):.1f}x | {speedup(64):.1f}x "
                f"| {100 * base * speedup(16) / 16:.0f}% | {100 * base * speedup(64) / 64:.0f}% |")
    lines += ["", "Target (issue 20): verify >= 90% of libsodium's all-core rate at 100k and 1M "
              "events; serial part <= 15 µs an event."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="ledger sizes in events (default: 100000 1000000)")
    parser.add_argument("--db", type=Path, action="append", default=[],
                        help="verify this ledger instead of generated sizes; repeatable")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workers-list", type=int, nargs="+", default=None,
                        help="worker counts to run each ledger with (default: --workers); "
                        "with 1 and --workers, the table adds the Amdahl projection")
    parser.add_argument("--seconds", type=float, default=5.0, help="per raw measurement")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.workers)
    machine = describe()  # before the runs: the revision measured
    before = raw_limits(args.seconds, args.workers)
    print(f"{machine}\nraw limits before: {before}", file=sys.stderr, flush=True)
    runs = {}
    ledgers = ([(db.name, db) for db in args.db] if args.db
               else [(label(events), dataset(events, args.workers)) for events in args.sizes])
    for name, db in ledgers:
        for workers in args.workers_list or [args.workers]:
            runs[name, workers] = verify_run(db, workers)
            print(f"{name}, {workers} workers: {runs[name, workers]}", file=sys.stderr,
                  flush=True)
    after = raw_limits(args.seconds, args.workers)
    print(f"raw limits after: {after}", file=sys.stderr, flush=True)
    # The machine's speed drifts during a long run: the limit is the mean of both readings.
    limits = {backend: tuple((b + a) / 2 for b, a in zip(before[backend], after[backend]))
              for backend in before}
    print(table(limits, runs, args.workers, machine))
    print("\nRaw all-core limits (sigs/s), before and after the verify runs: "
          + "; ".join(f"{backend} {before[backend][1]:,.0f} and {after[backend][1]:,.0f}"
                      for backend in before))
    if args.json:
        args.json.write_text(json.dumps(
            {"limits": limits, "before": before, "after": after,
             "runs": [{"ledger": name, **run} for (name, _), run in runs.items()]}, indent=2))


if __name__ == "__main__":
    main()
