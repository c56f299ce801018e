"""Which keys sign the ledger's checkpoints: the log keys the authority named, as the one
ledger-state fold knows them. Pure: the verifier, the application and the CLI all open a
checkpoint through here."""

from __future__ import annotations

from ledger.core.checkpoint import Checkpoint, open_checkpoint
from ledger.core.errors import VerificationFailed
from ledger.core.note import SIG_ED25519, Ed25519Verifier, VerifierKey
from ledger.core.state import LedgerState


def log_verifiers(state: LedgerState) -> list[Ed25519Verifier]:
    """The note verifiers of every log key the ledger named (key name: the ledger id)."""
    if state.ledger_id is None:
        return []
    return [Ed25519Verifier(VerifierKey(state.ledger_id, SIG_ED25519, bytes.fromhex(k)))
            for k in state.log_keys]


def open_log_checkpoint(note: bytes, state: LedgerState) -> Checkpoint:
    """Open a checkpoint signed by one of the ledger's log keys for the ledger's origin;
    raise VerificationFailed (or InputError for a malformed note) saying why not."""
    verifiers = log_verifiers(state)
    if not verifiers:
        raise VerificationFailed("the ledger names no log key, so no checkpoint can be trusted")
    reason: Exception | None = None
    for verifier in reversed(verifiers):
        try:
            return open_checkpoint(note, state.ledger_id or "", verifier)[0]
        except VerificationFailed as exc:
            reason = exc
    assert reason is not None
    raise reason
