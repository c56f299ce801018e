"""SIGKILL writers at random moments: nothing acknowledged is lost, nothing is duplicated or
half-written, verify stays intact and the next command works without repair.

CI runs 20 kill cycles per backend; the 100-cycle runs are marked slow:
``.venv/bin/python -m pytest -m slow tests/durability``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.durability.crash import CrashRun

SEED = int(os.environ.get("CUSTODY_CRASH_SEED", "12"))


def run_cycles(backend: str, tmp_path: Path, cycles: int) -> CrashRun:
    run = CrashRun(backend, tmp_path, "postgresql" if backend.startswith("postgresql") else "sqlite",
                   SEED)
    for _ in range(cycles):
        run.cycle()
    return run


def assert_nothing_acknowledged_lost(run: CrashRun, cycles: int) -> None:
    tally = run.tally
    print(tally.summary())
    assert tally.ok, tally.summary()
    assert tally.cycles == cycles and tally.verified_intact == cycles, tally.summary()
    # The kills must have landed mid-write, not only before or after: otherwise this test
    # proves nothing about crashes.
    assert tally.killed >= cycles // 2 and tally.acknowledged >= cycles, tally.summary()


def test_kill_9_during_appends_loses_nothing_acknowledged(backend: str, tmp_path: Path) -> None:
    run = run_cycles(backend, tmp_path, 20)
    assert_nothing_acknowledged_lost(run, 20)


@pytest.mark.slow
def test_kill_9_during_appends_100_cycles(backend: str, tmp_path: Path) -> None:
    run = run_cycles(backend, tmp_path, 100)
    assert_nothing_acknowledged_lost(run, 100)
