"""Publishing the log as C2SP tlog-tiles, and monitoring it over HTTP, in one run.

    python bench/bench_tiles.py --events 100000         # ~10 min on 2 busy cores
    python bench/bench_tiles.py --events 1000000 --skip-audit   # the issue's size

On a copy of the generated ledger (``bench/data/ledger-<N>.db``, generated if missing):

1. the log key is named (the next event, recorded just after the last one) and a
   checkpoint signed over the head;
2. ``custody log tiles DIR``: the full export (the baseline);
3. ``custody monitor URL --entries --state S`` against ``custody log serve --dir DIR`` on
   localhost: the first run reads and judges every event (its own baseline);
4. 1,000 more co-signed lot events appended (``bench_resume.append``: new lots, later than
   everything, the stored tree growing with them) and a checkpoint signed over them;
5. ``custody log tiles DIR`` again: the incremental export (the issue's target: at most 2%
   of the full export's time);
6. ``custody monitor`` again: the catch-up of the 1,000 new events over HTTP, and once more
   without ``--entries`` (the consistency proof alone).

``--skip-audit`` leaves out ``--entries`` (steps 3 and 6's catch-up): judging every event of a
1M-event log in one process takes over an hour on a busy machine, and the catch-up's cost
does not depend on the log's size.

Every command is the real one in a fresh process, timed by wall clock from start to exit
(start-up and imports included), with how much of the cores other processes used meanwhile;
the two exports are also timed in this process (``export_tiles`` alone, into a second
folder), since a command's start-up is most of an incremental export.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from machine import Load, describe

HERE = Path(__file__).resolve().parent
CUSTODY = str(Path(sys.executable).with_name("custody"))
NEW_EVENTS = 1000


def run(args: list[str]) -> tuple[float, Load, str]:
    with Load() as load:
        began = time.perf_counter()
        done = subprocess.run([CUSTODY, *args], capture_output=True, text=True)
        seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"custody {' '.join(args)} failed ({done.returncode}): "
                         f"{done.stderr.strip()[:500]}")
    return seconds, load, done.stdout


def prepare(db: Path, log_pub: Path) -> None:
    """Name the log key (recorded one second after the last event) and sign a checkpoint."""
    from generate import AUTHORITY, LEDGER_ID, person_key

    from ledger.application.custody import open_ledger
    from ledger.application.keystore import Signer
    from ledger.application.log import TransparencyLog
    from ledger.core.canonical import parse_timestamp

    reader = open_ledger(str(db), read_only=True)
    state = reader.state()[0]
    last = parse_timestamp(state.recorded_at)
    occurred = parse_timestamp(state.head("ledger").occurred_at) + timedelta(seconds=1)
    reader.close()
    moment = [last]

    def clock():  # the ledger's clock, one second after its last event
        moment[0] += timedelta(seconds=1)
        return moment[0]

    app = open_ledger(str(db), clock=clock)
    log_key = Signer(LEDGER_ID, person_key("bench-log-key"))
    app.set_log_key(log_key.key.public_key, Signer(AUTHORITY, person_key(AUTHORITY)),
                    max(occurred, last))
    TransparencyLog(app).sign_checkpoint(log_key)
    app.close()
    log_pub.write_text(log_key.key.public_key.format(LEDGER_ID))


def sign(db: Path) -> None:
    from generate import LEDGER_ID, person_key

    from ledger.application.custody import open_ledger
    from ledger.application.keystore import Signer
    from ledger.application.log import TransparencyLog

    app = open_ledger(str(db))
    TransparencyLog(app).sign_checkpoint(Signer(LEDGER_ID, person_key("bench-log-key")))
    app.close()


def in_process(db: Path, directory: Path) -> float:
    """``export_tiles`` itself, in this process: the export's work without the command's
    start-up (interpreter, imports, opening the ledger)."""
    from ledger.application.custody import open_ledger
    from ledger.application.tiles import export_tiles

    app = open_ledger(str(db), read_only=True)
    try:
        began = time.perf_counter()
        export_tiles(app, directory)
        return time.perf_counter() - began
    finally:
        app.close()


def folder_size(directory: Path) -> tuple[int, int]:
    files = [p for p in directory.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-audit", action="store_true",
                        help="monitor without --entries only (see the module docstring)")
    args = parser.parse_args()
    from bench_resume import append, dataset

    source = dataset(args.events, args.workers)
    work = Path(tempfile.mkdtemp(prefix="bench_tiles_"))
    server = None
    try:
        db, public, state = work / "custody.db", work / "public", work / "monitor"
        log_pub = work / "log.pub"
        shutil.copyfile(source, db)
        prepare(db, log_pub)
        full = run(["--db", str(db), "log", "tiles", str(public)])
        files, size = folder_size(public)
        full_inside = in_process(db, work / "public-in-process")
        server = subprocess.Popen([CUSTODY, "log", "serve", "--dir", str(public), "--listen",
                                   "127.0.0.1:0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        assert server.stdout is not None
        url = "http://" + server.stdout.readline().split("http://", 1)[1].split("/", 1)[0]
        monitor = ["monitor", url, "--log-key", str(log_pub), "--state", str(state)]
        entries = [] if args.skip_audit else ["--entries"]
        audit = run([*monitor, *entries])
        assert "intact" in audit[2], audit[2]
        added = append(db, args.events, NEW_EVENTS)
        sign(db)
        incremental = run(["--db", str(db), "log", "tiles", str(public)])
        grown_files, grown_size = folder_size(public)
        incremental_inside = in_process(db, work / "public-in-process")
        catch_up = run([*monitor, *entries])
        assert args.skip_audit or f"checked {added} new event(s)" in catch_up[2], catch_up[2]
        consistency = run(monitor)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    total = args.events + 2
    print(f"# tiles: export and monitor, {total:,} events + {added:,} new\n")
    print(describe())
    print()
    print("| run | wall time | ratio | other processes |")
    print("|---|---:|---:|---|")
    print(f"| `log tiles` full export ({total:,} events: {files:,} files, "
          f"{size / 2**20:.1f} MiB) | {full[0]:.2f} s | 1 | {full[1]} |")
    print(f"| `log tiles` after {added:,} new events (incremental; then {grown_files:,} files, "
          f"{grown_size / 2**20:.1f} MiB) | {incremental[0]:.2f} s | "
          f"{100 * incremental[0] / full[0]:.2f}% | {incremental[1]} |")
    print(f"| `export_tiles` in process, full | {full_inside:.2f} s | 1 | |")
    print(f"| `export_tiles` in process, after {added:,} new events | {incremental_inside:.2f} s | "
          f"{100 * incremental_inside / full_inside:.2f}% | |")
    if args.skip_audit:
        print(f"| `monitor`, first run (the checkpoint's tiles) | {audit[0]:.2f} s | | "
              f"{audit[1]} |")
        print(f"| `monitor` after {added:,} new events (consistency proof) | "
              f"{catch_up[0]:.2f} s | | {catch_up[1]} |")
        return
    print(f"| `monitor --entries`, first run: every event over HTTP | {audit[0]:.2f} s | 1 | "
          f"{audit[1]} |")
    print(f"| `monitor --entries`, catch-up of {added:,} new events over HTTP | "
          f"{catch_up[0]:.2f} s | {100 * catch_up[0] / audit[0]:.2f}% | {catch_up[1]} |")
    print(f"| `monitor` without `--entries` (consistency proof only) | {consistency[0]:.2f} s | "
          f"{100 * consistency[0] / audit[0]:.2f}% | {consistency[1]} |")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    main()
