"""The ledger's transparency log: checkpoints, proofs and receipts over the stored Merkle tree.

The tree itself is written by the recorders, inside each append's transaction
(``ledger.storage.tree``); this module reads it (O(log n) stored hashes per proof or root)
and speaks the C2SP formats of ``ledger.tlog.checkpoint`` and ``ledger.tlog.note``:

- the log's key is the one an authority named with ``ledger.log_key_set``; its note key name
  is the ledger id, which is also every checkpoint's origin line;
- ``sign_checkpoint`` signs the current tree head and stores the note; ``tlog_proof`` writes
  an officer's receipt (c2sp.org/tlog-proof: index, inclusion proof, signed checkpoint, the
  event hash as extra data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.application.custody import CustodyLedger
from ledger.application.keystore import Signer
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint, TlogProof
from ledger.core.digests import event_hash_of_bytes
from ledger.core.errors import InputError, KeyringError, StorageError, VerificationFailed
from ledger.tlog.note import Ed25519Signer, sign_note
from ledger.core.state import LedgerState
from ledger.verify.log_keys import log_verifiers, open_log_checkpoint

NO_TREE = ("{label} has no Merkle tree yet (it was written before the log existed); the next "
           "recorded step creates it")


@dataclass(frozen=True)
class Inclusion:
    """An inclusion proof of one event in the tree of ``tree_size`` leaves."""

    index: int
    position: int
    tree_size: int
    event_hash: bytes
    proof: list[bytes]
    root: bytes
    checkpoint: bytes | None

    def to_data(self) -> dict[str, Any]:
        """The shape of ``schemas/inclusion-proof.schema.json``."""
        return {"index": self.index, "position": self.position, "tree_size": self.tree_size,
                "event_hash": self.event_hash.hex(), "proof": [h.hex() for h in self.proof],
                "root": self.root.hex(),
                "checkpoint": self.checkpoint.decode("utf-8") if self.checkpoint else None}


class TransparencyLog:
    """The log of one opened ledger."""

    def __init__(self, app: CustodyLedger) -> None:
        self.app = app
        self.recorder: Any = app.recorder

    def has_tree(self) -> bool:
        return bool(self.recorder.has_tree())

    def require_tree(self) -> None:
        if not self.has_tree():
            raise StorageError(NO_TREE.format(label=self.app.backend.label))

    def read(self, indexes: list[int]) -> list[bytes]:
        return self.recorder.tree_hashes(indexes)

    def size(self) -> int:
        self.require_tree()
        return int(self.recorder.tree_size())

    def root(self, size: int) -> bytes:
        return merkle.tree_hash(size, self.read)

    # -- keys and checkpoints ---------------------------------------------------------------

    def log_state(self) -> LedgerState:
        state = self.app.state()[0]
        self.app.ledger(state)  # refuses a database without a ledger
        return state

    def signer(self, key: Signer, state: LedgerState) -> Ed25519Signer:
        """The note signer for a log key file, refused unless the ledger named that key."""
        if not state.log_keys:
            raise KeyringError("this ledger names no log key yet; an authority names one with "
                               "'custody log enable --log-key LOG.pub --authority-key AUTH.key'")
        if key.key.public_key.hex != state.log_keys[-1]:
            raise KeyringError(f"key file of {key.person_id} holds key "
                               f"{key.key.public_key.id[:16]}, not the ledger's log key")
        return Ed25519Signer(state.ledger_id or "", key.key)

    def verifier_key(self) -> str:
        """The vkey (name+keyhash+base64) of the ledger's current log key."""
        state = self.log_state()
        verifiers = log_verifiers(state)
        if not verifiers:
            raise InputError("this ledger names no log key yet ('custody log enable')")
        return verifiers[-1].key.format()

    def sign_checkpoint(self, key: Signer) -> bytes:
        """Sign the current tree head as a C2SP checkpoint, store it and return the note."""
        state = self.log_state()
        signer = self.signer(key, state)
        size = self.size()
        text = Checkpoint(state.ledger_id or "", size, self.root(size)).format()
        note = sign_note(text, signer)
        self.recorder.insert_checkpoint(size, note)
        return note

    def stored_checkpoints(self) -> list[tuple[int, int, bytes]]:
        return list(self.recorder.checkpoint_rows()) if self.has_tree() else []

    def checkpoint_covering(self, size: int, state: LedgerState) -> bytes | None:
        """The latest stored checkpoint (with most signatures) covering ``size`` leaves that
        opens with the ledger's log key, or None."""
        best: tuple[int, int, bytes] | None = None
        for _, stored_size, note in self.stored_checkpoints():
            if stored_size < size:
                continue
            try:
                checkpoint = open_log_checkpoint(note, state)
            except (VerificationFailed, InputError):
                continue
            if checkpoint.size != stored_size or checkpoint.root != self.root(stored_size):
                continue
            rank = (stored_size, note.count(b"\n\xe2\x80\x94 "))
            if best is None or rank >= best[:2]:
                best = (*rank, note)
        return best[2] if best else None

    def stored_version(self, note: bytes) -> bytes:
        """The stored note of the same checkpoint text with the most signatures (its
        cosignatures added since it was signed), or ``note`` itself."""
        from ledger.tlog.note import parse_note

        text = parse_note(note)[0]
        best = note
        for _, _, stored in self.stored_checkpoints():
            try:
                same = parse_note(stored)[0] == text
            except (InputError, VerificationFailed):
                continue
            if same and stored.count(b"\n") > best.count(b"\n"):
                best = stored
        return best

    # -- proofs ----------------------------------------------------------------------------

    def event_hash_at(self, position: int) -> bytes:
        rows = self.recorder.select_notifications(start=position, stop=position, limit=1)
        if not rows or rows[0].id != position:
            raise InputError(f"no event is stored at position {position}")
        return event_hash_of_bytes(rows[0].state)

    def leaf_of(self, position: int) -> int:
        leaf = self.recorder.position_leaf(position)
        if leaf is None:
            raise InputError(f"no event is stored at position {position}")
        return int(leaf)

    def inclusion(self, position: int, tree_size: int | None = None,
                  checkpoint: bytes | None = None) -> Inclusion:
        """The inclusion proof of the event at log ``position`` in the tree of ``tree_size``."""
        self.require_tree()
        index = self.leaf_of(position)
        size = tree_size if tree_size is not None else self.size()
        if not index < size <= self.size():
            raise InputError(f"position {position} is leaf {index}: not in a tree of {size}")
        return Inclusion(index, position, size, self.event_hash_at(position),
                         merkle.prove_record(size, index, self.read), self.root(size), checkpoint)

    def consistency(self, old: int, new: int | None = None) -> dict[str, Any]:
        """The consistency proof from the tree of ``old`` leaves to that of ``new`` (default:
        now), in the shape of ``schemas/consistency-proof.schema.json``."""
        size = self.size()
        new = size if new is None else new
        if not 0 < old <= new <= size:
            raise InputError(f"no consistency proof from size {old} to size {new}: need "
                             f"0 < OLD <= NEW <= {size} (the tree's size)")
        return {"old_size": old, "new_size": new, "old_root": self.root(old).hex(),
                "new_root": self.root(new).hex(),
                "proof": [h.hex() for h in merkle.prove_tree(new, old, self.read)]}

    def tlog_proof(self, position: int, checkpoint: bytes) -> bytes:
        """A c2sp.org/tlog-proof receipt of the event at ``position`` under ``checkpoint``."""
        state = self.log_state()
        opened = open_log_checkpoint(checkpoint, state)
        inclusion = self.inclusion(position, opened.size)
        if inclusion.root != opened.root:
            raise VerificationFailed("the checkpoint's root is not the stored tree's root at "
                                     f"size {opened.size}; run 'custody verify'")
        return TlogProof(inclusion.index, tuple(inclusion.proof), checkpoint,
                         inclusion.event_hash).format()

    def add_cosignatures(self, cosigned: bytes) -> list[Any]:
        """Store the witness cosignatures of ``cosigned`` with the stored checkpoint of the
        same text. Every signature that is not the log's must be a valid cosignature by an
        enrolled inspector or a witness the genesis named (else KeyringError); returns the
        cosignatures stored."""
        from ledger.tlog.note import parse_note
        from ledger.verify.log_keys import inspector_cosignatures
        from ledger.tlog.witness import merge_cosignatures

        self.require_tree()
        state = self.app.state(roster=True)[0]  # who is an enrolled inspector, with which key
        self.app.ledger(state)
        open_log_checkpoint(cosigned, state)
        found = inspector_cosignatures(cosigned, state)
        if not found:
            raise InputError("the note carries no witness cosignature; cosign it first with "
                             "'custody witness cosign'")
        text = parse_note(cosigned)[0]

        def merge(note: bytes) -> bytes | None:
            try:
                same = parse_note(note)[0] == text
            except (InputError, VerificationFailed):
                return None
            return merge_cosignatures(note, cosigned) if same else None

        if not self.recorder.add_cosignatures(merge):
            raise InputError("this ledger stored no such checkpoint; add cosignatures only "
                             "to checkpoints from 'custody checkpoint'")
        return found
