"""Receipt checking in the application: which keys are trusted, and EVENT_MISSING as the same
Finding `verify --receipt` reports (one logic, ledger.verify.log.receipted_event)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from ledger.application.custody import open_ledger
from ledger.application.keystore import Signer
from ledger.application.log import TransparencyLog
from ledger.application.receipts import ReceiptChecker
from ledger.core.errors import InputError, VerificationFailed
from ledger.verify import Verifier
from ledger.verify.log import Evidence
from tests.conftest import AUTHORITY, LEDGER_ID, World, fixed_key

LOG = Signer(LEDGER_ID, fixed_key("LOG"))


@pytest.fixture
def receipt(day: World) -> bytes:
    day.app.set_log_key(LOG.key.public_key, day.signers[AUTHORITY], day.clock.now)
    tlog = TransparencyLog(day.app)
    note = tlog.sign_checkpoint(LOG)
    return tlog.tlog_proof(14, note)


def test_a_receipt_checks_offline_with_the_log_key_alone(receipt: bytes) -> None:
    checked = ReceiptChecker(LOG.key.public_key.raw, None).check(receipt, "r.proof")
    assert (checked.proof.index, checked.position, checked.findings) == (13, None, [])
    assert checked.checkpoint.origin == LEDGER_ID


def test_a_receipt_under_another_log_key_is_refused(receipt: bytes) -> None:
    other = fixed_key("NOT-THE-LOG").public_key.raw
    with pytest.raises(VerificationFailed, match="receipt r.proof: note has no verifiable signatures"):
        ReceiptChecker(other, None).check(receipt, "r.proof")


def test_against_the_ledger_its_own_log_keys_are_trusted_and_the_event_found(
        day: World, receipt: bytes) -> None:
    checked = ReceiptChecker(None, TransparencyLog(day.app)).check(receipt, "r.proof")
    assert (checked.position, checked.findings) == (14, [])


def test_an_event_deleted_from_the_ledger_is_the_finding_verify_reports(
        day: World, receipt: bytes) -> None:
    day.app.close()
    with closing(sqlite3.connect(day.db)) as c, c:
        c.execute("DELETE FROM stored_events WHERE rowid = 14")
    reader = open_ledger(str(day.db), read_only=True)
    try:
        checked = ReceiptChecker(None, TransparencyLog(reader)).check(receipt, "r.proof")
        verifier = Verifier(reader.recorder, evidence=[Evidence("r.proof", receipt, True)])
        verified = [f for f in verifier.run().findings if f.code == "EVENT_MISSING"]
        verifier.close()
    finally:
        reader.close()
    assert [f.code for f in checked.findings] == ["EVENT_MISSING"]
    assert checked.position is None
    assert str(checked.findings[0].message).startswith(
        "receipt r.proof proves event ") and "at index 13, but" in str(
        checked.findings[0].message)
    # The same finding, by the same code path, as the verifier's.
    assert checked.findings[0].evidence == verified[0].evidence


def test_a_receipt_without_an_event_hash_is_refused(receipt: bytes) -> None:
    from ledger.tlog.checkpoint import TlogProof

    bare = TlogProof.parse(receipt)
    no_extra = TlogProof(bare.index, bare.proof, bare.checkpoint).format()
    with pytest.raises(InputError, match="carries no 32-byte event hash"):
        ReceiptChecker(LOG.key.public_key.raw, None).check(no_extra, "r.proof")
