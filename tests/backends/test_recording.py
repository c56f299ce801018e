"""Recording, refusing, reading back and verifying a small exam day, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ledger.application.custody import open_ledger
from ledger.core import canonical
from ledger.core.errors import InputError, PolicyViolation
from ledger.verify import Verifier
from tests.conftest import TEAM, World

# Positions in the `day` fixture: genesis 1, ten enrolments 2-11, then for each lot
# registration, handover STF-01 -> STF-02, handover STF-02 -> STF-03.
LOT_1 = {1: 12, 2: 13, 3: 14}
LOT_2 = {1: 15, 2: 16, 3: 17}


def test_exam_day_is_stored_in_order_with_positions(day: World, raw) -> None:
    assert raw.count() == 17
    assert raw.positions() == list(range(1, 18))
    assert raw.rows()[0][1:] == ("ledger", 1)
    for version, position in LOT_1.items():
        assert raw.position("lot:LOT-1", version) == position
    for version, position in LOT_2.items():
        assert raw.position("lot:LOT-2", version) == position


def test_receipts_name_the_stored_position(world: World, raw) -> None:
    registered = world.register("LOT-9")
    handed = world.handover("LOT-9", "STF-01", "STF-02")
    assert (registered.stream, registered.seq, registered.position) == ("lot:LOT-9", 1, 12)
    assert (handed.seq, handed.position) == (2, 13)
    assert raw.position("lot:LOT-9", 2) == handed.position
    assert handed.warnings == ()


def test_history_reads_back_every_step_from_a_fresh_instance(day: World) -> None:
    reader = open_ledger(day.db, clock=day.clock)
    try:
        steps = list(reader.stream_events("lot:LOT-1"))
        assert [e.body["seq"] for e in steps] == [1, 2, 3]
        assert [e.body["type"] for e in steps] == ["lot.registered", "lot.handed_over",
                                                    "lot.handed_over"]
        assert [(e.body["from"], e.body["to"]) for e in steps[1:]] == [("STF-01", "STF-02"),
                                                                      ("STF-02", "STF-03")]
        assert steps[1].body["prev"] == steps[0].event_hash
        assert steps[2].body["prev"] == steps[1].event_hash
        assert sorted(steps[2].signatures) == sorted(TEAM)
        lot = reader.lot("LOT-1")
        assert lot is not None and lot.state.steps == 3
        assert lot.state.holder == "STF-03" and lot.head == steps[2].event_hash
        assert reader.ledger().ledger_id == "test-ledger"
        assert reader.member("POL-01").role == "police"
        assert reader.lot("LOT-404") is None
    finally:
        reader.close()


def test_verifier_reports_exam_day_intact(day: World) -> None:
    report = Verifier(day.app.recorder).run()
    assert report.findings == []
    assert report.intact
    assert (report.events, report.streams) == (17, 13)  # ledger, 10 people, 2 lots
    # 11 authority signatures (genesis + enrolments) and 6 per lot step.
    assert report.signatures == 11 + 6 * 6


def test_verifier_checks_one_lot(day: World) -> None:
    report = Verifier(day.app.recorder, lot="LOT-2").run()
    assert report.intact and report.findings == []
    assert report.signatures == 11 + 3 * 6


@pytest.mark.parametrize("attempt, error, message", [
    (lambda w: w.handover(team=TEAM[:5]), PolicyViolation, "needs 4 staff"),
    (lambda w: w.handover(giver="STF-03", receiver="STF-04"), PolicyViolation, "held by STF-01"),
    (lambda w: w.handover(seals=["SEAL-1", "SEAL-9"]), PolicyViolation, "SEAL-9"),
    (lambda w: w.handover(count=29), PolicyViolation, "count checked 29"),
    (lambda w: w.handover("LOT-404"), InputError, "unknown lot LOT-404"),
    (lambda w: w.handover(receiver="NOBODY"), InputError, "unknown person NOBODY"),
    (lambda w: w.register("LOT-1"), InputError, "already registered"),
], ids=["presence-short", "custody-gap", "seal-mismatch", "count-mismatch", "unknown-lot",
        "unknown-person", "duplicate-lot"])
def test_refused_step_leaves_the_store_unchanged(world: World, raw, attempt, error,
                                                 message) -> None:
    world.register("LOT-1")
    before = raw.rows()
    head = world.app.lot("LOT-1").head
    with pytest.raises(error, match=message):
        attempt(world)
    assert raw.rows() == before
    assert raw.count() == 12
    assert world.app.lot("LOT-1").head == head
    # A refusal never reaches the database, so it burns no position on either backend.
    receipt = world.handover()
    assert receipt.position == 13
    assert Verifier(world.app.recorder).run().intact


def test_refusal_message_says_nothing_was_written(world: World, raw) -> None:
    world.register("LOT-1")
    with pytest.raises(PolicyViolation) as refused:
        world.handover(team=TEAM[:5])
    assert str(refused.value).endswith("nothing was written")
    assert "\n" not in str(refused.value)
    assert raw.count() == 12


# -- tampering with a stored row, by SQL ------------------------------------------------------


def test_rewritten_handover_count_is_reported_where_it_was_changed(day: World, raw) -> None:
    record = canonical.decode(raw.state("lot:LOT-1", 2))
    record["body"]["count_checked"] = 29
    raw.set_state("lot:LOT-1", 2, canonical.encode(record))

    report = Verifier(day.app.recorder).run()

    assert not report.intact
    at = LOT_1[2]
    invalid = [f for f in report.findings if f.code == "SIGNATURE_INVALID"]
    assert sorted(f.evidence["person"] for f in invalid) == sorted(TEAM)
    assert {(f.position, f.stream) for f in invalid} == {(at, "lot:LOT-1")}
    broken = [f for f in report.findings if f.code == "CHAIN_BROKEN"]
    assert [(f.position, f.stream) for f in broken] == [(LOT_1[3], "lot:LOT-1")]
    # Everything else in the log, LOT-2 included, is untouched.
    assert {f.position for f in report.findings} == {at, LOT_1[3]}
    assert report.events == 17


def test_non_canonical_bytes_are_reported_where_they_sit(day: World, raw) -> None:
    raw.set_state("lot:LOT-2", 2, raw.state("lot:LOT-2", 2) + b"\x00")

    report = Verifier(day.app.recorder).run()

    codes = [(f.code, f.position) for f in report.findings]
    assert ("NON_CANONICAL", LOT_2[2]) in codes
    assert [f.code for f in report.findings if f.position == LOT_2[2]] == ["NON_CANONICAL"]
    assert ("CHAIN_BROKEN", LOT_2[3]) in codes
    assert {f.position for f in report.findings} == {LOT_2[2], LOT_2[3]}
    assert {f.stream for f in report.findings} == {"lot:LOT-2"}
