"""SIGKILL writers at random moments: nothing acknowledged is lost, nothing is duplicated or
half-written, verify stays intact and the next command works without repair.

The same for the view and the checkpoints: projection rebuilds and catch-ups, ``custody
checkpoint`` and appends that sign a checkpoint (``CUSTODY_LOG_KEY``) killed at random
moments leave no PROJECTION_MISMATCH, and every printed checkpoint stored and verifying.

CI runs 20 kill cycles per backend (12 for the view and checkpoints); the 100-cycle runs are
marked slow: ``.venv/bin/python -m pytest -m slow tests/durability``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.durability.crash import VIEW_MODES, CrashRun

SEED = int(os.environ.get("CUSTODY_CRASH_SEED", "12"))


def run_cycles(backend: str, tmp_path: Path, cycles: int, **kwargs) -> CrashRun:
    run = CrashRun(backend, tmp_path, "postgresql" if backend.startswith("postgresql") else "sqlite",
                   SEED, **kwargs)
    for _ in range(cycles):
        run.cycle()
    return run


def assert_nothing_acknowledged_lost(run: CrashRun, cycles: int, steps: int | None = None,
                                     killed: int | None = None) -> None:
    tally = run.tally
    print(tally.summary())
    assert tally.ok, tally.summary()
    assert tally.cycles == cycles and tally.verified_intact == cycles, tally.summary()
    # The kills must have landed mid-write, not only before or after: otherwise this test
    # proves nothing about crashes.
    assert tally.killed >= (cycles // 2 if killed is None else killed), tally.summary()
    assert tally.acknowledged >= (cycles if steps is None else steps), tally.summary()


def test_kill_9_during_appends_loses_nothing_acknowledged(backend: str, tmp_path: Path) -> None:
    run = run_cycles(backend, tmp_path, 20)
    assert_nothing_acknowledged_lost(run, 20)


@pytest.mark.slow
def test_kill_9_during_appends_100_cycles(backend: str, tmp_path: Path) -> None:
    run = run_cycles(backend, tmp_path, 100)
    assert_nothing_acknowledged_lost(run, 100)


def run_view_cycles(backend: str, tmp_path: Path, cycles: int) -> CrashRun:
    run = run_cycles(backend, tmp_path, cycles, modes=VIEW_MODES)
    run.finish()
    tally = run.tally
    print(tally.summary())
    # Most commands here record no step, and the views writer spends a third of its turns
    # rebuilding: ask for fewer. The two writers run until killed; of the commands, a third
    # killed mid-way is enough.
    assert_nothing_acknowledged_lost(run, cycles, steps=cycles // 5, killed=cycles // 3)
    # Each kind of kill must have happened, and some checkpoints and receipts been printed:
    # otherwise the checks on them prove nothing.
    assert all(tally.by_mode[mode] >= cycles // len(VIEW_MODES) for mode in VIEW_MODES)
    # (a receipt carries the checkpoint its command signed)
    assert tally.checkpoints_printed + tally.receipt_files >= 1, tally.summary()
    assert tally.checkpoints_total > tally.checkpoints_printed, tally.summary()
    return run


def test_kill_9_during_projection_catch_up_and_checkpoints_leaves_no_mismatch(
        backend: str, tmp_path: Path) -> None:
    run_view_cycles(backend, tmp_path, 12)


@pytest.mark.slow
def test_kill_9_during_projection_catch_up_and_checkpoints_100_cycles(
        backend: str, tmp_path: Path) -> None:
    tally = run_view_cycles(backend, tmp_path, 100).tally
    # Some kills must have cut a rebuild after one of its pages was written: the view left
    # part-built, which the next command carries on from. (A rebuild is an emptied view and
    # then a catch-up, page by page; a catch-up after one handover is a single page, which
    # the kills reach only now and then: counted, not required.)
    assert tally.mid_rebuild_pages >= 1, tally.summary()
    assert tally.checkpoints_printed >= 1 and tally.receipt_files >= 1, tally.summary()
