"""The one ledger-state fold, and the holes an outside review found in the old three folds:
one test per attack, each asserting the refusal or the finding code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.application.keystore import Signer
from ledger.core import canonical
from ledger.core.errors import InputError, KeyringError, PolicyViolation
from ledger.core.keys import SigningKey
from ledger.verify import Verifier
from tests.conftest import AUTHORITY, TEAM


def codes(world, **kw) -> list[str]:
    return [f.code for f in Verifier(world.app.recorder, **kw).run().findings]


def unchanged(world):
    """Context: assert nothing is appended inside the block."""
    class Same:
        def __enter__(self):
            self.before = world.app.recorder.max_notification_id()

        def __exit__(self, *exc):
            assert world.app.recorder.max_notification_id() == self.before
    return Same()


# -- corrections (symptom 2) ------------------------------------------------------------


def test_a_correction_naming_a_step_by_a_wrong_hash_is_refused(world):
    world.register()
    fields = {"corrects": {"seq": 1, "event_hash": "0" * 64}, "reason": "miscounted",
              "count": 29}
    with unchanged(world), pytest.raises(PolicyViolation, match="the correction names step 1 "
                                         "of lot LOT-1 with hash 0000000000000000…, but that "
                                         "step's hash is"):
        world.step("lot:LOT-1", "lot.corrected", fields, TEAM)


def test_a_correction_naming_a_step_the_lot_does_not_have_is_refused(world):
    world.register()
    head = world.app.lot("LOT-1").head
    fields = {"corrects": {"seq": 5, "event_hash": head}, "reason": "r", "count": 29}
    with unchanged(world), pytest.raises(PolicyViolation, match="the lot has 1 step"):
        world.step("lot:LOT-1", "lot.corrected", fields, TEAM)


def test_a_correction_that_swaps_seals_is_flagged_forever(world):
    """A correction may restate the seals, but never silently: every verify reports it."""
    world.register()
    head = world.app.lot("LOT-1").head
    receipt = world.step("lot:LOT-1", "lot.corrected",
                         {"corrects": {"seq": 1, "event_hash": head}, "reason": "typo",
                          "seals": ["SEAL-9"]}, TEAM)
    assert [w.code for w in receipt.warnings] == ["CORRECTION"]
    report = Verifier(world.app.recorder).run()
    (flag,) = report.findings
    assert report.intact and flag.code == "CORRECTION" and flag.position == receipt.position
    assert flag.evidence["restated"] == {"seals": ["SEAL-9"]}
    assert flag.evidence["before"]["seals"] == ["SEAL-1", "SEAL-2"]
    assert world.app.lot("LOT-1").state.seals == ("SEAL-9",)


# -- key validity by the ledger's clock (symptom 3) --------------------------------------


def test_an_expired_key_cannot_sign_a_backdated_step(world):
    """STF-05's key was valid until 06:00; at 07:00 a step claiming 05:30 is signed with it.
    The signer's clock says the key was valid; the ledger's does not."""
    key = SigningKey.generate()
    until = world.clock.now + timedelta(minutes=30)
    world.app.enrol({"id": "TMP-01", "name": "Temp", "role": "staff", "unit": "U",
                     "valid_until": canonical.format_timestamp(until)},
                    key.public_key, world.signers[AUTHORITY], world.clock.now)
    world.signers["TMP-01"] = Signer("TMP-01", key)
    world.register()
    backdated = world.clock.now + timedelta(minutes=10)
    world.clock.now += timedelta(hours=1)
    team = ["POL-01", "POL-02", "STF-01", "STF-02", "STF-03", "TMP-01"]
    with unchanged(world), pytest.raises(PolicyViolation, match="TMP-01's key was valid until"):
        world.handover(team=team, at=backdated)


def test_a_revoked_key_cannot_sign_a_backdated_step(world):
    world.register()
    before_revocation = world.clock.now
    world.app.revoke_key("STF-04", "lost", world.signers[AUTHORITY], world.clock.now)
    with unchanged(world), pytest.raises(KeyringError, match="the key of STF-04 was revoked"):
        world.handover(at=before_revocation)


def test_a_backdated_authority_event_is_refused_like_a_backdated_lot_step(world):
    """Authority events get the same time-order checks as lot steps."""
    enrolled = world.clock.now
    with unchanged(world), pytest.raises(PolicyViolation, match="is before person:STF-04's "
                                         "previous event"):
        world.app.revoke_key("STF-04", "lost", world.signers[AUTHORITY],
                             enrolled - timedelta(days=30))


def test_a_writer_whose_clock_runs_behind_records_at_the_logs_last_recorded_at(world):
    """recorded_at never decreases along the log: a terminal with a slow clock is clamped."""
    world.register()
    last = world.clock.now
    world.clock.now -= timedelta(hours=2)
    world.register("LOT-2")
    (event,) = world.app.stream_events("lot:LOT-2")
    assert event.timestamp == last  # not the terminal clock, two hours behind
    assert codes(world) == []


# -- the authority set (symptoms 4 and 12) ---------------------------------------------


def new_authority(world, person_id: str) -> dict:
    key = SigningKey.generate()
    world.signers[person_id] = Signer(person_id, key)
    return {"id": person_id, "name": person_id, "unit": "Provincial Office",
            "public_key": key.public_key.hex}


def test_rotating_the_authority_keeps_everyone_it_enrolled_recording(world):
    """The genesis authority hands over to AUTH-02. Everyone AUTH-01 enrolled still counts
    (their enrolments are judged at their own positions), AUTH-01 can no longer sign, and
    AUTH-02 enrols and revokes."""
    world.register()
    entry = new_authority(world, "AUTH-02")
    world.app.set_authorities([entry], 1, world.sign(AUTHORITY, "AUTH-02"), world.clock.now)
    world.handover()
    with pytest.raises(KeyringError, match="the key of AUTH-01 was revoked"):
        world.app.revoke_key("STF-04", "lost", world.signers[AUTHORITY], world.clock.now)
    world.app.revoke_key("STF-04", "lost", world.signers["AUTH-02"], world.clock.now)
    key = SigningKey.generate()
    world.app.enrol({"id": "STF-09", "name": "N", "role": "staff", "unit": "U"},
                    key.public_key, world.signers["AUTH-02"], world.clock.now)
    assert world.app.ledger().authorities.members == frozenset({"AUTH-02"})
    assert codes(world) == []


def test_an_authority_set_not_signed_by_the_current_authority_is_refused(world):
    entry = new_authority(world, "AUTH-02")
    with unchanged(world), pytest.raises(PolicyViolation, match="is not signed by an "
                                         "authority key"):
        world.app.set_authorities([entry], 1, world.sign("AUTH-02"), world.clock.now)


def test_an_authority_set_whose_new_member_did_not_sign_is_refused(world):
    """As TUF's root: the new keys must sign too, proving someone holds them."""
    entry = new_authority(world, "AUTH-02")
    with unchanged(world), pytest.raises(PolicyViolation, match="the new authority set needs "
                                         "1 signature"):
        world.app.set_authorities([entry], 1, world.sign(AUTHORITY), world.clock.now)


def test_a_threshold_of_two_needs_two_authorities_on_every_roster_event(world):
    entries = [new_authority(world, "AUTH-02"), new_authority(world, "AUTH-03")]
    world.app.set_authorities(entries, 2, world.sign(AUTHORITY, "AUTH-02", "AUTH-03"),
                              world.clock.now)
    key = SigningKey.generate()
    person = {"id": "STF-09", "name": "N", "role": "staff", "unit": "U"}
    with unchanged(world), pytest.raises(PolicyViolation, match="needs 2 valid signature"):
        world.app.enrol(person, key.public_key, world.signers["AUTH-02"], world.clock.now)
    world.app.enrol(person, key.public_key, world.sign("AUTH-02", "AUTH-03"), world.clock.now)
    assert world.app.member("STF-09").role == "staff"
    assert codes(world) == []


def test_an_authority_set_may_not_name_a_staff_member(world):
    staff = world.app.member("STF-01")
    entry = {"id": "STF-01", "name": "x", "unit": "U", "public_key": staff.public_key.hex}
    with unchanged(world), pytest.raises(PolicyViolation, match="STF-01 is enrolled as staff"):
        world.app.set_authorities([entry], 1, world.sign(AUTHORITY, "STF-01"), world.clock.now)


# -- smaller ones (symptom 10) -----------------------------------------------------------


def test_one_public_key_enrolled_under_two_ids_is_refused(world):
    """Otherwise one person, holding one key, would count twice at every step."""
    twice = world.app.member("POL-01").public_key
    with unchanged(world), pytest.raises(InputError, match="is already enrolled for POL-01"):
        world.app.enrol({"id": "POL-09", "name": "Twin", "role": "police", "unit": "U"},
                        twice, world.signers[AUTHORITY], world.clock.now)


def test_a_key_rotated_to_someone_elses_key_is_refused(world):
    theirs = world.app.member("POL-01").public_key
    with unchanged(world), pytest.raises(InputError, match="is already enrolled for POL-01"):
        world.app.rotate_key("POL-02", theirs, world.signers[AUTHORITY], world.clock.now)


def test_a_lot_registered_without_a_holder_is_refused(world):
    """A lot without a holder could be released by anyone."""
    body = world.app.draft_step("lot:LOT-9", "lot.registered",
                                {"lot": {"id": "LOT-9", "exam": "gaokao-2026", "subject": "m",
                                         "kind": "question_paper", "count": 1,
                                         "seals": ["S"]}, "holder": "STF-01"},
                                "Printing house", TEAM, world.clock.now)
    del body["holder"]
    with unchanged(world), pytest.raises(InputError, match="'holder' is a required property"):
        world.app.record(body, world.sign(*TEAM))


def test_verify_since_counts_only_the_signatures_it_checked(world):
    world.register()
    world.handover()
    last = world.app.recorder.max_notification_id()
    full = Verifier(world.app.recorder).run()
    tail = Verifier(world.app.recorder, since=last).run()
    assert tail.events == 1 and tail.signatures == len(TEAM)
    assert full.signatures > tail.signatures


# -- verify --lot (symptom 7) ------------------------------------------------------------


def test_verify_lot_of_a_packed_lot_folds_its_container_and_finds_no_gap(world):
    """Packed into BOX-1, LOT-1 moves with the box; --lot LOT-1 must fold BOX-1's steps too,
    or the unpacking looks like a step by someone who does not hold the lot."""
    world.register("LOT-1")
    world.register("BOX-1", lot={"kind": "container", "count": 1})
    world.app.pack("BOX-1", ["LOT-1"], False, "Secure room 1", world.clock.now,
                   world.sign(*TEAM))
    world.handover("BOX-1", "STF-01", "STF-02", count=1)
    world.app.pack("BOX-1", ["LOT-1"], True, "Secure room 1", world.clock.now,
                   world.sign(*TEAM))
    world.handover("LOT-1", "STF-02", "STF-03")
    report = Verifier(world.app.recorder, lot="LOT-1").run()
    assert report.findings == [] and report.intact
    assert report.events == world.app.recorder.max_notification_id()
