"""Attacks on which events the log holds and in what order: deletions, moves, copies."""

from __future__ import annotations

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
