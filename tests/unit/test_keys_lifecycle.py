"""Key revocation and rotation: authority-signed, and honoured by recorder and verifier."""

from __future__ import annotations

import pytest

from ledger.application.keystore import Signer
from ledger.core.errors import InputError, KeyringError, PolicyViolation
from ledger.core.keys import SigningKey
from ledger.verify import Verifier


def test_a_revoked_key_can_no_longer_sign(world):
    world.register()
    world.app.revoke_key("STF-04", "key file lost", world.signers["AUTH-01"], world.clock.now)
    before = world.app.recorder.max_notification_id()
    with pytest.raises(KeyringError, match="the key of STF-04 was revoked"):
        world.handover()
    assert world.app.recorder.max_notification_id() == before
    assert world.app.member("STF-04").revoked


def test_a_rotated_key_signs_and_the_old_one_does_not(world):
    world.register()
    new_key = SigningKey.generate()
    world.app.revoke_key("STF-04", "key file lost", world.signers["AUTH-01"], world.clock.now)
    world.app.rotate_key("STF-04", new_key.public_key, world.signers["AUTH-01"], world.clock.now)
    with pytest.raises(KeyringError, match="STF-04 is enrolled with key"):
        world.handover()
    world.signers["STF-04"] = Signer("STF-04", new_key)
    world.handover()
    report = Verifier(world.app.recorder).run()
    assert report.intact and report.findings == []


def test_only_an_authority_revokes(world):
    with pytest.raises(PolicyViolation, match="person.key_revoked on person:STF-04 is not signed"):
        world.app.revoke_key("STF-04", "spite", world.signers["STF-01"], world.clock.now)


def test_revoking_someone_not_enrolled_is_an_input_error(world):
    with pytest.raises(InputError, match="unknown person NOBODY"):
        world.app.revoke_key("NOBODY", "x", world.signers["AUTH-01"], world.clock.now)


def test_an_expired_key_does_not_count_for_steps_after_its_validity(world):
    from datetime import timedelta

    from ledger.core.canonical import format_timestamp

    key = SigningKey.generate()
    until = world.clock.now + timedelta(hours=1)
    world.app.enrol({"id": "STF-09", "name": "Temp", "role": "staff", "unit": "U",
                     "valid_until": format_timestamp(until)}, key.public_key,
                    world.signers["AUTH-01"], world.clock.now)
    world.signers["STF-09"] = Signer("STF-09", key)
    team = ["POL-01", "POL-02", "STF-01", "STF-02", "STF-03", "STF-09"]
    world.register(team=team)  # within validity
    with pytest.raises(PolicyViolation, match="STF-09's key was valid until .* not at"):
        world.handover(team=team, at=until + timedelta(minutes=1))
    report = Verifier(world.app.recorder).run()
    assert report.intact and report.findings == []
