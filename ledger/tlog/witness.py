"""Witnesses: what an independent office checks before it cosigns a checkpoint, and which
cosignatures the ledger accepts — pure (no I/O, no clock: the time is passed in).

- :func:`check_advance`: the new checkpoint must extend the last one the witness cosigned for
  its origin (RFC 9162 consistency proof, ``ledger.tlog.merkle.check_tree``); anything else
  that is not just "older" is a :class:`Fork`.
- :func:`cosign`: the log-signed checkpoint with the witness's timestamped cosignature
  (c2sp.org/tlog-cosignature, type 0x04) added; its key name is the witness's person id.
- :func:`witness_cosignatures`: the cosignatures of a note, each verified with the key the
  caller says counts for its name (who may witness is the caller's decision, not this
  module's).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ledger.tlog.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    Cosigner,
    cosignature_timestamp,
    cosigner_key,
    open_checkpoint,
)
from ledger.core.errors import InputError, KeyringError, NonCanonical, VerificationFailed
from ledger.tlog.merkle import HASH_SIZE, check_tree
from ledger.tlog.note import Note, Signature, Verifier, parse_note, sign_note

# The key that counts for a witness's name, as raw Ed25519 bytes; raises KeyringError saying
# why a name may not witness.
WitnessKey = Callable[[str], bytes]


class Fork(VerificationFailed):
    """Two checkpoints of one origin that no append-only log can both describe."""


def parse_consistency(data: Any) -> tuple[int, int, list[bytes]]:
    """(old size, new size, proof hashes) from ``custody prove --consistency --json`` output
    (``schemas/consistency-proof.schema.json``). Its roots are the log's claims and are not
    used: the checkpoints' own roots are what the proof must join."""
    keys = {"old_size", "new_size", "old_root", "new_root", "proof"}
    if not isinstance(data, dict) or set(data) != keys:
        raise InputError("the consistency proof is not the JSON of 'custody prove "
                         "--consistency OLD NEW --json'")
    sizes = [data["old_size"], data["new_size"]]
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes):
        raise InputError("the consistency proof's sizes are not positive integers")
    proof = data["proof"]
    try:
        if not isinstance(proof, list):
            raise ValueError
        hashes = [bytes.fromhex(h) for h in proof]
    except (TypeError, ValueError):
        raise InputError("the consistency proof's 'proof' is not a list of hex hashes") from None
    if any(len(h) != HASH_SIZE for h in hashes) or any(h.hex() != s for h, s in zip(hashes, proof)):
        raise InputError(f"the consistency proof's hashes are not {HASH_SIZE}-byte lowercase hex")
    return sizes[0], sizes[1], hashes


def check_advance(old: Checkpoint | None, new: Checkpoint,
                  proof: tuple[int, int, list[bytes]] | None) -> None:
    """Check that ``new`` may be cosigned after ``old`` (the last checkpoint cosigned for the
    same origin, or None: the first one is taken on trust).

    Raises :class:`Fork` when the two cannot describe one append-only log (same size and
    another root, or a consistency proof that fails), :class:`InputError` when ``new`` is
    older than ``old`` or the proof is missing or for other sizes.
    """
    if old is None:
        return
    if old.origin != new.origin:
        raise InputError(f"checkpoint for {new.origin!r} checked against one for {old.origin!r}")
    if new.size == old.size:
        if new.root != old.root:
            raise Fork(f"checkpoint of size {new.size} has root {new.root.hex()[:16]}…, but "
                       f"the one cosigned at that size has root {old.root.hex()[:16]}…")
        return
    if new.size < old.size:
        raise InputError(f"checkpoint of size {new.size} is older than the one of size "
                         f"{old.size} already cosigned for {new.origin}; give the newest")
    if proof is None:
        raise InputError(f"cosigning size {new.size} after size {old.size} needs a consistency "
                         f"proof: --proof FILE from 'custody prove --consistency {old.size} "
                         f"{new.size} --json'")
    old_size, new_size, hashes = proof
    if (old_size, new_size) != (old.size, new.size):
        raise InputError(f"the consistency proof goes from size {old_size} to {new_size}, not "
                         f"from {old.size} to {new.size}: run 'custody prove --consistency "
                         f"{old.size} {new.size} --json'")
    try:
        check_tree(hashes, new.size, new.root, old.size, old.root)
    except VerificationFailed as exc:
        raise Fork(f"checkpoint of size {new.size} does not extend the one of size "
                   f"{old.size} cosigned before: {exc}") from None


def cosign(note: bytes, log: Verifier, cosigner: Cosigner) -> tuple[Checkpoint, bytes]:
    """Open ``note`` (a checkpoint the ``log`` key signed for its origin) and return it with
    ``cosigner``'s timestamped cosignature added (replacing an earlier one by the same key)."""
    origin = Checkpoint.parse(parse_note(note)[0]).origin
    checkpoint, opened = open_checkpoint(note, origin, log)
    kept = Note(opened.text, opened.sigs, opened.unverified)
    return checkpoint, sign_note(kept, cosigner)


@dataclass(frozen=True)
class Cosignature:
    """One verified witness cosignature: who, at what POSIX time, over which checkpoint."""

    witness: str
    key_id: int
    timestamp: int
    line: str


def witness_verifier(name: str, public_key: bytes) -> CosignatureVerifier:
    """The cosignature verifier of witness ``name`` holding Ed25519 key ``public_key``."""
    return CosignatureVerifier(cosigner_key(name, public_key))


def witness_cosignatures(note: bytes, log_names: Sequence[str],
                         key_for: WitnessKey) -> list[Cosignature]:
    """Every cosignature of ``note``, verified with the key ``key_for`` gives its name.

    Signature lines by ``log_names`` (the log's own key names) are skipped; any other line —
    a name ``key_for`` refuses (it raises :class:`KeyringError` saying why), another key, or
    a signature that does not verify — raises :class:`KeyringError` naming it.
    """
    text, signatures = parse_note(note)
    found: list[Cosignature] = []
    for sig in signatures:
        if sig.name in log_names:
            continue
        found.append(_cosignature(text, sig, key_for))
    return found


def _cosignature(text: str, sig: Signature, key_for: WitnessKey) -> Cosignature:
    verifier = witness_verifier(sig.name, key_for(sig.name))
    try:
        raw = sig.signature
    except NonCanonical:
        raw = b""
    if sig.key_id != verifier.key_id or not verifier.verify(text.encode("utf-8"), raw):
        raise KeyringError(f"cosignature by {sig.name} refused: it does not verify with "
                           f"{sig.name}'s key in the ledger")
    return Cosignature(sig.name, sig.key_id, cosignature_timestamp(sig), sig.line)


def merge_cosignatures(stored: bytes, cosigned: bytes) -> bytes:
    """The stored note with the signature lines of ``cosigned`` it lacks added (same text)."""
    text, old = parse_note(stored)
    new_text, new = parse_note(cosigned)
    if new_text != text:
        raise InputError("the cosigned note is for another checkpoint text")
    lines = [s.line for s in old] + [s.line for s in new if s not in old]
    return (text + "\n" + "".join(lines)).encode("utf-8")


class WitnessWindows:
    """The time window the witnesses allow each leaf's ``recorded_at``.

    An event at leaf ``i`` was appended after every cosigned checkpoint of size <= i existed
    and before every one of size > i did: its recorded_at (whole seconds, as cosignature
    times are) may be no earlier than the latest such cosignature time before it, and no later
    than the earliest one after it. Built from the few cosigned checkpoints, sorted by size.
    """

    def __init__(self, cosigned: Sequence[tuple[int, int, str]]) -> None:
        ordered = sorted(cosigned)  # (size, timestamp, witness)
        self.sizes = [size for size, _, _ in ordered]
        self.before: list[tuple[int, int, str]] = []  # running max over sizes <= this one
        best: tuple[int, int, str] | None = None
        for size, time, who in ordered:
            if best is None or time > best[1]:
                best = (size, time, who)
            self.before.append(best)
        self.after: list[tuple[int, int, str]] = [(0, 0, "")] * len(ordered)
        best = None
        for k in range(len(ordered) - 1, -1, -1):
            size, time, who = ordered[k]
            if best is None or time < best[1]:
                best = (size, time, who)
            self.after[k] = best

    def __bool__(self) -> bool:
        return bool(self.sizes)

    def outside(self, leaf: int, recorded_at: int) -> tuple[str, int, int, str] | None:
        """None when ``recorded_at`` (POSIX seconds) fits the window of ``leaf``; else
        (``"before"`` or ``"after"``, the checkpoint's size, its cosignature time, witness)."""
        k = bisect_right(self.sizes, leaf)  # sizes[:k] <= leaf: checkpoints without it
        if k > 0:
            size, time, who = self.before[k - 1]
            if recorded_at < time:
                return ("before", size, time, who)
        if k < len(self.sizes):
            size, time, who = self.after[k]
            if recorded_at > time:
                return ("after", size, time, who)
        return None
