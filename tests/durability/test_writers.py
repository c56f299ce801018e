"""Many writer processes at once, on both backends: 1, 2, 4 and 8 of them.

On different lots every step is recorded, and the global order is consistent with the log:
each receipt's position is where the log holds that step, and each writer's positions rise in
the order it wrote. On the same lot, with every writer holding a draft of the same next step,
exactly one wins; each of the others exits 6 (another writer changed the lot first) with one
line on stderr, and nothing of theirs is written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from ledger.application.custody import open_ledger
from ledger.application.drafts import format_draft
from ledger.verify import Verifier
from tests.conftest import TEAM
from tests.durability import ledger

ROOT = Path(__file__).resolve().parents[2]
COUNTS = [1, 2, 4, 8]
STEPS = 3  # handovers per writer on its own lot


def start_together(commands: list[list[str]], go: Path) -> list[subprocess.CompletedProcess]:
    """Start every writer, wait until each has opened the ledger, then let them all go."""
    env = {**os.environ, "CUSTODY_TEST_GO": str(go), "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-m", "tests.durability.writer", *command],
                                  cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for command in commands]
    for process in processes:
        assert process.stdout.readline() == "READY\n", process.stderr.read()
    go.touch()
    results = []
    for process, command in zip(processes, commands):
        out, err = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return results


def receipts(out: str) -> list[tuple[str, int, int]]:
    """(stream, seq, position) of every ACK line, in the order the writer printed them."""
    found = []
    for line in out.splitlines():
        assert line.startswith("ACK "), line
        for where in line.split()[3:]:
            stream_seq, position = where.rsplit("@", 1)
            stream, seq = stream_seq.rsplit(":", 1)
            found.append((stream, int(seq), int(position)))
    return found


def log(db: str) -> list[tuple[int, str, int]]:
    """(position, stream, seq) of every stored event, in log order."""
    with closing(open_ledger(db)) as app:
        return [(n.id, n.originator_id, n.originator_version)
                for n in app.recorder.select_notifications(start=1, limit=100_000)]


@pytest.mark.parametrize("writers", COUNTS)
def test_writers_on_different_lots_all_succeed_in_log_order(backend: str, tmp_path: Path,
                                                            writers: int) -> None:
    lots = [f"LOT-W{k}" for k in range(writers)]
    ledger.create(backend, lots)
    before = len(log(backend))
    results = start_together([["handovers", backend, f"w{k}", str(STEPS), lots[k]]
                              for k in range(writers)], tmp_path / "go")
    assert [r.returncode for r in results] == [0] * writers, [r.stderr for r in results]
    stored = {(stream, seq): position for position, stream, seq in log(backend)}
    assert len(stored) == before + writers * STEPS
    for k, result in enumerate(results):
        mine = receipts(result.stdout)
        assert [(s, q) for s, q, _ in mine] == [(f"lot:{lots[k]}", q) for q in range(2, 2 + STEPS)]
        assert all(stored[(s, q)] == p for s, q, p in mine), (mine, stored)
        positions = [p for _, _, p in mine]
        assert positions == sorted(positions) and len(set(positions)) == STEPS
    with closing(open_ledger(backend)) as app:
        assert Verifier(app.recorder, workers=1).run().intact


@pytest.mark.parametrize("writers", COUNTS)
def test_writers_on_the_same_lot_one_wins_the_others_exit_6(backend: str, tmp_path: Path,
                                                            writers: int) -> None:
    ledger.create(backend, ["LOT-S"])
    with closing(open_ledger(backend)) as app:
        fields = ledger.handover_fields(app, "LOT-S")
        drafts = []
        for k in range(writers):
            body = app.draft_step("lot:LOT-S", "lot.handed_over", fields, "Secure room 1", TEAM,
                                  app.clock(), note=f"s{k}")
            signatures = {s.person_id: app.sign(body, s) for s in ledger.signers(*TEAM)}
            drafts.append(tmp_path / f"s{k}.draft")
            drafts[-1].write_text(format_draft(body, signatures), encoding="utf-8")
    before = log(backend)
    results = start_together([["submit", backend, f"s{k}", str(drafts[k])]
                              for k in range(writers)], tmp_path / "go")
    codes = sorted(r.returncode for r in results)
    assert codes == [0] + [6] * (writers - 1), [(r.returncode, r.stderr) for r in results]
    for result in results:
        if result.returncode == 6:
            (line,) = result.stderr.splitlines()
            assert line.startswith("error: ") and "re-draft and sign again" in line, line
            assert result.stdout == "READY\n" or result.stdout == ""
    after = log(backend)
    assert after[:len(before)] == before and len(after) == len(before) + 1
    assert after[-1][1:] == ("lot:LOT-S", 2)
    with closing(open_ledger(backend)) as app:
        winner = [e.body["note"] for e in app.stream_events("lot:LOT-S") if e.body.get("note")]
        (won,) = [k for k, r in enumerate(results) if r.returncode == 0]
        assert winner == [f"s{won}"]
        assert Verifier(app.recorder, workers=1).run().intact


def test_the_same_draft_submitted_twice_is_recorded_once(tmp_path: Path) -> None:
    """A command killed before its receipt may be run again: the retry cannot duplicate."""
    from click.testing import CliRunner

    from cli.main import main

    db = str(tmp_path / "custody.db")
    ledger.create(db, ["LOT-1"])
    with closing(open_ledger(db)) as app:
        body = app.draft_step("lot:LOT-1", "lot.handed_over", ledger.handover_fields(app, "LOT-1"),
                              "Secure room 1", TEAM, app.clock(), note="once")
        signatures = {s.person_id: app.sign(body, s) for s in ledger.signers(*TEAM)}
    draft = tmp_path / "step.draft"
    draft.write_text(format_draft(body, signatures), encoding="utf-8")
    first = CliRunner().invoke(main, ["--db", db, "submit", str(draft)])
    assert first.exit_code == 0 and "recorded lot.handed_over lot:LOT-1 step 2" in first.output
    before = log(db)
    again = CliRunner().invoke(main, ["--db", db, "submit", str(draft)])
    assert again.exit_code == 0, again.output
    assert again.output.startswith("already recorded: lot.handed_over lot:LOT-1 step 2 at ")
    assert log(db) == before
