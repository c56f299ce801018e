"""Impossible presence of a view's rebuild judged by its page writer
(``ledger/projections/presence_pages.py``): on a county season with presence conflicts, duty
gaps, corrections and acknowledged violations, a rebuild whose writer judges presence makes
the view, row for row, that a rebuild judging presence in the folding process makes —
the steps' finding codes and counts, the findings, the lots' finding counts, the saved
whereabouts, the warning counts — and leaves the same fold state for the recorder; a writer
that stops midway leaves the rest to the folding process, with the same view."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

from ledger.application.custody import open_ledger
from ledger.core import canonical
from ledger.projections import access, presence_pages, projection
from ledger.projections.projection import caught_up
from ledger.projections.view import COMPARED

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import season  # noqa: E402

EVERY_KIND = {"incident": 0.05, "correction": 0.02, "acknowledged": 0.03, "duty_gap": 0.15,
              "conflict": 0.02}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The season, with one step that has a presence conflict given a broken chain link
    too (its ``prev`` changed, its record re-encoded: the view takes signatures as valid), so
    that a step has both kinds of finding."""
    db = tmp_path_factory.mktemp("county") / "county.db"
    season.generate(db, 1000, rates=EVERY_KIND)
    app = open_ledger(str(db))
    try:
        access.rebuild(app)
        (position,) = access.writable_view(app).query(
            "SELECT MIN(position) FROM view_findings WHERE code = 'PRESENCE_CONFLICT'")[0]
    finally:
        app.close()
    with closing(sqlite3.connect(db)) as connection, connection:
        (state,) = connection.execute("SELECT state FROM stored_events WHERE rowid = ?",
                                      [position]).fetchone()
        record = canonical.decode(state)
        record["body"]["prev"] = "0" * 64
        connection.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                           [canonical.encode(record), position])
    return db


def rebuilt(db: Path) -> tuple[dict[str, list[tuple]], dict, dict]:
    """Every compared table of ``db``'s view rebuilt, and what the rebuild's projection holds
    after (the recorder judges a new step against its state): everyone's whereabouts and the
    lots' finding counts."""
    app = open_ledger(str(db))
    try:
        view = access.writable_view(app)
        view.clear()
        folded = caught_up(view, app.recorder)[0]
        tables = {table: list(view.rows(table)) for table in COMPARED}
        return tables, dict(folded.state.whereabouts.items()), dict(folded.flags.items())
    finally:
        app.close()


@pytest.fixture
def helped(monkeypatch: pytest.MonkeyPatch):
    """Rebuilds with both helpers on a two-core machine, in pages of 97 events, nothing kept
    cached between pages (every fold entry read back from the view)."""
    monkeypatch.setattr(projection.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(projection, "POOLED_FROM", 1)
    monkeypatch.setattr(projection, "FRESH_PAGE", 97)
    monkeypatch.setattr(projection, "WRITTEN_KEPT", 0)
    monkeypatch.setattr(projection, "resident_for", lambda available: 0)
    monkeypatch.setattr(presence_pages, "resident_for", lambda available: 0)
    return monkeypatch


@pytest.fixture
def alone(county: Path, tmp_path: Path):
    db = tmp_path / "alone.db"
    shutil.copy(county, db)
    return rebuilt(db)  # one process: presence judged as it folds


def test_a_rebuild_with_presence_judged_by_the_writer_equals_one_judged_here(
        county: Path, tmp_path: Path, alone, helped) -> None:
    tables, whereabouts, counts = alone
    steps = {row[0]: row for row in tables["view_steps"]}
    conflicts = [row for row in tables["view_findings"] if row[2] == "PRESENCE_CONFLICT"]
    assert conflicts and any(steps[row[0]][13] > 1 for row in conflicts)  # after others
    assert any(row[2] in ("CORRECTION", "ACKNOWLEDGED_VIOLATION")
               for row in tables["view_findings"])
    assert any(row[15] for row in tables["view_lots"])  # lots with findings counted
    assert len(whereabouts) > 30 and len(counts) == len(tables["view_lots"])

    judged = []
    patch = presence_pages.PresencePages.patch

    def noted(self, batch, notes, meta):
        with open(tmp_path / "patched", "a") as seen:
            seen.write(f"{os.getpid()}\n")
        return patch(self, batch, notes, meta)

    helped.setattr(presence_pages.PresencePages, "patch", noted)
    db = tmp_path / "helped.db"
    shutil.copy(county, db)
    assert rebuilt(db) == alone
    judged = (tmp_path / "patched").read_text().split()
    assert len(judged) == -(-len(tables["view_steps"]) // 97)
    assert set(judged) != {str(os.getpid())}  # judged by the writer's process


def test_a_writer_that_stops_midway_leaves_the_same_view(county: Path, tmp_path: Path, alone,
                                                          helped) -> None:
    patch = presence_pages.PresencePages.patch

    def stops_at_the_fifth_page(self, batch, notes, meta):
        with open(tmp_path / "patched", "a") as seen:
            seen.write("page\n")
        if len((tmp_path / "patched").read_text().split()) == 5:
            os._exit(1)
        return patch(self, batch, notes, meta)

    helped.setattr(presence_pages.PresencePages, "patch", stops_at_the_fifth_page)
    db = tmp_path / "helped.db"
    shutil.copy(county, db)
    assert rebuilt(db) == alone
    assert len((tmp_path / "patched").read_text().split()) == 5
