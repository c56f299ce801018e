"""``custody history`` served from the view equals the history read from the log, on SQLite
and PostgreSQL: the same steps, the same container markings, the same text."""

from __future__ import annotations

import re

from click.testing import CliRunner

from cli import render
from cli.main import main
from ledger.application.custody import open_ledger
from ledger.projections import access, history, queries
from tests.conftest import TEAM
from tests.unit.test_exam_day import LOTS, at, exam_day, team

ALL_LOTS = [*LOTS, "BOX-1", "LOT-1", "SPARE-1", "BOX-2", "SPARE-2"]


def _eventful_day(world) -> None:
    """The exam day, then a lot with an acknowledged violation and a correction, and BOX-1
    packed with a spare lot that it carries to the end."""
    exam_day(world)
    world.register("LOT-1")
    world.handover(count=29, acknowledge="one bag torn; see incident INC-1")
    first = world.app.event_hash("lot:LOT-1", 2)
    world.step("lot:LOT-1", "lot.corrected",
               {"corrects": {"seq": 2, "event_hash": first}, "reason": "recount: 30",
                "count": 30}, team("STF-02"))
    # BOX-1 (empty since the retrieval) takes the spare papers away, and stays packed.
    world.register("SPARE-1", holder="STF-05", team=team("STF-05"))
    world.clock.now = at(33)
    world.app.pack("BOX-1", ["SPARE-1"], False, "SR-3", at(33), world.sign(*team("STF-05")))
    world.step("lot:BOX-1", "lot.handed_over",
               {"from": "STF-05", "to": "STF-06", "seals_checked": ["SB-1"],
                "count_checked": 4}, team("STF-05", "STF-06"), at(35))
    # BOX-2 takes SPARE-2 at 37; its handover at 36 is recorded only after that packing: by
    # the log (as the fold judges SPARE-2's holder) it is SPARE-2's step too.
    world.clock.now = at(36)
    world.register("BOX-2", holder="STF-05", team=team("STF-05"),
                   lot={"kind": "container", "count": 1, "seals": ["SB-2"]})
    world.register("SPARE-2", holder="STF-05", team=team("STF-05"))
    world.clock.now = at(37)
    world.app.pack("BOX-2", ["SPARE-2"], False, "SR-3", at(37), world.sign(*team("STF-05")))
    world.step("lot:BOX-2", "lot.handed_over",
               {"from": "STF-05", "to": "STF-06", "seals_checked": ["SB-2"],
                "count_checked": 1}, team("STF-05", "STF-06"), at(36.5))


def _from_log(app, view, lot_id: str) -> str:
    """What ``history`` printed when it read the lot's streams from the log."""
    events = list(app.lot_history(lot_id))
    records = queries.steps_of(view, [(e.body["stream"], e.body["seq"]) for e, _ in events])
    return "".join(render.step(event, app.member, container, number)
                   + render.verdict(records.get((event.body["stream"], event.body["seq"])))
                   + "\n" for (event, container), number in zip(events, render.numbered(events)))


def test_history_from_the_view_equals_history_from_the_log_on_the_exam_day(world) -> None:
    _eventful_day(world)
    db = str(world.db)
    app = open_ledger(db, read_only=True)
    answer = access.for_reading(app, lambda: open_ledger(db))
    texts = {}
    for lot_id in ALL_LOTS:
        from_view = history.lot_history(answer.view, app.events_at, lot_id)
        from_log = list(app.lot_history(lot_id))
        assert [(e.event_hash, via) for e, via in from_view] == [
            (e.event_hash, via) for e, via in from_log], lot_id
        result = CliRunner().invoke(main, ["--db", db, "history", lot_id])
        assert result.exit_code == 0, result.output
        expected = _from_log(app, answer.view, lot_id)
        assert result.stdout == expected + (f"{len(from_log)} step(s), as of log position "
                                            f"{app.last_position()}\n")
        texts[lot_id] = result.stdout
    # The scenario shows every marking the text has, so the comparison above covers them.
    assert "of container BOX-1]" in texts["Q-S01"]
    assert re.search(r"lot.handed_over        at Secure room 1  \[step \d+ of container BOX-1\]",
                     texts[
        "SPARE-1"])  # still packed: the container's steps to the end
    assert "[step 2 of container BOX-2]" in texts["SPARE-2"]  # dated before, recorded after
    assert "ACKNOWLEDGED VIOLATION: one bag torn" in texts["LOT-1"]
    assert "corrects step 2" in texts["LOT-1"]
    assert "     presence: met (" in texts["Q-S01"]


def test_history_of_a_lot_the_view_does_not_hold_is_an_unknown_lot(world) -> None:
    world.register("LOT-1", team=TEAM)
    result = CliRunner().invoke(main, ["--db", str(world.db), "history", "LOT-2"])
    assert result.exit_code == 2
    assert "error: unknown lot LOT-2" in result.output
