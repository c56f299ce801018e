"""Merkle proofs at 1k, 100k, 1M and 10M leaves: hashes read and time per proof stay O(log n).

    python bench/bench_merkle.py                       # 1,000 / 100,000 / 1,000,000 leaves
    python bench/bench_merkle.py --sizes 1000 1000000 10000000
    python bench/bench_merkle.py --sizes 1000 100000 --proofs 500

The log's stored hashes are kept in memory, packed 32 bytes apiece in one bytearray indexed
by stored hash index (10M leaves: ~20M hashes, 640 MB, built with ``CompactRange.append``,
exactly what the recorders store), and read through a counting reader.
For each size it times, over the same random records and older sizes: inclusion proofs
(``prove_record``) and their checks (``check_record``), consistency proofs (``prove_tree``)
and their checks (``check_tree``), and the root (``tree_hash``). Times are also given in units
of one SHA-256 node hash measured in the same run, so that a slower or busier machine changes
the µs but not the shape: per-proof cost should grow with log2(n), not with n.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.tlog import merkle  # noqa: E402
from machine import Load, describe  # noqa: E402


class HashStore:
    """Stored hashes packed in one bytearray: ``store[i]`` is stored hash ``i``."""

    def __init__(self) -> None:
        self.data = bytearray()

    def extend(self, hashes: list[bytes]) -> None:
        self.data += b"".join(hashes)

    def __getitem__(self, index: int) -> bytes:
        return bytes(self.data[32 * index:32 * index + 32])

    def __len__(self) -> int:
        return len(self.data) // 32


class CountingReader:
    def __init__(self, store: HashStore) -> None:
        self.store = store
        self.reads = 0

    def __call__(self, indexes: list[int]) -> list[bytes]:
        self.reads += len(indexes)
        return [self.store[i] for i in indexes]


def build(size: int) -> tuple[HashStore, float]:
    """Append ``size`` leaves, storing what each append stores; (store, seconds it took)."""
    began = time.perf_counter()
    store = HashStore()
    compact = merkle.CompactRange()
    for n in range(size):
        store.extend(compact.append(merkle.leaf_hash(hashlib.sha256(n.to_bytes(8, "big")).digest())))
    assert len(store) == merkle.stored_hash_count(size)
    return store, time.perf_counter() - began


def node_hash_us(rounds: int = 200_000) -> float:
    left, right = b"\x01" * 32, b"\x02" * 32
    start = time.perf_counter()
    for _ in range(rounds):
        merkle.node_hash(left, right)
    return (time.perf_counter() - start) / rounds * 1e6


def per_call_us(calls: list, fn) -> float:
    start = time.perf_counter()
    for args in calls:
        fn(*args)
    return (time.perf_counter() - start) / len(calls) * 1e6


BUILT: dict[int, tuple[float, int]] = {}  # size -> (seconds to build, stored hashes)


def measure(size: int, proofs: int, rng: random.Random) -> list[tuple[str, float, float, float]]:
    """Return rows (operation, hashes read per call, µs per call, max hashes read)."""
    store, seconds = build(size)
    BUILT[size] = (seconds, len(store))
    reader = CountingReader(store)
    root = merkle.tree_hash(size, reader)
    records = [rng.randrange(size) for _ in range(proofs)]
    olds = [rng.randrange(1, size + 1) for _ in range(proofs)]
    rows = []

    def reads_of(fn, argsets):
        counts = []
        for args in argsets:
            reader.reads = 0
            fn(*args)
            counts.append(reader.reads)
        return sum(counts) / len(counts), max(counts)

    mean, most = reads_of(merkle.prove_record, [(size, n, reader) for n in records])
    us = per_call_us([(size, n, reader) for n in records], merkle.prove_record)
    rows.append(("prove_record", mean, us, most))

    incl = [(merkle.prove_record(size, n, reader), size, root, n, store[merkle.stored_hash_index(0, n)])
            for n in records]
    rows.append(("check_record", 0.0, per_call_us(incl, merkle.check_record), 0))

    mean, most = reads_of(merkle.prove_tree, [(size, m, reader) for m in olds])
    us = per_call_us([(size, m, reader) for m in olds], merkle.prove_tree)
    rows.append(("prove_tree", mean, us, most))

    old_roots = {m: merkle.tree_hash(m, reader) for m in olds}
    cons = [(merkle.prove_tree(size, m, reader), size, root, m, old_roots[m]) for m in olds]
    rows.append(("check_tree", 0.0, per_call_us(cons, merkle.check_tree), 0))

    mean, most = reads_of(merkle.tree_hash, [(size, reader)] * 10)
    rows.append(("tree_hash", mean, per_call_us([(size, reader)] * 100, merkle.tree_hash), most))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--proofs", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    print(describe())
    with Load() as load:
        base_before = node_hash_us()
        results = {size: measure(size, args.proofs, rng) for size in args.sizes}
        base_after = node_hash_us()
    base = (base_before + base_after) / 2
    print(f"baseline: one SHA-256 node hash = {base:.2f} µs (before {base_before:.2f}, after "
          f"{base_after:.2f}); {load}")
    print()
    print(f"| leaves | log2 n | operation | stored hashes read (mean / max) | µs per call | in node hashes |")
    print("|---:|---:|---|---:|---:|---:|")
    for size, rows in results.items():
        for name, mean, us, most in rows:
            reads = f"{mean:.1f} / {most}" if most else "—"
            print(f"| {size:,} | {math.log2(size):.1f} | `{name}` | {reads} | {us:.1f} | {us / base:.1f} |")
    print()
    print("| leaves | stored hashes | MB | seconds to build (CompactRange.append) |")
    print("|---:|---:|---:|---:|")
    for size, (seconds, hashes) in BUILT.items():
        print(f"| {size:,} | {hashes:,} | {hashes * 32 / 1e6:,.0f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
