"""The verifier's per-stream maps at a province's scale: what a lot's step costs them.

    python bench/bench_spill.py                       # 1,770,000 lots, as the 10M season
    python bench/bench_spill.py --lots 177000         # as the 1M season

``verify`` keeps each stream's head and each lot's state in spill maps (``state_maps``:
``RESIDENT`` entries in memory a kind, the rest in a private SQLite file). In a season every
county's lots are in play at once, so on a province's ledger (10M events, 1.77M lots) a lot's
next step almost never finds it in memory. This loads ``--lots`` lots and their heads into
the maps (as a resumed audit does, by ``load_encoded``), then times ``--touches`` lot steps
in random order, each as the fold does it: read the stream's head and the lot, write both
back changed. Rows, each in a fresh process, CPU µs a step:

- **dicts** (the baseline): the same steps on plain dicts, everything in memory;
- **spill maps, pickled**: the maps as before entries were written in the state's encoding;
- **spill maps**: ``state_maps`` as ``verify`` makes them now;
- and, to show what the file's own cache is worth, the maps now with SQLite's page cache
  raised to ``--cache-mib`` (default 2 MiB), and memory-mapped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import Load, describe  # noqa: E402

WAYS = ["dicts", "spill maps, pickled", "spill maps", "spill maps, cache {cache} MiB",
        "spill maps, memory-mapped"]


def lot_state(i: int, steps: int) -> Any:
    from ledger.core.custody import LotState
    return LotState(f"LOT-{i:07d}", "gaokao-2026", "math", "question_paper", 30,
                    (f"SEAL-{i:07d}A", f"SEAL-{i:07d}B"), f"STF-{i % 120_000:06d}",
                    "2026-06-07T00:30:00.000000Z", "lot.stored", "Shelf 2", steps, None,
                    False, False, tuple(f"{i:058x}{s:06x}" for s in range(steps)))


def measure(way: str, lots: int, touches: int, cache_mib: int) -> dict[str, float]:
    from ledger.core import state_codec
    from ledger.core.state import Head
    from ledger.verify import spill, verifier

    if "cache" in way or "mapped" in way:
        pragma = (f"cache_size = -{cache_mib * 1024}" if "cache" in way
                  else "mmap_size = 4294967296")
        opened = spill.SpillMap._open

        def _open(self: Any) -> Any:
            db = opened(self)
            db.execute(f"PRAGMA {pragma}")
            return db
        spill.SpillMap._open = _open  # type: ignore[method-assign]
    if way == "dicts":
        maps: dict[str, Any] = {"lots": {}, "heads": {}}
    elif way == "spill maps, pickled":
        maps = {"lots": spill.SpillMap(verifier.RESIDENT),
                "heads": spill.SpillMap(verifier.RESIDENT)}
    else:
        maps = verifier.state_maps()
    keys = [f"lot:LOT-{i:07d}" for i in range(lots)]
    heads = {key: Head(3, f"{i:064x}", "2026-06-07T00:30:00.000000Z", 3 * i)
             for i, key in enumerate(keys)}
    states = {key: lot_state(i, 3) for i, key in enumerate(keys)}
    if way == "dicts":
        maps["lots"].update(states)
        maps["heads"].update(heads)
    else:
        for section, values in (("lots", states), ("heads", heads)):
            maps[section].load_encoded(
                ((key, state_codec.encode_entry(section, key, value))
                 for key, value in values.items()),
                lambda blob, section=section: state_codec.decode_entry(section, blob))
    del heads, states
    order = random.Random(7).choices(keys, k=touches)
    lot_map, head_map = maps["lots"], maps["heads"]
    with Load() as load:
        began, cpu = time.perf_counter(), time.process_time()
        for n, key in enumerate(order):
            head = head_map.get(key)
            head_map[key] = Head(head.seq + 1, f"{n:064x}", head.occurred_at, n)
            lot = lot_map.get(key)
            lot_map[key] = replace(lot, steps=lot.steps + 1,
                                   hashes=lot.hashes + (f"{n:064x}",))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - began
    return {"cpu_us": cpu / touches * 1e6, "wall_us": wall / touches * 1e6,
            "others": load.others}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", type=int, default=1_770_000)
    parser.add_argument("--touches", type=int, default=200_000)
    parser.add_argument("--cache-mib", type=int, default=64)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.lots, args.touches, args.cache_mib)))
        return
    print(describe())
    print(f"\n{args.lots:,} lots, {args.touches:,} lot steps in random order\n")
    print("| maps | CPU µs a step | wall µs a step | × dicts | others' load |")
    print("|---|---:|---:|---:|---:|")
    baseline = None
    for way in WAYS:
        out = subprocess.run([sys.executable, __file__, "--child", way, "--lots", str(args.lots),
                              "--touches", str(args.touches), "--cache-mib",
                              str(args.cache_mib)], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout)
        baseline = baseline or result["cpu_us"]
        print(f"| {way.format(cache=args.cache_mib)} | {result['cpu_us']:.1f} | "
              f"{result['wall_us']:.1f} | {result['cpu_us'] / baseline:.1f} | "
              f"{result['others']:.0%} |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
