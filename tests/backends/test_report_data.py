"""What ``custody report`` gathers (``ledger.report.data.gather``), on SQLite and PostgreSQL:
the verification's findings, each lot's steps from the view's history, a room's duty
coverage with its gap, and the signed checkpoint — or, without one, why not."""

from __future__ import annotations

import pytest

from ledger.application.custody import open_ledger
from ledger.core import canonical
from ledger.core.errors import InputError
from ledger.projections import access
from ledger.report.data import ReportData, gather
from ledger.report.selection import Selection
from ledger.verify import Verifier
from tests.report_day import HOSTILE_LOCATION, NIGHT_GAP, REASON, incident_day
from tests.unit.test_exam_day import at

NOW = canonical.format_timestamp(at(40))


def _gather(db: str, selection: Selection = Selection()) -> ReportData:
    app = open_ledger(db, read_only=True)
    answer = access.for_reading(app, lambda: open_ledger(db))
    verifier = Verifier(app.recorder, workers=1)
    try:
        return gather(app, answer.view, answer.position, selection, now=NOW,
                      verify=verifier.run)
    finally:
        verifier.close()
        if answer.owner is not app:
            answer.owner.close()
        app.close()


def test_the_whole_ledger_shows_every_finding_every_lot_the_gap_and_the_checkpoint(world) -> None:
    incident_day(world)
    data = _gather(str(world.db))

    assert not data.intact and (data.errors, data.warnings) == (1, 1)
    assert sorted(f.code for f in data.findings) == ["ACKNOWLEDGED_VIOLATION", "DUTY_UNCOVERED"]
    (gap,) = [f for f in data.findings if f.code == "DUTY_UNCOVERED"]
    assert gap.position is not None  # at the step that opened it
    assert gap.stream == "room:SR-3"
    assert dict(gap.evidence)["start"] == NIGHT_GAP[0]
    assert data.findings_elsewhere == 0
    assert [lot.lot_id for lot in data.lots] == ["A-S01", "A-S02", "BOX-1", "LOT-X", "Q-S01",
                                                 "Q-S02"]
    lot_x = {lot.lot_id: lot for lot in data.lots}["LOT-X"]
    # The parties as the fold names them (custody.parties): the registration's first holder
    # received the lot, as replay and the view say.
    assert [(s.seq, s.type, s.from_party, s.to_party) for s in lot_x.steps] == [
        (1, "lot.registered", None, "STF-01"), (2, "lot.handed_over", "STF-01", "STF-02"),
        (3, "lot.handed_over", "STF-02", "STF-03")]
    assert lot_x.steps[1].acknowledged == REASON
    assert lot_x.steps[1].findings == ("ACKNOWLEDGED_VIOLATION",)
    assert lot_x.steps[2].location == HOSTILE_LOCATION
    assert lot_x.steps[2].holder_after == "STF-03" and lot_x.steps[2].verdict == "met"
    assert len(lot_x.steps[2].attendees) == 6
    (room,) = data.rooms
    assert room.room == "SR-3"
    assert [(g.start, g.end) for g in room.gaps] == [NIGHT_GAP]
    assert ("POL-03", "police") in room.gaps[0].on_duty
    assert room.stays == [("2026-06-07T00:30:00.000000Z", NIGHT_GAP[1])]
    # No longer holding papers: shown up to its last event, the night shift ending after
    # the retrieval (exam_day ends its shifts before people leave the room).
    assert room.end == canonical.format_timestamp(at(25.1))
    assert data.checkpoint.status == "covering"
    assert data.checkpoint.size == data.checkpoint.tree_size == data.events
    assert data.checkpoint.note.startswith(f"test-ledger\n{data.events}\n")
    assert data.checkpoint.log_key.startswith("test-ledger+")


def test_one_lot_brings_its_containers_steps_and_room_but_not_other_lots_findings(world) -> None:
    incident_day(world)
    data = _gather(str(world.db), Selection(lot="Q-S01"))

    (lot,) = data.lots
    carried = [s.type for s in lot.steps if s.container == "BOX-1"]
    assert carried == ["lot.transport_departed", "lot.transport_arrived", "lot.stored",
                       "lot.retrieved"]
    assert [s.type for s in lot.steps if s.container is None][-1] == "lot.unsealed"
    assert [r.room for r in data.rooms] == ["SR-3"]
    # The room it stayed in had the gap; LOT-X's acknowledged violation is another lot's.
    assert [f.code for f in data.findings] == ["DUTY_UNCOVERED"]
    assert data.findings_elsewhere == 1


def test_an_exam_and_a_time_window_select_their_lots_and_steps(world) -> None:
    incident_day(world)
    exam = _gather(str(world.db), Selection(exam="gaokao-2026"))
    assert len(exam.lots) == 6

    window = _gather(str(world.db), Selection(since=canonical.format_timestamp(at(32.5)),
                                              until=canonical.format_timestamp(at(33.5))))
    (lot,) = window.lots
    assert lot.lot_id == "LOT-X" and [s.seq for s in lot.steps] == [2]
    assert window.rooms == []  # SR-3 held nothing and had no shift change in that hour


def test_a_ledger_without_a_log_key_says_it_has_no_checkpoint(world) -> None:
    incident_day(world, checkpoint=False)
    data = _gather(str(world.db))
    assert data.checkpoint.status == "no_log_key" and data.checkpoint.note == ""


@pytest.mark.parametrize("selection, message", [
    (dict(lot="NO-SUCH-LOT"), "--lot NO-SUCH-LOT: no lot NO-SUCH-LOT is stored"),
    (dict(exam="no-such-exam"), "--exam no-such-exam: no lot of exam no-such-exam is stored"),
])
def test_an_unknown_lot_or_exam_is_an_input_error_before_any_verification(
        world, selection, message) -> None:
    incident_day(world, checkpoint=False)
    db = str(world.db)
    app = open_ledger(db, read_only=True)
    answer = access.for_reading(app, lambda: open_ledger(db))
    verified = []
    try:
        with pytest.raises(InputError, match=message):
            gather(app, answer.view, answer.position, Selection(**selection), now=NOW,
                   verify=lambda: verified.append(1))
    finally:
        if answer.owner is not app:
            answer.owner.close()
        app.close()
    assert verified == []


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InputError, match="--from 2026-06-08T00:00:00.000000Z is after --to"):
        Selection(since="2026-06-08T00:00:00.000000Z", until="2026-06-07T00:00:00.000000Z")
