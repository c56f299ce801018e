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


def _forge_authority_event(world, stream: str, event_type: str, topic: str, seq: int,
                           prev: str, fields: dict, signer: str, first: bool) -> None:
    """Append an authority event signed by someone who is not an authority, well-formed and
    canonical, straight into the SQLite file."""
    import sqlite3

    from ledger.core import canonical, digests

    body = {"ledger": "test-ledger", "stream": stream, "seq": seq, "type": event_type,
            "schema": 1, "occurred_at": canonical.format_timestamp(world.clock.now), "prev": prev,
            **fields}
    record = {"body": body, "timestamp": world.clock(),
              "signatures": {signer: world.signers[signer].key.sign(
                  digests.signing_digest(body))}}
    if first:
        record["originator_topic"] = "ledger.domain.aggregates:Room"
    world.app.close()
    with sqlite3.connect(world.db) as conn:
        conn.execute("INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                     (stream, seq, topic, canonical.encode(record)))


def test_the_recorder_does_not_store_papers_in_a_room_registered_by_a_non_authority(tmp_path):
    """A staff member forges the registration of secure room SR-9; the recorder used to
    trust any stored room.registered. It now folds it through the one LedgerState, which
    finds it not signed by the authority: the ledger is damaged, nothing is written."""
    from ledger.application.custody import open_ledger
    from ledger.core import digests
    from ledger.core.errors import StorageError
    from tests.conftest import build_world

    world = build_world(tmp_path / "custody.db")
    world.register()
    _forge_authority_event(
        world, "room:SR-9", "room.registered", "ledger.domain.events:RoomRegistered", 1,
        digests.genesis_prev("test-ledger", "room:SR-9"),
        {"room": {"id": "SR-9", "name": "Nowhere", "licence": "BM-9",
                  "valid_from": "2026-01-01T00:00:00.000000Z",
                  "valid_until": "2026-12-31T00:00:00.000000Z"}}, "STF-01", first=True)
    app = open_ledger(str(world.db), clock=world.clock)
    before = app.recorder.max_notification_id()
    with pytest.raises(StorageError, match=r"damaged at position 13 \(room:SR-9\): "
                                           r"NOT_AUTHORITY"):
        app.record_step("lot:LOT-1", "lot.stored", {"from": "STF-01", "room": "SR-9",
                                                    "seals_checked": ["SEAL-1", "SEAL-2"],
                                                    "count_checked": 30},
                        "Secure room SR-9", world.clock.now, world.sign(*TEAM))
    assert app.recorder.max_notification_id() == before
    assert ("NOT_AUTHORITY", 13, "room:SR-9") in located(verify(world.db))


def test_a_policy_forged_by_a_non_authority_never_judges_a_step(tmp_path):
    """A staff member forges policy v2 asking for one person per step. The recorder used to
    take the ledger stream's last policy_set as in force, so a step with two people present
    would have been recorded. Now the fold finds the forgery: the recorder refuses to write
    on a ledger whose policy is forged (nothing written), and verify reports it."""
    import json
    from importlib import resources

    from ledger.application.custody import open_ledger
    from ledger.core.errors import StorageError
    from tests.conftest import build_world

    world = build_world(tmp_path / "custody.db")
    world.register()
    lenient = json.loads(resources.files("schemas").joinpath(
        "policies/two-police-four-staff.json").read_text())
    lenient["version"] = 2
    lenient["steps"] = {"*": {"require": [{"roles": ["staff"], "at_least": 1}]}}
    head = world.app.state()[0].head("ledger")
    _forge_authority_event(world, "ledger", "ledger.policy_set",
                           "ledger.domain.events:PolicySet", 2, head.event_hash,
                           {"policy": lenient}, "STF-01", first=False)
    app = open_ledger(str(world.db), clock=world.clock)
    before = app.recorder.max_notification_id()
    with pytest.raises(StorageError, match=r"damaged at position 13 \(ledger\): NOT_AUTHORITY"):
        app.record_handover("LOT-1", "STF-01", "STF-02", "Room", ["SEAL-1", "SEAL-2"], 30,
                            world.clock.now, world.sign("STF-01", "STF-02"))
    assert app.recorder.max_notification_id() == before
    assert ("NOT_AUTHORITY", 13, "ledger") in located(verify(world.db))
