"""The recorder's rules, through the public application API on a real SQLite file.

Every refusal must name what is wrong and leave the log exactly as it was."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.core import digests
from ledger.core.errors import (
    ConcurrentChange,
    InputError,
    KeyringError,
    PolicyViolation,
    StorageError,
)
from ledger.core.keys import SigningKey
from ledger.application.custody import open_ledger
from ledger.application.keystore import Signer
from ledger.verify import Verifier
from tests.conftest import TEAM


def positions(world) -> int:
    return world.app.recorder.max_notification_id() or 0


def refused(world, error, match, action):
    before = positions(world)
    with pytest.raises(error, match=match):
        action()
    assert positions(world) == before, "a refused step must write nothing"


def test_a_step_signed_by_two_police_and_four_staff_is_recorded_and_verifies(world):
    receipt = world.register()
    world.handover()
    assert receipt.seq == 1 and receipt.position == 12  # genesis + 10 enrolments before it
    assert world.app.lot("LOT-1").state.holder == "STF-02"
    report = Verifier(world.app.recorder).run()
    assert report.intact and report.findings == [] and report.events == 13


def test_five_signers_are_refused_naming_who_is_missing(world):
    world.register()
    refused(world, PolicyViolation,
            r"needs 4 staff, has 3 \(STF-01, STF-02, STF-03\): 1 missing — nothing was written",
            lambda: world.handover(team=TEAM[:5]))


def test_registration_also_needs_the_full_team(world):
    refused(world, PolicyViolation, "needs 2 police, has 1",
            lambda: world.register(team=["POL-01", "STF-01", "STF-02", "STF-03", "STF-04", "STF-05"]))


def test_a_staff_member_claimed_as_police_is_counted_as_staff_and_refused(world):
    world.register()
    lot = world.app.lot("LOT-1")
    team = ["POL-01", "STF-01", "STF-02", "STF-03", "STF-04", "STF-05"]
    body = {
        "ledger": "test-ledger", "stream": "lot:LOT-1", "seq": 2, "type": "lot.handed_over",
        "schema": 1, "occurred_at": "2026-06-06T06:00:00.000000Z", "prev": lot.head,
        "from": "STF-01", "to": "STF-02", "location": "Secure room", "seals_checked": ["SEAL-1", "SEAL-2"],
        "count_checked": 30, "policy": {"id": "two-police-four-staff", "version": 1},
        "attendees": [{"person": p, "role": "police" if p == "STF-05" else world.app.member(p).role}
                      for p in team],
    }
    digest = digests.signing_digest(body)
    signatures = {p: world.signers[p].key.sign(digest) for p in team}
    refused(world, PolicyViolation, "lists STF-05 as police, but the roster says staff",
            lambda: world.app.submit(body, signatures))
    with pytest.raises(PolicyViolation, match="needs 2 police, has 1 \\(POL-01\\)"):
        world.app.submit(body, signatures)


def test_handover_by_someone_who_does_not_hold_the_lot_is_refused(world):
    world.register(holder="STF-01")
    refused(world, PolicyViolation, "held by STF-01, not STF-03",
            lambda: world.handover(giver="STF-03", receiver="STF-04"))


def test_receiver_must_be_present(world):
    world.register()
    refused(world, PolicyViolation, "the receiver STF-05 did not co-sign",
            lambda: world.handover(receiver="STF-05"))


def test_a_count_short_is_refused(world):
    world.register()
    refused(world, PolicyViolation, "count checked 29, but 30 on record",
            lambda: world.handover(count=29))


def test_a_seal_mismatch_is_refused_naming_the_seals(world):
    world.register()
    refused(world, PolicyViolation, r"missing \['SEAL-2'\], unexpected \['SEAL-9'\]",
            lambda: world.handover(seals=["SEAL-1", "SEAL-9"]))


def test_time_running_backwards_within_a_lot_is_refused(world):
    world.register()
    refused(world, PolicyViolation, "is before the lot's previous step",
            lambda: world.handover(at=world.clock.now - timedelta(hours=1)))


def test_an_acknowledged_violation_is_recorded_and_flagged_by_the_verifier(world):
    world.register()
    receipt = world.handover(count=29, acknowledge="bag 30 torn open at printing house, see incident")
    assert [w.code for w in receipt.warnings] == ["ACKNOWLEDGED_VIOLATION"]
    report = Verifier(world.app.recorder).run()
    assert report.intact
    (finding,) = report.findings
    assert finding.code == "ACKNOWLEDGED_VIOLATION" and finding.evidence["code"] == "COUNT_MISMATCH"
    assert finding.position == receipt.position


def test_acknowledgement_never_covers_a_bad_signature(world):
    world.register()
    impostor = Signer("STF-04", SigningKey.generate())
    refused(world, KeyringError, "STF-04 is enrolled with key",
            lambda: world.app.record_handover("LOT-1", "STF-01", "STF-02", "Room", ["SEAL-1", "SEAL-2"],
                                              30, world.clock.now,
                                              world.sign(*TEAM[:5]) + [impostor], acknowledge="x"))


def test_the_same_person_cannot_sign_twice(world):
    world.register()
    refused(world, InputError, "STF-01 signs twice",
            lambda: world.handover(team=TEAM + ["STF-01"]))


def test_unknown_people_and_lots_are_input_errors(world):
    world.register()
    refused(world, InputError, "unknown lot LOT-9", lambda: world.handover(lot_id="LOT-9"))
    refused(world, InputError, r"unknown person NOBODY \(--to\)",
            lambda: world.handover(receiver="NOBODY"))
    refused(world, InputError, "--from and --to are both STF-01; a step needs two parties",
            lambda: world.handover(giver="STF-01", receiver="STF-01"))


def test_a_duplicate_lot_is_refused(world):
    world.register()
    refused(world, InputError, "lot LOT-1 is already registered", lambda: world.register())


def test_a_duplicate_enrolment_is_refused(world):
    refused(world, InputError, "person POL-01 is already enrolled",
            lambda: world.app.enrol({"id": "POL-01", "name": "X", "role": "police", "unit": "U"},
                                    SigningKey.generate().public_key, world.signers["AUTH-01"],
                                    world.clock.now))


def test_only_an_authority_can_enrol(world):
    refused(world, PolicyViolation, "not signed by an authority key",
            lambda: world.app.enrol({"id": "NEW-01", "name": "X", "role": "police", "unit": "U"},
                                    SigningKey.generate().public_key, world.signers["STF-01"],
                                    world.clock.now))


def test_a_field_that_breaks_the_schema_is_refused_before_anyone_signs(world):
    refused(world, InputError, "lot.subject: is empty",
            lambda: world.register(lot={"subject": ""}))
    refused(world, InputError, "lot.exam: 'gaokao 2026' is not an id",
            lambda: world.register(lot={"exam": "gaokao 2026"}))
    refused(world, InputError, "location: is 201 characters long; at most 200 are accepted",
            lambda: world.app.register_lot(
                {"id": "L", "exam": "e", "subject": "s", "kind": "question_paper", "count": 1,
                 "seals": ["S"]}, "x" * 201, world.clock.now, world.sign(*TEAM), "STF-01"))


def test_a_stale_draft_is_refused_as_a_concurrent_change(world):
    world.register()
    lot = world.app.lot("LOT-1")
    world.handover()  # someone else records first
    body = {
        "ledger": "test-ledger", "stream": "lot:LOT-1", "seq": 2, "type": "lot.handed_over",
        "schema": 1, "occurred_at": "2026-06-06T06:00:00.000000Z", "prev": lot.head,
        "from": "STF-01", "to": "STF-02", "location": "Room", "seals_checked": ["SEAL-1", "SEAL-2"],
        "count_checked": 30, "policy": {"id": "two-police-four-staff", "version": 1},
        "attendees": [{"person": p, "role": world.app.member(p).role} for p in TEAM],
    }
    digest = digests.signing_digest(body)
    refused(world, ConcurrentChange, "re-draft and sign again",
            lambda: world.app.submit(body, {p: world.signers[p].key.sign(digest) for p in TEAM}))


def test_opening_a_missing_database_says_run_init(tmp_path):
    with pytest.raises(StorageError, match="run 'custody init' first"):
        open_ledger(str(tmp_path / "absent.db"))
    assert not (tmp_path / "absent.db").exists()


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="junk.db"):
        open_ledger(str(junk)).ledger()
    assert junk.read_bytes() == b"this is not sqlite" * 100


def test_init_twice_is_refused(world):
    refused(world, InputError, "already holds ledger test-ledger",
            lambda: world.app.init("other", {"id": "AUTH-01", "name": "A", "unit": "U"},
                                   world.signers["AUTH-01"], world.app.ledger().policy,
                                   world.clock.now))


IDENTITY_POINT = (1).to_bytes(32, "little")


@pytest.mark.parametrize("event_type", ["person.enrolled", "person.key_rotated"])
def test_a_submitted_roster_event_naming_the_identity_point_is_refused(world, event_type):
    """A hand-made, authority-signed enrolment or rotation never passes through a .pub file:
    the recorder checks the key it names all the same (bad input, nothing written)."""
    from ledger.core import canonical
    from tests.conftest import AUTHORITY

    person_id = "NEW-01" if event_type == "person.enrolled" else "POL-01"
    stream = f"person:{person_id}"
    existing = world.app.state([stream])[0].head(stream)
    body = {"ledger": "test-ledger", "stream": stream, "type": event_type, "schema": 1,
            "occurred_at": canonical.format_timestamp(world.clock.now),
            "seq": 1 if existing is None else existing.seq + 1,
            "prev": digests.genesis_prev("test-ledger", stream) if existing is None
            else existing.event_hash}
    if event_type == "person.enrolled":
        body["person"] = {"id": person_id, "name": "N", "role": "police", "unit": "U",
                          "public_key": IDENTITY_POINT.hex()}
    else:
        body["public_key"] = IDENTITY_POINT.hex()
    signatures = {AUTHORITY: world.signers[AUTHORITY].key.sign(digests.signing_digest(body))}
    refused(world, InputError, f"{event_type} of {stream}: public key "
            f"{digests.key_id(IDENTITY_POINT)[:16]} is refused: it is a point of small order",
            lambda: world.app.submit(body, signatures))
