"""How fast ``verify`` runs against the physical Ed25519 limit, and how its memory grows.

    python bench/bench_verify.py                       # 100k and 1M events
    python bench/bench_verify.py --sizes 100000        # quicker

Measures, in one run:

(a) the raw Ed25519 verification rate through ``cryptography`` (prebuilt key objects, one
    verify call per signature, nothing else) on one core and on every core — the physical
    limit — and the events/s ceiling it implies at six signatures an event; the same through
    libsodium (PyNaCl) when ``nacl`` is importable. Measured before and after the verify
    runs, and averaged: a shared machine's speed drifts over a long run;
(b) ``Verifier(app.recorder, workers=os.cpu_count()).run()`` events/s on generated ledgers;
(c) the peak RSS of each verify run, each in a fresh subprocess: its own ``ru_maxrss`` and
    that of its largest worker process (``RUSAGE_CHILDREN``).

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
    began = time.perf_counter()
    report = Verifier(app.recorder, workers=workers).run()
    seconds = time.perf_counter() - began
    app.close()
    print(json.dumps({
        "events": report.events, "signatures": report.signatures, "intact": report.intact,
        "errors": len(report.errors), "seconds": seconds, "workers": workers,
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


def table(limits: dict[str, tuple[float, float, float]], runs: dict[int, dict[str, Any]],
          cores: int, machine: str) -> str:
    lines = [f"Machine: {machine}", "",
             f"### (a) raw Ed25519 verification ({cores} cores)", "",
             "| backend | sigs/s, 1 core | sigs/s, all cores | events/s ceiling (÷6), all cores "
             "| other processes' load |",
             "|---|---:|---:|---:|---:|"]
    for backend, (one, every, others) in limits.items():
        lines.append(f"| {backend} | {one:,.0f} | {every:,.0f} | {every / SIGS_PER_EVENT:,.0f} "
                     f"| {100 * others:.0f}% |")
    ceilings = {backend.split(" (")[1][:-1]: every / SIGS_PER_EVENT
                for backend, (_, every, _) in limits.items()}
    lines += ["", f"### (b, c) `Verifier(workers={cores}).run()`, fresh process per run", "",
              "| events | intact | seconds | events/s | "
              + " | ".join(f"% of {name} limit" for name in ceilings)
              + " | sigs/s | peak RSS main | peak RSS largest worker | main + workers "
              "| other processes' load |",
              "|---:|:---:|---:|---:|" + "---:|" * len(ceilings) + "---:|---:|---:|---:|---:|"]
    for events, r in sorted(runs.items()):
        rate = r["events"] / r["seconds"]
        total = r["rss_main_kib"] + r["workers"] * r["rss_worker_kib"]
        lines.append(
            f"| {r['events']:,} | {'yes' if r['intact'] else 'NO'} | {r['seconds']:,.1f} "
            f"| {rate:,.0f} | "
            + " | ".join(f"{100 * rate / ceiling:.0f}%" for ceiling in ceilings.values())
            + f" | {r['signatures'] / r['seconds']:,.0f} "
            f"| {r['rss_main_kib'] / 1024:,.0f} MiB | {r['rss_worker_kib'] / 1024:,.0f} MiB "
            f"| {total / 1024:,.0f} MiB | {100 * r['others']:.0f}% |")
    if len(runs) > 1:
        small, large = runs[min(runs)], runs[max(runs)]
        lines += ["", f"RSS {label(max(runs))} / {label(min(runs))} (main process): "
                  f"{large['rss_main_kib'] / small['rss_main_kib']:.2f}x for "
                  f"{large['events'] / small['events']:.0f}x the events; "
                  f"events/s {label(max(runs))} / {label(min(runs))}: "
                  f"{(large['events'] / large['seconds']) / (small['events'] / small['seconds']):.2f}x"]
    lines += ["", "Target (issue): verify >= 80% of the raw all-core limit; memory flat as the "
              "ledger grows."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="ledger sizes in events (default: 100000 1000000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
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
    for events in args.sizes:
        db = dataset(events, args.workers)
        runs[events] = verify_run(db, args.workers)
        print(f"{label(events)}: {runs[events]}", file=sys.stderr, flush=True)
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
            {"limits": limits, "before": before, "after": after, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
