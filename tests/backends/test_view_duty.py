"""Secure-room duty gaps from the view, on SQLite and PostgreSQL: the same gaps the verifier
finds, shown by ``presence --room``, and a view edited to hide or invent one is reported by
``verify --projections``."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli.main import main
from ledger.application.custody import open_ledger
from ledger.core import canonical
from ledger.core.duty import Gap
from ledger.projections import access, codec, queries
from ledger.verify import Verifier
from tests.backends.test_projections import _blob, _edit
from tests.unit.test_exam_day import at, exam_day, team

NIGHT_GAP = ("2026-06-07T12:00:00.000000Z", "2026-06-07T22:00:00.000000Z")


def _view(db: str):
    """The ledger read-only and its view; the answer keeps the writer that caught it up."""
    app = open_ledger(db, read_only=True)
    answer = access.for_reading(app, lambda: open_ledger(db))
    return app, answer


def test_a_night_with_three_on_duty_is_the_verifiers_gap_in_the_view(world) -> None:
    exam_day(world, night_shift=("POL-02", "POL-03", "STF-05"))
    app, answer = _view(str(world.db))
    view = answer.view
    now = canonical.format_timestamp(at(40))
    verifier = Verifier(app.recorder, workers=1)
    (reported,) = [f for f in verifier.run().errors if f.code == "DUTY_UNCOVERED"]
    expected = [f.evidence for f in verifier.state.duty_gaps(now)]
    verifier.close()

    gaps = queries.duty_gaps(view, now, "SR-3")

    assert [g.evidence for g in gaps] == expected
    assert [(g.evidence["start"], g.evidence["end"]) for g in gaps] == [NIGHT_GAP]
    assert [g.position for g in gaps] == [reported.position]
    assert queries.duty_gaps(view, now, "SR-9") == []


def test_a_room_still_holding_papers_has_a_gap_up_to_the_moment_asked(world) -> None:
    """The box stays in the room and the night shift is three: the gap is open, judged up to
    the moment of the question, as the verifier judges it up to its own 'now'."""
    world.clock.now = at(-1)
    world.room("SR-3")
    world.step("room:SR-3", "duty.started", {}, ["POL-01", "POL-02", "STF-03"], at(0.5),
               location="SR-3")
    world.register("BOX-1", holder="STF-03", team=team("STF-03"),
                   lot={"kind": "container", "seals": ["SB-1"], "count": 4})
    world.step("lot:BOX-1", "lot.stored", {"from": "STF-03", "room": "SR-3",
                                           "seals_checked": ["SB-1"], "count_checked": 4},
               team("STF-03"), at(1), location="SR-3")
    app, answer = _view(str(world.db))
    view = answer.view
    verifier = Verifier(app.recorder, workers=1)
    (reported,) = verifier.run().errors
    assert reported.code == "DUTY_UNCOVERED" and reported.evidence["start"] == \
        canonical.format_timestamp(at(1))  # opened by the store, where it is reported
    for now in (canonical.format_timestamp(at(2)), canonical.format_timestamp(at(9))):
        expected = [f.evidence for f in verifier.state.duty_gaps(now)]
        gaps = queries.duty_gaps(view, now)
        assert [g.evidence for g in gaps] == expected
        assert [g.evidence["end"] for g in gaps] == [now]
    verifier.close()


def test_presence_room_shows_the_duty_gap_in_text_and_json(world) -> None:
    exam_day(world, night_shift=("POL-02", "POL-03", "STF-05"))
    runner = CliRunner()

    text = runner.invoke(main, ["--db", str(world.db), "presence", "--room", "SR-3"])
    data = runner.invoke(main, ["--db", str(world.db), "presence", "--room", "SR-3", "--json"])

    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    # Printed in the ledger's zone (its genesis names none: UTC), RFC 3339 with an offset.
    assert ("duty gap: secure room SR-3 held papers from 2026-06-07T12:00:00+00:00 to "
            "2026-06-07T22:00:00+00:00 "
            "with too few on duty: ") in lines[-2]
    assert "needs 4 police or staff, has 3" in lines[-2]
    assert lines[-1].endswith(f", 1 duty gap(s); as of log position "
                              f"{world.app.last_position()}")
    assert data.exit_code == 0, data.output
    (gap,) = json.loads(data.stdout)["duty_gaps"]
    assert (gap["room"], gap["start"], gap["end"]) == ("SR-3", *NIGHT_GAP)
    assert sorted(gap["on_duty"]) == ["POL-02", "POL-03", "STF-05"]


def test_a_fully_staffed_room_has_no_duty_gap_and_other_filters_do_not_judge_rooms(world) -> None:
    exam_day(world)
    runner = CliRunner()

    room = runner.invoke(main, ["--db", str(world.db), "presence", "--room", "SR-3"])
    lot = runner.invoke(main, ["--db", str(world.db), "presence", "--lot", "Q-S01", "--json"])

    assert room.exit_code == 0, room.output
    assert "duty gap:" not in room.stdout
    assert ", 0 duty gap(s); as of log position" in room.stdout.splitlines()[-1]
    assert "duty_gaps" not in json.loads(lot.stdout)


def test_verify_projections_reports_a_duty_shift_edited_to_show_a_gap(world) -> None:
    """The night shift's row in view_duty is edited down to three people, and the view's saved
    duty coverage is given a gap: the stored view now shows a gap the events do not; verify
    --projections names the table and the gap."""
    exam_day(world)
    runner = CliRunner()
    assert runner.invoke(main, ["--db", str(world.db), "presence", "--room", "SR-3"]
                         ).exit_code == 0
    _edit(str(world.db), "UPDATE view_duty SET on_duty = "
          "'{\"POL-02\": \"police\", \"POL-03\": \"police\", \"STF-05\": \"staff\"}' "
          "WHERE type = 'duty.ended'")
    _invent_gap(world.db, Gap("SR-3", NIGHT_GAP[0], 30,
                              {"POL-02": "police", "POL-03": "police", "STF-05": "staff"},
                              {"id": "two-police-four-staff", "version": 1}, NIGHT_GAP[1]))
    shown = runner.invoke(main, ["--db", str(world.db), "presence", "--room", "SR-3"])
    assert "1 duty gap(s)" in shown.stdout  # the edited view is what a reader sees...

    report = runner.invoke(main, ["--db", str(world.db), "verify", "--projections", "--json",
                                  "--workers", "1"])

    assert report.exit_code == 1, report.output  # ...and what verify --projections reports
    messages = [f["message"] for f in json.loads(report.stdout)["findings"]
                if f["code"] == "PROJECTION_MISMATCH"]
    assert any(m.startswith("view_duty: duty shift of room SR-3/") for m in messages)
    assert any(m.startswith("duty gaps: secure room SR-3's gap from 2026-06-07T12:00:00")
               for m in messages)


def _invent_gap(db, gap: Gap) -> None:
    """Add ``gap`` to the duty gaps the view's saved fold state keeps, as an edit would."""
    app = open_ledger(str(db), read_only=True)
    view = access.stored_view(app)
    state = codec.saved_state(view)
    app.close()
    state.gaps.append(gap)
    saved = _blob(str(db), codec.dumps_state(state))
    _edit(str(db), f"UPDATE view_fold SET value = {saved} WHERE key = '{codec.STATE}'")
