"""Start-up: how long a `custody` command takes before it does anything, against Python itself.

    python bench/bench_startup.py [--rounds 21]

Records the demo's exam day (`custody demo`) in a temporary folder, then times fresh
processes, the cases interleaved round by round so that a change in the machine's load
touches every case alike:

- the baselines: `python -c pass` and `python -c 'import click'` (the same interpreter);
- `custody --version` and `custody --help` (the target: no more than 0.10 s);
- `custody status LOT` on the demo's ledger, whose view is current (target: 1.5x that);
- `custody record handover`, six signers each unlocking an encrypted key (scrypt) from a
  passphrase file: what an officer's step costs, most of it the key derivation.

Prints the median wall time and the median CPU time (user + system, read with ``wait4``) of
each, and each as a ratio to `python -c pass`, to `import click` and to `custody --version`.
Every command runs with Python's bytecode cache, as an installed copy does
(``machine.installed_env``: a shell with ``PYTHONDONTWRITEBYTECODE`` set would have each
process compile every module it imports).

``--before DIR`` times `--version`, `--help` and `status LOT` of another checkout too (say
``git archive main | tar -x -C DIR``), its code put first on PYTHONPATH, in the same rounds:
the change's own baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from machine import Load, describe, installed_env  # noqa: E402

PYTHON = sys.executable
CUSTODY = str(Path(PYTHON).parent / "custody")
TEAM = ("pol-01", "pol-03", "stf-03", "stf-04", "stf-05", "stf-06")  # the demo's morning


def timed(args: list[str], cwd: Path, env: dict[str, str] | None = None
          ) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh process, which must succeed."""
    start = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    error = process.stderr.read().decode() if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {process.returncode}: {error.strip()}")
    return wall, usage.ru_utime + usage.ru_stime


def handover(folder: Path, turn: int) -> list[str]:
    """The turn's handover of the demo's question papers, back and forth between two staff,
    a minute after the one before."""
    giver, receiver = ("STF-05", "STF-06") if turn % 2 else ("STF-06", "STF-05")
    if turn == 0:
        giver = "site:S01-R12"  # where the demo left them, unsealed in the exam room
    minute = f"2026-06-07T16:{turn:02d}:00+08:00"
    signing = [a for p in TEAM for a in ("--sign", f"{p}.key")]
    signing += [a for p in TEAM for a in ("--passphrase-file", f"{p}.pass")]
    return [CUSTODY, "record", "handover", "--lot", "MATH-Q-0001", "--from", giver, "--to",
            receiver, "--seal", "SQ-100201", "--seal", "SQ-100202", "--count", "30",
            "--location", "Exam room 12", "--occurred-at", minute, *signing]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--before", type=Path, default=None,
                        help="another checkout whose start-up to time in the same rounds")
    args = parser.parse_args()
    if args.rounds > 59:
        raise SystemExit("--rounds at most 59 (one handover a minute within the hour)")
    cases = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "python -c 'import click'": [PYTHON, "-c", "import click"],
        "custody --version": [CUSTODY, "--version"],
        "custody --help": [CUSTODY, "--help"],
        "custody status MATH-Q-0001": [CUSTODY, "status", "MATH-Q-0001"],
    }
    envs: dict[str, dict[str, str] | None] = {label: installed_env()
                                              for label in [*cases, "record handover"]}
    if args.before is not None:
        before = installed_env({"PYTHONPATH": str(args.before.resolve())})
        for label in ("custody --version", "custody --help", "custody status MATH-Q-0001"):
            cases[f"before: {label}"] = cases[label]
            envs[f"before: {label}"] = before
    with tempfile.TemporaryDirectory(prefix="custody-bench-startup-") as name:
        folder = Path(name)
        subprocess.run([CUSTODY, "demo", "--dir", str(folder)], check=True,
                       stdout=subprocess.DEVNULL)
        wall: dict[str, list[float]] = {label: [] for label in [*cases, "record handover"]}
        cpu: dict[str, list[float]] = {label: [] for label in wall}
        with Load() as load:
            for turn in range(args.rounds):
                for label, command in [*cases.items(),
                                       ("record handover", handover(folder, turn))]:
                    took, used = timed(command, folder, envs.get(label))
                    wall[label].append(took)
                    cpu[label].append(used)
    print(f"# Start-up, {describe()}")
    print(f"# {args.rounds} rounds, cases interleaved; {load}")
    base = {what: {k: statistics.median(v) for k, v in data.items()}
            for what, data in (("wall", wall), ("cpu", cpu))}
    print("| command | wall ms | CPU ms | wall / pass | wall / import click | "
          "wall / --version | CPU / --version |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label in wall:
        w, c = base["wall"][label], base["cpu"][label]
        print(f"| `{label}` | {w * 1000:.0f} | {c * 1000:.0f} | "
              f"{w / base['wall']['python -c pass']:.2f} | "
              f"{w / base['wall']['python -c ' + repr('import click')]:.2f} | "
              f"{w / base['wall']['custody --version']:.2f} | "
              f"{c / base['cpu']['custody --version']:.2f} |")


if __name__ == "__main__":
    main()
