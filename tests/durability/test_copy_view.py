"""``custody copy`` leaves the target with a view at the log's head, built from the copied
events: the copy's first read answers from it and writes nothing, with the source's answers.
A view that cannot be built leaves the copy standing and says, in one line, what to run."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.application.custody import open_ledger
from ledger.projections import access
from tests.conftest import build_world
from tests.durability import ledger
from tests.durability.faults import rows
from tests.durability.test_copy import copy, hashes, intact
from tests.unit.test_exam_day import exam_day


def run(db: str, *args: str):
    return CliRunner().invoke(main, ["--db", db, *args])


def answers(db: str) -> tuple[dict, list[dict]]:
    """``status --json`` and every lot's ``history LOT --json``."""
    status = run(db, "status", "--json")
    assert status.exit_code == 0, status.output
    lots = json.loads(status.stdout)
    histories = []
    for lot in lots["lots"]:
        history = run(db, "history", lot["lot"], "--json")
        assert history.exit_code == 0, history.output
        histories.append(json.loads(history.stdout))
    return lots, histories


def view_state(db: str) -> tuple[int | None, int | None, list[tuple]]:
    """(the view's position, the log's head, view_meta's rows)."""
    with closing(open_ledger(db, read_only=True)) as app:
        view = access.stored_view(app)
        assert view is not None, f"no view in {db}"
        meta = sorted(view.query("SELECT key, value FROM view_meta"))
        return view.position(), app.last_position(), meta


def files(folder: Path) -> list[tuple[str, bytes, int]]:
    """The data files of ``folder`` (a ledger and its -wal): name, bytes and modification time
    (ns). (Not the -shm: a WAL reader marks its reads there, whether or not it writes.)"""
    return sorted((p.name, p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()
                  if not p.name.endswith("-shm"))


@pytest.fixture
def day(tmp_path: Path) -> str:
    """The exam day on SQLite, its view at the head (as the recorder left it)."""
    source = tmp_path / "source" / "exam-day.db"
    source.parent.mkdir()
    world = exam_day(build_world(source))
    world.app.close()
    return str(source)


def test_a_copy_has_a_current_view_and_its_first_read_writes_nothing(day: str,
                                                                     tmp_path: Path) -> None:
    target = tmp_path / "copy" / "copy.db"
    target.parent.mkdir()

    result = copy(day, str(target))

    assert result.exit_code == 0, result.output
    head = len(hashes(day))
    assert result.stdout.splitlines()[-1] == (
        f"view built in {target}: {head} event(s) folded, at log position {head}")
    assert result.stderr == ""  # no terminal: no progress bar, and nothing went wrong
    position, last, _ = view_state(str(target))
    assert position == last == head
    before = files(target.parent)
    source_answers = answers(day)
    assert answers(str(target)) == source_answers
    assert files(target.parent) == before  # answered from the view as the copy left it
    assert source_answers[0]["log_position"] == head
    assert len(source_answers[1]) == len(source_answers[0]["lots"]) == 5


def test_a_view_that_cannot_be_built_leaves_the_copy_and_names_the_remedy(
        day: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = str(tmp_path / "copy.db")

    def disk_fails(app, progress=lambda n: None):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(access, "rebuild", disk_fails)
    result = copy(day, target)

    assert result.exit_code == 0, result.output
    assert "identical, event hash for event hash" in result.stdout
    assert "view built" not in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"warning: the copy is complete, but its view was not built (cannot "
                           f"build the view in {target}: disk I/O error")
    assert line.endswith(f"); run 'custody projections rebuild --db {target}', or its first "
                         "read will fold every event")
    assert hashes(target) == hashes(day)
    assert intact(target)

    monkeypatch.undo()
    rebuilt = run(target, "projections", "rebuild")  # the remedy, as the line gives it
    assert rebuilt.exit_code == 0, rebuilt.output
    position, last, _ = view_state(target)
    assert position == last == len(hashes(day))
    assert answers(target) == answers(day)


def test_another_command_moving_the_view_throughout_is_a_view_failure_not_a_copy_failure(
        day: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = str(tmp_path / "copy.db")

    def always_moved(app, progress=lambda n: None):
        raise access.StaleView()

    monkeypatch.setattr(access, "rebuild", always_moved)
    result = copy(day, target)

    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert f"(cannot build the view in {target}: another command kept moving it)" in line
    assert hashes(target) == hashes(day)


@pytest.mark.postgres
def test_a_copy_to_postgres_has_a_current_view_with_the_source_answers(
        day: str, postgres_db: str) -> None:
    result = copy(day, postgres_db)

    assert result.exit_code == 0, result.output
    head = len(hashes(day))
    assert result.stdout.splitlines()[-1].endswith(
        f": {head} event(s) folded, at log position {head}")
    before = view_state(postgres_db)
    assert before[0] == before[1] == head
    assert answers(postgres_db) == answers(day)
    assert view_state(postgres_db) == before  # the reads found the view current


@pytest.mark.postgres
def test_a_renumbered_copy_builds_its_view_on_its_own_positions(tmp_path: Path,
                                                               postgres_db: str) -> None:
    ledger.create(postgres_db, ["LOT-1"])
    with closing(psycopg.connect(postgres_db)) as connection:  # a gap in the sequence
        connection.execute("INSERT INTO custody_events (originator_id, originator_version, "
                           "topic, state) VALUES ('lot:NONE', 1, 't', '')")
        connection.rollback()
    with closing(open_ledger(postgres_db)) as app:
        ledger.handover(app, "LOT-1", "after-the-gap")
    target = tmp_path / "copy.db"

    result = copy(postgres_db, str(target))

    assert result.exit_code == 0, result.output
    assert "positions renumbered without the source's gaps" in result.stdout
    events = len(rows(str(target)))
    position, last, _ = view_state(str(target))
    assert position == last == events  # the copy's positions, not the source's
    before = files(target.parent)
    status, histories = answers(str(target))
    assert files(target.parent) == before
    source_status, source_histories = answers(postgres_db)
    # The same lots and holders; positions are the copy's own, one lower after the gap.
    assert status["log_position"] == source_status["log_position"] - 1 == events
    assert [(lot["lot"], lot["holder"]) for lot in status["lots"]] == \
        [(lot["lot"], lot["holder"]) for lot in source_status["lots"]]
    assert [len(h["steps"]) for h in histories] == [len(h["steps"]) for h in source_histories]
