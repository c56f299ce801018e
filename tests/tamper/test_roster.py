"""Attacks on who the roster says people are: forged enrolments, roles and keys."""

from __future__ import annotations

from ledger.application.keystore import Signer
from ledger.core import canonical, digests
from tests.conftest import PEOPLE, TEAM, World, fixed_key
from tests.tamper.attacker import Attacker, error_positions, located, signers_failing, verify

# What a careless forgery would trip over; a careful one trips over none of them.
CARELESS = {"SIGNATURE_INVALID", "CHAIN_BROKEN", "SEQUENCE_GAP", "NON_CANONICAL",
            "ENVELOPE_MISMATCH", "SCHEMA_VIOLATION"}


def test_enrol_a_person_with_a_non_authority_key(attacker: Attacker, day: World) -> None:
    """A staff member signs a well-formed, canonical, correctly chained enrolment of a
    second police officer, then that "officer" co-signs a handover instead of POL-02."""
    fake = Signer("FAKE-01", fixed_key("FAKE-01"))
    enrolment = attacker.row(attacker.position("person:POL-01", 1)).body
    enrolment.update(
        stream="person:FAKE-01", prev=digests.genesis_prev(enrolment["ledger"], "person:FAKE-01"),
        occurred_at=canonical.format_timestamp(day.clock()),
        person={"id": "FAKE-01", "name": "Nobody", "role": "police", "unit": "Unit",
                "public_key": fake.key.public_key.hex},
    )
    enrolled = attacker.forge(enrolment, day.sign("STF-01"), day.clock())

    step = attacker.draft_handover("lot:LOT-1", "STF-03", "STF-04", day.clock())
    roles = {**PEOPLE, "FAKE-01": "police"}
    crew = sorted(["FAKE-01", *(p for p in TEAM if p != "POL-02")])
    step["attendees"] = [{"person": p, "role": roles[p]} for p in crew]
    forged = attacker.forge(step, [fake, *day.sign(*(p for p in crew if p != "FAKE-01"))],
                            day.clock())

    report = verify(attacker.db)

    assert not report.intact
    assert ("NOT_AUTHORITY", enrolled, "person:FAKE-01") in located(report)
    (unknown,) = [f for f in report.findings if f.code == "SIGNER_UNKNOWN"]
    assert (unknown.position, unknown.stream, unknown.evidence) == (
        forged, "lot:LOT-1", {"person": "FAKE-01"})
    assert ("PRESENCE_SHORT", forged, "lot:LOT-1") in located(report)  # FAKE-01 never counts
    assert not {f.code for f in report.findings} & CARELESS
    assert error_positions(report) == {enrolled, forged}


def test_forge_a_roster_entry_role(attacker: Attacker) -> None:
    """STF-04's stored enrolment is edited to make them police."""
    enrolment = attacker.position("person:STF-04", 1)
    attacker.rewrite(enrolment, lambda record: record["body"]["person"].update(role="police"))

    report = verify(attacker.db)

    assert not report.intact
    assert signers_failing(report, enrolment) == {"AUTH-01"}
    assert ("NOT_AUTHORITY", enrolment, "person:STF-04") in located(report)
    # The forged entry never counts: STF-04 is not police, nor anyone, at any later step.
    steps = {r.position for r in attacker.rows() if r.stream.startswith("lot:")}
    unknown = {f.position for f in report.findings
               if f.code == "SIGNER_UNKNOWN" and f.evidence == {"person": "STF-04"}}
    assert unknown == steps
    assert "ROLE_MISMATCH" not in {f.code for f in report.findings}
    assert error_positions(report) == {enrolment} | steps


def test_forge_a_roster_entry_public_key(attacker: Attacker, day: World) -> None:
    """STF-04's enrolled key is swapped for the attacker's, who then signs a handover as STF-04."""
    impostor = Signer("STF-04", fixed_key("attacker"))
    enrolment = attacker.position("person:STF-04", 1)
    attacker.rewrite(enrolment, lambda record: record["body"]["person"].update(
        public_key=impostor.key.public_key.hex))
    step = attacker.draft_handover("lot:LOT-1", "STF-03", "STF-01", day.clock())
    others = [p for p in TEAM if p != "STF-04"]
    forged = attacker.forge(step, [impostor, *day.sign(*others)], day.clock())

    report = verify(attacker.db)

    assert not report.intact
    assert signers_failing(report, enrolment) == {"AUTH-01"}
    assert ("NOT_AUTHORITY", enrolment, "person:STF-04") in located(report)
    assert ("SIGNER_UNKNOWN", forged, "lot:LOT-1") in located(report)
    assert ("PRESENCE_SHORT", forged, "lot:LOT-1") in located(report)  # three staff counted
    assert not signers_failing(report, forged)  # the key is not trusted, so never tried
