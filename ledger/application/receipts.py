"""Checking an officer's receipt (c2sp.org/tlog-proof): offline, with the log's public key,
and against the ledger — is the receipted event still there, at its index?

Which keys are trusted is decided here, once: the log key the auditor brings (its note key
name is the checkpoint's origin), or else every log key the ledger's authority named. A
receipt that does not verify raises (``VerificationFailed``, or ``InputError`` when it is
malformed); an event the ledger lost is an ``EVENT_MISSING`` finding, the one
``custody verify --receipt`` reports (``ledger.verify.log.receipted_event``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.application.log import TransparencyLog
from ledger.core.errors import InputError, LedgerError, VerificationFailed
from ledger.core.findings import Finding
from ledger.verify.log_keys import log_verifiers
from ledger.core.state import LedgerState
from ledger.core.text import Message
from ledger.tlog.checkpoint import Checkpoint, TlogProof, open_proof
from ledger.tlog.merkle import leaf_hash
from ledger.tlog.note import SIG_ED25519, Ed25519Verifier, Verifier, VerifierKey, parse_note
from ledger.verify.log import receipted_event


@dataclass(frozen=True)
class CheckedReceipt:
    """A receipt that verified: what it proves, and where the ledger holds the event now."""

    label: str
    proof: TlogProof
    checkpoint: Checkpoint
    position: int | None = None  # checked against a ledger, and found there
    findings: list[Finding] = field(default_factory=list)

    @property
    def event_hash(self) -> bytes:
        assert self.proof.extra is not None
        return self.proof.extra


class ReceiptChecker:
    """Checks receipts with ``log_key`` (raw Ed25519; None: the ledger's own log keys) and,
    given the ledger's ``tlog``, that each event is still at its index."""

    def __init__(self, log_key: bytes | None, tlog: TransparencyLog | None) -> None:
        if log_key is None and tlog is None:
            raise InputError("a receipt is checked with the log's key or against the ledger")
        self.log_key = log_key
        self.tlog = tlog
        self._state: LedgerState | None = None

    def _verifiers(self, origin: str) -> list[Verifier]:
        if self.log_key is not None:
            return [Ed25519Verifier(VerifierKey(origin, SIG_ED25519, self.log_key))]
        assert self.tlog is not None
        if self._state is None:
            self._state = self.tlog.log_state()
        verifiers: list[Verifier] = list(log_verifiers(self._state))
        if not verifiers:
            raise InputError("the ledger names no log key: give --log-key LOG.pub")
        return verifiers

    def check(self, data: bytes, label: str) -> CheckedReceipt:
        """Verify the receipt ``data`` (named ``label`` in messages)."""
        proof = TlogProof.parse(data)
        if proof.extra is None or len(proof.extra) != 32:
            raise InputError(f"receipt {label} carries no 32-byte event hash")
        origin = Checkpoint.parse(parse_note(proof.checkpoint)[0]).origin
        error: LedgerError | None = None
        for verifier in self._verifiers(origin):
            try:
                _, checkpoint, _ = open_proof(data, leaf_hash(proof.extra), origin, verifier)
                break
            except LedgerError as exc:
                error = exc
        else:
            assert error is not None
            # Worded as the error it is (UnverifiedNote and its kind cannot be rebuilt from
            # a message).
            kind = next(k for k in (InputError, VerificationFailed, LedgerError)
                        if isinstance(error, k))
            raise kind(f"receipt {label}: {error}") from None
        if self.tlog is None:
            return CheckedReceipt(label, proof, checkpoint)
        position, found, absent = self._held(proof.index)
        findings = receipted_event(label, data, proof, found, absent)
        return CheckedReceipt(label, proof, checkpoint, None if findings else position,
                              findings)

    def _held(self, index: int) -> tuple[int | None, bytes | None, Message]:
        """(position, event hash) the ledger holds at leaf ``index``, and why there is none."""
        assert self.tlog is not None
        tlog = self.tlog
        if not tlog.has_tree() or index >= tlog.size():
            size = tlog.size() if tlog.has_tree() else 0
            return None, None, Message("the log holds only {size} events", size=size)
        position = tlog.recorder.leaf_position(index)
        try:
            found = tlog.event_hash_at(position) if position is not None else None
        except InputError:  # no row at that position any more
            found = None
        return position, found, Message("the ledger holds no event at that index any more")
