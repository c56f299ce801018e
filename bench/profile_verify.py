"""Where ``verify`` spends its time: wall-clock per stage, each stage counted once.

    python bench/profile_verify.py --events 20000 --workers 2
    python bench/profile_verify.py --events 20000 --workers 1 --cprofile 25

Wraps (at run time, from here: nothing in ``ledger/`` is changed) the functions the verifier
calls for each stage with a timer that charges every call its *exclusive* time (its own time
minus the time of wrapped calls beneath it), runs ``Verifier.run()`` on a generated ledger and
prints the stages as microseconds per event and shares of the run. With ``--workers 1`` the
signature stage is the verification itself; with more it is the wall time the main process
waits on the pool (verification plus pickling and inter-process traffic), during which the
main process does nothing else. ``--cprofile N`` prints the top N functions by own time too.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import defaultdict
from typing import Any, Callable

from bench_verify import dataset

import ledger.core.rules as rules
import ledger.verify.verifier as verifier
from ledger.application.custody import open_ledger
from ledger.core import canonical, digests

STAGES = {
    # (owner, attribute): stage name; a name the verifier does not have (any more) is skipped
    ("recorder", "select_notifications"): "read rows (SQLite select_notifications)",
    (canonical, "decode"): "decode: msgpack unpack + float check",
    (canonical, "encode"): "canonical encode",  # split by caller below
    (verifier, "body_problems"): "JSON Schema validation (jsonschema)",
    (verifier, "_envelope_mismatch"): "envelope vs library columns",
    (digests, "event_hash_of_bytes"): "event hash (SHA-256 of stored bytes)",
    (digests, "signing_digest"): "signing digest in _decode (encode counted apart)",
    (rules, "signing_digest"): "signing digest again in judge_event",
    (verifier.Verifier, "_verify_signatures"): "signatures (pool.map: verify + IPC)",
    (verifier, "judge"): "rules: judge (presence, custody, seals)",
    (verifier, "judge_event"): "rules: judge_event (presence, custody, seals)",
    (verifier.Verifier, "_check_chain"): "chain and sequence checks",
    (verifier.Verifier, "_duplicate"): "duplicate-event check",
    (verifier.Verifier, "_apply"): "fold into roster / lot / room state",
    (verifier.Verifier, "_duty_gaps"): "secure-room duty coverage",
}


class StageTimer:
    """Charges each wrapped call its exclusive wall time, under its stage name."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.stack: list[list[Any]] = []  # [stage, time spent in wrapped children]

    def wrap(self, stage: str, func: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            name = stage
            if stage == "canonical encode" and self.stack:
                name = f"canonical encode, inside {self.stack[-1][0].split(':')[0].split(' (')[0]}"
            frame = [name, 0.0]
            self.stack.append(frame)
            began = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                took = time.perf_counter() - began
                self.stack.pop()
                self.spent[name] += took - frame[1]
                self.calls[name] += 1
                if self.stack:
                    self.stack[-1][1] += took

        return timed


def profile(db: str, workers: int, top: int) -> None:
    app = open_ledger(db)
    timer = StageTimer()
    originals = []
    for (owner, attribute), stage in STAGES.items():
        target = app.recorder if owner == "recorder" else owner
        if not hasattr(target, attribute):
            continue
        originals.append((target, attribute, getattr(target, attribute)))
        setattr(target, attribute, timer.wrap(stage, getattr(target, attribute)))
    run = verifier.Verifier(app.recorder, workers=workers)
    profiler = cProfile.Profile() if top else None
    began = time.perf_counter()
    try:
        if profiler:
            profiler.enable()
        report = run.run()
        if profiler:
            profiler.disable()
    finally:
        total = time.perf_counter() - began
        for target, attribute, original in originals:
            setattr(target, attribute, original)
        app.close()
    events = report.events
    print(f"verify {db}: {events:,} events, {report.signatures:,} signatures, workers={workers}, "
          f"intact={report.intact}, {total:,.1f}s = {events / total:,.0f} events/s"
          + (" (under cProfile: slower than real)" if profiler else ""))
    print()
    print("| stage | calls | µs/event | share |")
    print("|---|---:|---:|---:|")
    rest = total - sum(timer.spent.values())
    rows = sorted(timer.spent.items(), key=lambda kv: -kv[1]) + [("other (loop, findings, "
                                                                   "pool start/stop)", rest)]
    for name, spent in rows:
        print(f"| {name} | {timer.calls.get(name, '')} | {1e6 * spent / events:,.0f} "
              f"| {100 * spent / total:.1f}% |")
    print(f"| **total** | | **{1e6 * total / events:,.0f}** | 100% |")
    if profiler:
        print()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="ledger size (generated)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cprofile", type=int, default=0, metavar="N",
                        help="also print the top N functions by own time under cProfile")
    args = parser.parse_args()
    profile(str(dataset(args.events, os.cpu_count() or 1)), args.workers, args.cprofile)


if __name__ == "__main__":
    main()
