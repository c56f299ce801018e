"""Which keys sign and witness the ledger's checkpoints: the log keys the authority named, and
the inspectors and genesis witnesses who may cosign, as the one ledger-state fold knows them.
Pure: the verifier, the application and the CLI all open a checkpoint through here."""

from __future__ import annotations

from ledger.tlog.checkpoint import Checkpoint, open_checkpoint
from ledger.core.errors import KeyringError, VerificationFailed
from ledger.core.roster import WITNESS_ROLE, Member
from ledger.tlog.note import SIG_ED25519, Ed25519Verifier, VerifierKey
from ledger.core.state import LedgerState
from ledger.tlog.witness import Cosignature, WitnessKey, witness_cosignatures


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


def may_witness(member: Member | None) -> bool:
    """Whether a roster entry (``LedgerState.witness``) may cosign checkpoints now: an
    unrevoked inspector, or a witness the genesis named."""
    return member is not None and member.role == WITNESS_ROLE and not member.revoked


def witness_key(state: LedgerState) -> WitnessKey:
    """The key that counts for each witness name in ``state``: an enrolled inspector's current
    key or a genesis witness's; any other name is refused with the reason."""

    def key_for(name: str) -> bytes:
        who = state.witness(name)
        if not may_witness(who):
            what = "neither enrolled nor a witness named in the genesis" if who is None else (
                "revoked" if who.revoked else f"a {who.role}, not an inspector")
            raise KeyringError(f"cosignature by {name} refused: {name} is {what}; only "
                               "enrolled inspectors and the genesis's witnesses witness "
                               "checkpoints")
        assert who is not None
        return who.public_key.raw

    return key_for


def inspector_cosignatures(note: bytes, state: LedgerState) -> list[Cosignature]:
    """Every cosignature of ``note`` by a witness ``state`` trusts, verified; the log's own
    signature lines are skipped, anything else raises KeyringError naming it."""
    return witness_cosignatures(note, [state.ledger_id or ""], witness_key(state))
