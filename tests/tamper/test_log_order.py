"""Attacks on which events the log holds and in what order: deletions, moves, copies."""

from __future__ import annotations

from datetime import timedelta

from ledger.application.custody import open_ledger
from ledger.verify import Verifier
from tests.conftest import TEAM
from tests.tamper.attacker import Attacker, error_positions, located, verify


def test_delete_an_event_in_the_middle_of_the_log(attacker: Attacker) -> None:
    step = attacker.position("lot:LOT-1", 2)
    attacker.delete(step)

    report = verify(attacker.db)

    assert not report.intact
    (gap,) = [f for f in report.findings if f.code == "POSITION_GAP"]
    assert (gap.position, gap.stream) == (step + 1, None)
    assert gap.evidence == {"expected": step, "found": step + 1}
    assert ("SEQUENCE_GAP", step + 1, "lot:LOT-1") in located(report)
    assert ("CHAIN_BROKEN", step + 1, "lot:LOT-1") in located(report)
    assert error_positions(report) == {step + 1}


def test_delete_the_last_event_of_a_lot_that_is_not_last_in_the_log(attacker: Attacker) -> None:
    """LOT-1's last handover goes; LOT-2's events follow it in the log, so a position is
    missing. Which stream lost it cannot be known, so the gap names none."""
    last_of_lot = attacker.position("lot:LOT-1", 3)
    assert last_of_lot < attacker.last_position()
    attacker.delete(last_of_lot)

    report = verify(attacker.db)

    assert not report.intact
    (gap,) = report.findings
    assert (gap.code, gap.position, gap.stream) == ("POSITION_GAP", last_of_lot + 1, None)
    assert gap.evidence == {"expected": last_of_lot, "found": last_of_lot + 1}


def test_swap_the_positions_of_two_steps_of_a_lot(attacker: Attacker) -> None:
    first, second = attacker.position("lot:LOT-1", 2), attacker.position("lot:LOT-1", 3)
    attacker.swap_positions(first, second)
    assert attacker.row(first).version == 3

    report = verify(attacker.db)

    assert not report.intact
    assert "POSITION_GAP" not in {f.code for f in report.findings}
    for position in (first, second):
        assert ("SEQUENCE_GAP", position, "lot:LOT-1") in located(report)
        assert ("CHAIN_BROKEN", position, "lot:LOT-1") in located(report)
    assert error_positions(report) == {first, second}


def test_move_a_step_before_the_enrolment_of_one_of_its_signers(attacker: Attacker) -> None:
    """Across streams the chain cannot see order, but the roster can: STF-04 co-signed
    LOT-1's registration, which now sits before STF-04 was enrolled."""
    enrolment = attacker.position("person:STF-04", 1)
    registration = attacker.position("lot:LOT-1", 1)
    attacker.swap_positions(enrolment, registration)

    report = verify(attacker.db)

    assert not report.intact
    (unknown,) = [f for f in report.findings if f.code == "SIGNER_UNKNOWN"]
    assert (unknown.position, unknown.stream) == (enrolment, "lot:LOT-1")
    assert unknown.evidence == {"person": "STF-04"}
    assert ("PRESENCE_SHORT", enrolment, "lot:LOT-1") in located(report)
    # The ledger's own clock runs backwards where the rows were swapped.
    reversed_ = [f.position for f in report.findings if f.code == "RECORDED_AT_REVERSED"]
    assert reversed_ and set(reversed_) <= set(range(enrolment + 1, registration + 1))
    assert error_positions(report) == {enrolment, *reversed_}


def test_truncate_the_head_of_the_log(attacker: Attacker) -> None:
    """The genesis and the first enrolments are cut off the front of the log."""
    first_kept = attacker.position("person:STF-01", 1)
    attacker.delete(*range(1, first_kept))

    report = verify(attacker.db)

    assert not report.intact
    assert ("GENESIS_MISSING", first_kept, "person:STF-01") in located(report)
    (gap,) = [f for f in report.findings if f.code == "POSITION_GAP"]
    assert (gap.position, gap.evidence) == (first_kept, {"expected": 1, "found": first_kept})
    # With no genesis there is no authority: nothing after it may count as enrolled.
    assert ("NOT_AUTHORITY", first_kept, "person:STF-01") in located(report)


def test_duplicate_an_event_under_another_version(attacker: Attacker) -> None:
    """A copy of LOT-1's first handover is appended as LOT-1's fourth step."""
    original = attacker.row(attacker.position("lot:LOT-1", 2))
    copy = attacker.insert("lot:LOT-1", 4, original.topic, original.state)

    report = verify(attacker.db)

    assert not report.intact
    (duplicate,) = report.findings
    assert (duplicate.code, duplicate.position, duplicate.stream) == (
        "DUPLICATE_EVENT", copy, "lot:LOT-1")
    assert duplicate.evidence["step"] == 2
    assert duplicate.evidence["event_hash"] == original.event_hash


def test_duplicate_an_event_under_a_new_rowid(attacker: Attacker) -> None:
    """With the table rebuilt without its key, an exact copy of a row (same stream, version,
    topic and bytes) is stored again at a new position."""
    attacker.drop_primary_key()
    original = attacker.row(attacker.position("lot:LOT-1", 2))
    copy = attacker.insert(original.stream, original.version, original.topic, original.state)

    report = verify(attacker.db)

    assert not report.intact
    (duplicate,) = report.findings
    assert (duplicate.code, duplicate.position, duplicate.stream) == (
        "DUPLICATE_EVENT", copy, "lot:LOT-1")
    assert duplicate.evidence["step"] == 2


def test_copy_a_step_to_position_0(attacker: Attacker) -> None:
    """A copy of LOT-1's first handover, stored as its fourth step at position 0: the verifier
    once read from position 1 on, and said intact while ``history`` showed the extra step."""
    original = attacker.row(attacker.position("lot:LOT-1", 2))
    attacker.insert("lot:LOT-1", 4, original.topic, original.state, position=0)

    report = verify(attacker.db)

    assert not report.intact
    assert report.events == 18
    gap = report.findings[0]
    assert (gap.code, gap.position, gap.stream) == ("POSITION_GAP", 0, None)
    assert gap.evidence == {"expected": 1, "found": 0}
    assert "before the log's first position 1" in gap.message
    assert ("ENVELOPE_MISMATCH", 0, "lot:LOT-1") in located(report)
    assert min(error_positions(report)) == 0


def test_append_a_forged_step_at_a_negative_position(attacker: Attacker, day) -> None:
    """The whole team colludes: LOT-1's next handover carries six valid signatures and
    follows LOT-1's chain, but is stored at position -5, where a reader from 1 never looks."""
    later = day.clock.now + timedelta(minutes=5)
    body = attacker.draft_handover("lot:LOT-1", "STF-03", "STF-04", later)
    appended = attacker.forge(body, day.sign(*TEAM), later)
    attacker.execute(("UPDATE stored_events SET rowid = -5 WHERE rowid = ?", (appended,)))

    report = verify(attacker.db)

    assert not report.intact
    assert report.events == 18
    assert report.findings[0].code == "POSITION_GAP"
    assert (report.findings[0].position, report.findings[0].evidence) == (
        -5, {"expected": 1, "found": -5})
    # Read first, the step comes before the genesis and before the lot's registration.
    assert ("GENESIS_MISSING", -5, "lot:LOT-1") in located(report)
    assert ("SEQUENCE_GAP", -5, "lot:LOT-1") in located(report)


def test_move_a_step_far_past_the_end_of_the_log(attacker: Attacker) -> None:
    last = attacker.last_position()
    attacker.execute(("UPDATE stored_events SET rowid = ? WHERE rowid = ?", (10**12, last)))

    report = verify(attacker.db)

    assert not report.intact
    (gap,) = report.findings
    assert (gap.code, gap.position) == ("POSITION_GAP", 10**12)
    assert gap.evidence == {"expected": last, "found": 10**12}


def test_a_row_at_position_0_is_reported_even_with_since(attacker: Attacker) -> None:
    """--since folds earlier rows without reporting them, but a row below position 1 is no
    row of the log at all: its position is reported whatever --since says."""
    original = attacker.row(attacker.position("lot:LOT-1", 2))
    attacker.insert("lot:LOT-1", 4, original.topic, original.state, position=0)
    app = open_ledger(str(attacker.db), read_only=True)
    try:
        report = Verifier(app.recorder, since=12).run()
    finally:
        app.close()

    assert ("POSITION_GAP", 0, None) in located(report)
    assert not report.intact
