"""Attacks that change what a stored event says."""

from __future__ import annotations

from tests.conftest import TEAM
from tests.tamper.attacker import Attacker, error_positions, located, signers_failing, verify

COUNT_30 = b"\xadcount_checked\x1e"  # the key "count_checked" then the positive fixint 30


def test_the_untouched_day_verifies_intact(attacker: Attacker) -> None:
    report = verify(attacker.db)
    assert report.intact
    assert report.findings == []
    assert (report.events, report.streams) == (17, 13)  # ledger, ten people, two lots


def test_edit_one_field_of_a_stored_event(attacker: Attacker) -> None:
    """A hex editor turns the count of 30 checked at a handover into 29, byte for byte."""
    step = attacker.position("lot:LOT-1", 2)
    original = attacker.row(step)
    assert original.state.count(COUNT_30) == 1
    attacker.set_state(step, original.state.replace(COUNT_30, b"\xadcount_checked\x1d"))
    assert attacker.row(step).body["count_checked"] == 29

    report = verify(attacker.db)

    assert not report.intact
    assert signers_failing(report, step) == set(TEAM)
    assert ("SIGNATURE_INVALID", step, "lot:LOT-1") in located(report)
    (broken,) = [f for f in report.findings if f.code == "CHAIN_BROKEN"]
    assert (broken.position, broken.stream) == (step + 1, "lot:LOT-1")
    assert broken.evidence["found"] == original.event_hash
    assert broken.evidence["previous_position"] == step  # the stored step it should follow
    assert error_positions(report) == {step, step + 1}


def test_edit_one_field_and_recompute_its_hash(attacker: Attacker) -> None:
    """The receiver is changed and the record re-encoded canonically: a well-formed row
    with a fresh event hash, but nobody signed what it now says."""
    step = attacker.position("lot:LOT-1", 2)
    original = attacker.row(step)
    edited = attacker.rewrite(step, lambda record: record["body"].update(to="STF-05"))
    assert edited.event_hash != original.event_hash

    report = verify(attacker.db)

    assert not report.intact
    assert "NON_CANONICAL" not in {f.code for f in report.findings}
    assert signers_failing(report, step) == set(TEAM)
    assert ("CHAIN_BROKEN", step + 1, "lot:LOT-1") in located(report)
    assert error_positions(report) == {step, step + 1}


def test_edit_one_field_and_rewrite_the_next_events_prev(attacker: Attacker) -> None:
    """The count is edited and every later step of the lot re-chained to the new hashes:
    the chain is consistent again, and every rewritten event's signatures fail."""
    step = attacker.position("lot:LOT-1", 2)
    attacker.rewrite(step, lambda record: record["body"].update(count_checked=29))
    assert attacker.rechain(step) == [step + 1]

    report = verify(attacker.db)

    assert not report.intact
    codes = {f.code for f in report.findings}
    assert not codes & {"CHAIN_BROKEN", "SEQUENCE_GAP", "NON_CANONICAL"}
    assert signers_failing(report, step) == set(TEAM)
    assert signers_failing(report, step + 1) == set(TEAM)
    assert error_positions(report) == {step, step + 1}


def test_rewrite_a_staff_members_role_to_police_in_an_events_attendees(
    attacker: Attacker,
) -> None:
    step = attacker.position("lot:LOT-1", 2)

    def promote(record: dict) -> None:
        (attendee,) = [a for a in record["body"]["attendees"] if a["person"] == "STF-04"]
        attendee["role"] = "police"

    attacker.rewrite(step, promote)

    report = verify(attacker.db)

    assert not report.intact
    (mismatch,) = [f for f in report.findings if f.code == "ROLE_MISMATCH"]
    assert (mismatch.position, mismatch.stream) == (step, "lot:LOT-1")
    assert mismatch.evidence == {"person": "STF-04", "claimed": "police", "roster": "staff"}
    assert signers_failing(report, step) == set(TEAM)  # the body they signed changed
    assert ("CHAIN_BROKEN", step + 1, "lot:LOT-1") in located(report)
