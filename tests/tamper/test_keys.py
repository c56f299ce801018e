"""Attacks that put a public key no one may enrol into a stored roster event.

The recorder cannot write such a key (``PublicKey`` refuses it), so a stored genesis,
enrolment or rotation that names one is forged. The identity point is the sharpest: OpenSSL
accepts the signature (R = identity, S = 0) of any message under it, so whoever gets it into
the roster can sign for that person without any private key.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.application.custody import open_ledger
from ledger.core import digests
from ledger.core.errors import StorageError
from tests.conftest import SEALS, TEAM, World
from tests.tamper.attacker import Attacker, error_positions, located, verify
from tests.tamper.test_cli import reported

IDENTITY = (1).to_bytes(32, "little")
# R = identity, S = 0: verifies under the identity key for every message, in OpenSSL.
IDENTITY_SIGNATURE = IDENTITY + bytes(32)


def test_enrolment_rewritten_to_the_identity_point_then_signed_with_no_key(
    attacker: Attacker, day: World,
) -> None:
    """STF-04's stored enrolment is given the identity point as key, and a handover is forged
    with (R = identity, S = 0) as STF-04's signature beside five real co-signers."""
    enrolment = attacker.position("person:STF-04", 1)
    attacker.rewrite(enrolment, lambda record: record["body"]["person"].update(
        public_key=IDENTITY.hex()))
    step = attacker.draft_handover("lot:LOT-1", "STF-03", "STF-01", day.clock())
    others = [p for p in TEAM if p != "STF-04"]
    forged = attacker.forge(step, day.sign(*others), day.clock(),
                            replayed={"STF-04": IDENTITY_SIGNATURE})

    report = verify(attacker.db)  # serial and two workers: the same findings, no crash

    assert not report.intact
    (invalid,) = [f for f in report.findings if f.code == "KEY_INVALID"]
    assert (invalid.position, invalid.stream) == (enrolment, "person:STF-04")
    assert invalid.evidence == {"person": "STF-04", "public_key": IDENTITY.hex(),
                                "key_id": digests.key_id(IDENTITY)}
    assert "point of small order" in invalid.message
    # The enrolment never reaches the roster: STF-04 counts nowhere, before or after.
    steps = {r.position for r in attacker.rows() if r.stream.startswith("lot:")}
    unknown = {f.position for f in report.findings
               if f.code == "SIGNER_UNKNOWN" and f.evidence == {"person": "STF-04"}}
    assert unknown == steps
    assert ("PRESENCE_SHORT", forged, "lot:LOT-1") in located(report)
    assert error_positions(report) == {enrolment} | steps


def test_rotation_to_the_identity_point_forged_by_a_colluder(
    attacker: Attacker, day: World,
) -> None:
    """A staff member appends a well-formed, chained rotation of POL-02's key to the identity
    point: reported as KEY_INVALID (not merely NOT_AUTHORITY), and POL-02's real key stands."""
    enrolment = attacker.row(attacker.position("person:POL-02", 1))
    body = {**enrolment.body, "seq": 2, "type": "person.key_rotated", "prev": enrolment.event_hash,
            "public_key": IDENTITY.hex()}
    del body["person"]
    rotated = attacker.forge(body, day.sign("STF-01"), day.clock())

    report = verify(attacker.db)

    assert located(report) == {("KEY_INVALID", rotated, "person:POL-02")}


def test_genesis_naming_the_identity_point_as_authority_key(attacker: Attacker) -> None:
    """The genesis itself is rewritten to name the identity point as the authority's key:
    one KEY_INVALID at position 1, and nothing after it is trusted."""
    attacker.rewrite(1, lambda record: record["body"]["authority"].update(
        public_key=IDENTITY.hex()))

    report = verify(attacker.db)

    assert not report.intact
    assert ("KEY_INVALID", 1, "ledger") in located(report)
    assert [f.code for f in report.findings].count("KEY_INVALID") == 1
    # Without a genesis nothing after it is trusted: no ledger, no authority, no roster.
    assert {f.code for f in report.findings} == {"KEY_INVALID", "GENESIS_MISSING",
                                                 "NOT_AUTHORITY", "SIGNER_UNKNOWN"}
    assert error_positions(report) == {r.position for r in attacker.rows()}


def test_identity_key_in_the_roster_is_reported_by_custody_verify_and_refused_by_the_recorder(
    attacker: Attacker, day: World,
) -> None:
    enrolment = attacker.position("person:STF-04", 1)
    attacker.rewrite(enrolment, lambda record: record["body"]["person"].update(
        public_key=IDENTITY.hex()))

    verified = CliRunner().invoke(main, ["--db", str(attacker.db), "verify", "--workers", "1"])

    assert verified.exit_code == 1, verified.output
    assert reported(verified.stdout, "KEY_INVALID", enrolment, "person:STF-04")
    assert "Traceback" not in verified.output

    before = attacker.rows()
    app = open_ledger(str(attacker.db), clock=day.clock)
    try:
        with pytest.raises(StorageError, match=rf"the ledger is damaged at position {enrolment} "
                                               r"\(person:STF-04\): KEY_INVALID: .* public key "
                                               r".* is refused: it is a point of small order"):
            app.record_handover("LOT-1", "STF-03", "STF-01", "Secure room 1", SEALS, 30,
                                day.clock(), day.sign(*TEAM))
    finally:
        app.close()
    assert attacker.rows() == before
