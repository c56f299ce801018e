"""Where ``verify`` spends its CPU: the workers' stage row by row, the main process's stage by stage.

    python bench/profile_verify.py --events 20000 --workers 2
    python bench/profile_verify.py --db season-100k.db --workers 2     # any ledger

The verifier runs in two stages (``ledger/verify/verifier.py``): worker processes prepare
each row (decode, schema, digests, signatures: ``packed.prepare_packed``) while the main
process rebuilds the rows from their packed results (``packed.unpack``) and judges and folds
them in log order. Both share the cores, so what bounds the rate is their CPU per event
added up, and what bounds it on many cores is the main process's (serial) share. This prints:

1. the workers' stage, timed in this process on a sample of rows, part by part: the
   reference row stage (``stored.prepare``) beside the compiled one
   (``compiled_rows.prepare``), signatures, and what the results cost to send back, pickled
   whole against packed and rebuilt;
2. one real run: events/s, CPU per event of the main process and of the workers, and the
   ceiling that total CPU implies on the cores used;
3. the main process's share, by stage: each wrapped function is charged its *exclusive* wall
   time (its own minus that of wrapped calls beneath it); nothing in ``ledger/`` is changed.
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import time
from collections import defaultdict
from typing import Any, Callable

from bench_verify import dataset

import ledger.core.state as state
import ledger.verify.log as log
import ledger.verify.verifier as verifier
from ledger.application.custody import open_ledger
from ledger.core import canonical, digests, keys
from ledger.domain import compiled_rows
from ledger.domain.schemas import body_problems
from ledger.verify import packed
from ledger.verify.rows import prepare, prepare_chunk, raw

JUDGING = "rules: judge (signatures, attendance, policy, custody, seals, time)"
MAIN_STAGES = {
    # (owner, attribute): stage name
    ("recorder", "select_notifications"): "read rows",
    ("recorder", "select_rows"): "read rows",  # as plain tuples (an older checkout: above)
    (verifier, "unpack"): "rebuild rows from the workers' packed results",
    (verifier.Verifier, "_verify_missing"): "stale-key sweep (pages after a roster change)",
    (state, "judge"): JUDGING,
    # A step whose trust-dependent part the workers judged ahead (``trust.prejudge``): the rest.
    (state, "judge_custody"): JUDGING,
    (state.LedgerState, "_place_people"): "impossible presence (whereabouts of each signer)",
    (state.LedgerState, "_fold"): "fold into roster / lot / room state",
    (state.LedgerState, "_check_chain"): "chain and sequence checks",
    (verifier.Verifier, "_duplicate"): "duplicate-event check",
    (log.LogAudit, "add"): "Merkle tree recomputed, stored tree compared",
    # A page at a time (an older checkout, run for a comparison, has only ``add``).
    (log.LogAudit, "add_page"): "Merkle tree recomputed, stored tree compared",
    (state.LedgerState, "duty_gaps"): "secure-room duty coverage",
    # A long run with workers hands the log audit and presence to helper processes: what
    # handing them over costs here (an older checkout has no helpers).
    (getattr(verifier, "LogHelper", None), "add_page"): "Merkle tree: hashes handed to its helper",
    (getattr(verifier, "PresenceFeed", None), "hand_over"):
        "impossible presence: a page handed to its helper",
}


def timed(label: str, rows: list, work: Callable[[Any], Any]) -> tuple[str, float]:
    began = time.perf_counter()
    for row in rows:
        work(row)
    return label, 1e6 * (time.perf_counter() - began) / len(rows)


def worker_stage(app: Any, sample: int) -> None:
    """Time each part of ``prepare_chunk`` on ``sample`` rows from the middle of the log."""
    top = app.recorder.max_notification_id() or 0
    roster_rows = [raw(n) for n in app.recorder.select_notifications(start=1, limit=5000)]
    ring = {}
    for row in prepare_chunk(roster_rows, {}):  # the keys of the people enrolled up front
        if row.body and row.body["type"] in ("ledger.genesis", "person.enrolled"):
            person = row.body.get("person") or row.body["authority"]
            ring[person["id"]] = bytes.fromhex(person["public_key"])
    raws = [raw(n) for n in app.recorder.select_notifications(start=max(1, top // 2),
                                                               limit=sample)]
    records = [canonical.decode(r[4]) for r in raws]
    bodies = [record["body"] for record in records]
    prepared = prepare_chunk(raws, ring)
    tasks = [task for row in prepared for task in row.verified]
    parts = [
        timed("reference: decode (unpack, check the model, re-pack and compare)", raws,
              lambda r: canonical.decode(r[4])),
        timed("reference: JSON Schema (compiled flat form)", bodies, body_problems),
        timed("reference: signing digest (repack the body, SHA-256)", bodies,
              lambda b: digests.signing_digest_of_bytes(canonical.repack(b))),
        timed("event hash (SHA-256 of the stored bytes)", raws,
              lambda r: digests.event_hash_of_bytes(r[4])),
        timed("reference: stored.prepare, all of the above, envelope, timestamp", raws,
              prepare),
        timed("compiled: compiled_rows.prepare (msgspec Structs, re-encode and compare)",
              raws, compiled_rows.prepare),
    ]
    began = time.perf_counter()
    keys.verify_batch(tasks)
    parts.append((f"signatures: {len(tasks) / len(raws):.1f} a row, libsodium",
                  1e6 * (time.perf_counter() - began) / len(raws)))
    began = time.perf_counter()
    payload = pickle.dumps(prepared, pickle.HIGHEST_PROTOCOL)
    out = time.perf_counter() - began
    began = time.perf_counter()
    pickle.loads(payload)
    back = time.perf_counter() - began
    parts.append(("before: pickle the prepared rows (worker)", 1e6 * out / len(raws)))
    parts.append(("before: unpickle them (main process)", 1e6 * back / len(raws)))
    result = packed.prepare_packed(raws, ring)
    began = time.perf_counter()
    payload = pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
    out = time.perf_counter() - began
    began = time.perf_counter()
    assert packed.unpack(raws, pickle.loads(payload), ring) == prepared
    back = time.perf_counter() - began
    parts.append((f"now: pickle the packed results (worker; {len(payload) / len(raws):,.0f} "
                  "B/row)", 1e6 * out / len(raws)))
    parts.append(("now: unpickle and rebuild the rows (main process)", 1e6 * back / len(raws)))
    print(f"### 1. The workers' stage, {len(raws):,} rows, in one process\n")
    print("| part | µs/row |\n|---|---:|")
    for name, micros in parts:
        print(f"| {name} | {micros:,.1f} |")
    print()


class StageTimer:
    """Charges each wrapped call its exclusive wall time, under its stage name."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.stack: list[list[Any]] = []  # [stage, time spent in wrapped children]

    def wrap(self, stage: str, func: Callable) -> Callable:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            frame = [stage, 0.0]
            self.stack.append(frame)
            began = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                took = time.perf_counter() - began
                self.stack.pop()
                self.spent[stage] += took - frame[1]
                if self.stack:
                    self.stack[-1][1] += took

        return wrapped


def real_run(app: Any, workers: int) -> None:
    timer = StageTimer()
    originals = []
    for (owner, attribute), stage in MAIN_STAGES.items():
        target = app.recorder if owner == "recorder" else owner
        if target is None or not hasattr(target, attribute):
            continue  # a stage an older checkout does not have
        originals.append((target, attribute, getattr(target, attribute)))
        setattr(target, attribute, timer.wrap(stage, getattr(target, attribute)))
    run = verifier.Verifier(app.recorder, workers=workers)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    began, cpu = time.perf_counter(), time.process_time()
    try:
        report = run.run()
    finally:
        wall, main_cpu = time.perf_counter() - began, time.process_time() - cpu
        for target, attribute, original in originals:
            setattr(target, attribute, original)
        run.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    events = report.events
    per = lambda seconds: 1e6 * seconds / events  # noqa: E731
    cores = min(workers + 1, os.cpu_count() or 1)
    print(f"### 2. One run: {events:,} events, workers={workers}, intact={report.intact}\n")
    print("| | value |\n|---|---:|")
    print(f"| events/s | {events / wall:,.0f} |")
    print(f"| main process CPU, µs/event | {per(main_cpu):,.0f} |")
    print(f"| worker processes' CPU, µs/event | {per(worker_cpu):,.0f} |")
    print(f"| ceiling at that CPU on {cores} cores, events/s "
          f"| {cores * events / (main_cpu + worker_cpu):,.0f} |")
    print()
    print("### 3. The main process, by stage (exclusive wall time)\n")
    print("| stage | µs/event | share of the run |\n|---|---:|---:|")
    rest = wall - sum(timer.spent.values())
    stages = sorted(timer.spent.items(), key=lambda kv: -kv[1])
    stages.append(("the rest: waiting on the workers, the loop, findings", rest))
    for name, spent in stages:
        print(f"| {name} | {per(spent):,.0f} | {100 * spent / wall:.1f}% |")
    print(f"| **total** | **{per(wall):,.0f}** | 100% |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="ledger size (generated)")
    parser.add_argument("--db", type=str, default=None, help="profile this ledger instead")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int, default=4000, help="rows for part 1")
    args = parser.parse_args()
    app = open_ledger(args.db or str(dataset(args.events, os.cpu_count() or 1)))
    try:
        worker_stage(app, args.sample)
        real_run(app, args.workers)
    finally:
        app.close()


if __name__ == "__main__":
    main()
