"""Attacks on who the roster says people are: forged enrolments, roles and keys."""

from __future__ import annotations

import pytest

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


def test_the_recorder_refuses_to_count_a_person_enrolled_by_a_non_authority_key(tmp_path):
    """A forged enrolment must not let its person co-sign new steps through the application."""
    import sqlite3

    from ledger.application.custody import open_ledger
    from ledger.application.keystore import Signer
    from ledger.core import canonical, digests
    from ledger.core.errors import StorageError
    from ledger.core.keys import SigningKey
    from tests.conftest import build_world

    world = build_world(tmp_path / "custody.db")
    world.register()
    forged_key = SigningKey.generate()
    body = {"ledger": "test-ledger", "stream": "person:FAKE-01", "seq": 1,
            "type": "person.enrolled", "schema": 1, "occurred_at": "2026-06-06T05:00:30.000000Z",
            "prev": digests.genesis_prev("test-ledger", "person:FAKE-01"),
            "person": {"id": "FAKE-01", "name": "Fake", "role": "police", "unit": "U",
                       "public_key": forged_key.public_key.hex}}
    record = {"body": body, "timestamp": world.clock(),
              "signatures": {"STF-01": world.signers["STF-01"].key.sign(digests.signing_digest(body))},
              "originator_topic": "ledger.domain.aggregates:Person"}
    world.app.close()
    with sqlite3.connect(world.db) as conn:
        conn.execute("INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                     ("person:FAKE-01", 1, "ledger.domain.events:PersonEnrolled",
                      canonical.encode(record)))
    app = open_ledger(str(world.db), clock=world.clock)
    before = app.recorder.max_notification_id()
    team = [world.signers[p] for p in ("POL-01", "STF-01", "STF-02", "STF-03", "STF-04")]
    with pytest.raises(StorageError, match=r"the ledger is damaged at position 13 "
                                           r"\(person:FAKE-01\): NOT_AUTHORITY: .*not signed by "
                                           r"an authority key.*run 'custody verify'"):
        app.record_handover("LOT-1", "STF-01", "STF-02", "Room", ["SEAL-1", "SEAL-2"], 30,
                            world.clock.now, team + [Signer("FAKE-01", forged_key)])
    assert app.recorder.max_notification_id() == before
