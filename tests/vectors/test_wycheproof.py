"""Project Wycheproof's Ed25519 vectors through the recorder's check and the verifier's.

Sources (Apache-2.0; commits, paths and blob ids in WYCHEPROOF.md):
- ``eddsa_test.json``: github.com/google/wycheproof, ``testvectors/eddsa_test.json`` at
  507bb993e90a87d0a62591a5284bc34a3f1c5c22;
- ``ed25519_test.json``: github.com/C2SP/wycheproof, ``testvectors_v1/ed25519_test.json`` at
  dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166.

Every case goes through (a) the recorder's check: ``rules.judge_signatures`` verifying
itself, with ``keys.verify``; and (b) the verifier's: ``keys.verify_batch`` run in worker
processes, its results handed to ``rules.judge_signatures`` as ``verified``, as
``ledger/verify`` does. Both verdicts must equal the vector's ``result``; the enrolment check
(``PublicKey``) must accept every key the vectors hold.

"acceptable" cases: libsodium gives every signature a plain yes or no; for a case Wycheproof
leaves to the implementation, ``ACCEPTABLE`` records libsodium's verdict and both paths must
give that one. Neither file has such a case today; the test asserts so, so a newer copy that
adds one fails until its verdict is written down.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.core import keys
from ledger.core.errors import InputError, VerificationFailed
from ledger.core.keys import PublicKey
from ledger.core.roster import Member
from ledger.core.rules import judge_signatures

HERE = Path(__file__).parent
FILES = {"eddsa_test.json": "key", "ed25519_test.json": "publicKey"}  # file -> its key field
# (file, tcId) -> libsodium's verdict, for cases the vectors mark "acceptable".
ACCEPTABLE: dict[tuple[str, int], bool] = {}
SIGNER = "WYCHEPROOF"


@dataclass(frozen=True)
class Case:
    file: str
    tc_id: int
    public_key: bytes
    message: bytes
    signature: bytes
    result: str
    comment: str

    @property
    def expected(self) -> bool:
        if self.result == "acceptable":
            return ACCEPTABLE[(self.file, self.tc_id)]
        return self.result == "valid"

    @property
    def task(self) -> tuple[bytes, bytes, bytes]:
        return (self.public_key, self.message, self.signature)


def load(name: str) -> tuple[dict, list[Case]]:
    data = json.loads((HERE / name).read_text())
    cases = [Case(name, test["tcId"], bytes.fromhex(group[FILES[name]]["pk"]),
                  bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]), test["result"],
                  test["comment"])
             for group in data["testGroups"] for test in group["tests"]]
    return data, cases


LOADED = {name: load(name) for name in FILES}
CASES = [case for _, cases in LOADED.values() for case in cases]


def member(public_key: PublicKey) -> Member:
    return Member(SIGNER, "Wycheproof", "staff", "vectors", public_key)


def recorder_accepts(public_key: PublicKey, message: bytes, signature: bytes) -> bool:
    """The recorder's verdict: judge_signatures verifies the signature itself."""
    present, findings = judge_signatures(message, {SIGNER: signature},
                                         lambda pid: member(public_key) if pid == SIGNER else None)
    assert (SIGNER in present) == (not findings)
    assert [f.code for f in findings] in ([], ["SIGNATURE_INVALID"])
    return SIGNER in present


def verifier_accepts(public_key: PublicKey, message: bytes, signature: bytes,
                     verified: dict[tuple[bytes, bytes, bytes], bool]) -> bool:
    """The verifier's verdict: judge_signatures uses what the workers computed."""
    task = (public_key.raw, message, signature)
    assert task in verified, "the workers must have checked it: the judge is not to"
    present, _ = judge_signatures(message, {SIGNER: signature},
                                  lambda pid: member(public_key) if pid == SIGNER else None,
                                  verified={task: verified[task]})
    return SIGNER in present


@pytest.fixture(scope="module")
def worker_verdicts() -> dict[tuple[bytes, bytes, bytes], bool]:
    """Every case's signature checked by keys.verify_batch in two worker processes, in
    chunks, as the verifier's pool does."""
    tasks = [case.task for case in CASES]
    chunks = [tasks[i:i + 16] for i in range(0, len(tasks), 16)]
    with ProcessPoolExecutor(2) as pool:
        results = [ok for part in pool.map(keys.verify_batch, chunks) for ok in part]
    return dict(zip(tasks, results))


@pytest.mark.parametrize("name", FILES)
def test_the_vector_files_are_whole_and_hold_only_verdicts_we_handle(name):
    data, cases = LOADED[name]
    assert data["algorithm"] == "EDDSA"
    assert data["numberOfTests"] == len(cases) == {"eddsa_test.json": 145,
                                                    "ed25519_test.json": 151}[name]
    assert {case.result for case in cases} <= {"valid", "invalid", "acceptable"}
    acceptable = {(case.file, case.tc_id) for case in cases if case.result == "acceptable"}
    assert acceptable == {k for k in ACCEPTABLE if k[0] == name}, (
        "record libsodium's verdict for each acceptable case in ACCEPTABLE")
    assert sum(case.result == "valid" for case in cases) == {"eddsa_test.json": 84,
                                                             "ed25519_test.json": 88}[name]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.file[:-10]}-{c.tc_id}")
def test_recorder_and_verifier_give_wycheproofs_verdict(case, worker_verdicts):
    public_key = PublicKey(case.public_key)  # enrolment accepts every key the vectors hold
    recorder = recorder_accepts(public_key, case.message, case.signature)
    verifier = verifier_accepts(public_key, case.message, case.signature, worker_verdicts)
    assert recorder == verifier == case.expected, case.comment


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.file[:-10]}-{c.tc_id}")
def test_keys_verify_raises_exactly_when_the_vector_is_invalid(case):
    public_key = PublicKey(case.public_key)
    if case.expected:
        assert keys.verify(public_key, case.message, case.signature) is None
    else:
        with pytest.raises(VerificationFailed):
            keys.verify(public_key, case.message, case.signature)


# -- the attack that made the two paths one -------------------------------------------------

P = 2**255 - 19
# The identity point (x = 0, y = 1) in its canonical encoding and two non-canonical ones.
IDENTITY_KEYS = {
    "canonical": (1).to_bytes(32, "little"),
    "sign-bit-set": (1 | 1 << 255).to_bytes(32, "little"),
    "y-equals-p-plus-1": (P + 1).to_bytes(32, "little"),
}
# R = the identity, S = 0: [S]B - [k]A is the identity for every message when A is.
IDENTITY_SIGNATURE = (1).to_bytes(32, "little") + bytes(32)


def smuggled(raw: bytes) -> PublicKey:
    """A PublicKey that skipped the enrolment check, as if a roster had held it anyway."""
    key = object.__new__(PublicKey)
    object.__setattr__(key, "raw", raw)
    return key


@pytest.mark.parametrize("encoding", IDENTITY_KEYS)
def test_signature_under_the_identity_point_that_openssl_accepts_is_refused(encoding):
    """OpenSSL (cryptography), which the recorder used to verify with, accepts the signature
    (R = identity, S = 0) of any message under the identity point as public key: anyone could
    sign for a person enrolled with it. Both paths now refuse it, and no one can enrol it."""
    raw = IDENTITY_KEYS[encoding]
    message = b"any step the attacker likes"
    Ed25519PublicKey.from_public_bytes(raw).verify(IDENTITY_SIGNATURE, message)  # OpenSSL: yes

    key = smuggled(raw)
    with pytest.raises(VerificationFailed, match="does not verify"):
        keys.verify(key, message, IDENTITY_SIGNATURE)
    assert not recorder_accepts(key, message, IDENTITY_SIGNATURE)
    assert keys.verify_batch([(raw, message, IDENTITY_SIGNATURE)]) == [False]
    with ProcessPoolExecutor(1) as pool:
        assert list(pool.map(keys.verify_batch, [[(raw, message, IDENTITY_SIGNATURE)]])) == [
            [False]]

    with pytest.raises(InputError, match="refused: "):
        PublicKey(raw)
    with pytest.raises(InputError, match="refused: "):
        PublicKey.from_hex(raw.hex())


def test_openssl_and_libsodium_agree_on_every_wycheproof_case():
    """Why the vectors alone would not have caught the attack: OpenSSL gives Wycheproof's
    verdict on all of them too. The disagreement lies in keys the vectors never use."""
    for case in CASES:
        try:
            Ed25519PublicKey.from_public_bytes(case.public_key).verify(case.signature,
                                                                       case.message)
            openssl = True
        except InvalidSignature:
            openssl = False
        assert openssl == case.expected, (case.file, case.tc_id)
