"""Checkpoints, witness cosignatures and proofs of inclusion, in the C2SP text formats — pure.

- c2sp.org/tlog-checkpoint: the note text ``<origin>\\n<tree size>\\n<base64 root>\\n``, then
  optional extension lines; the log signs it as a signed note (:mod:`ledger.tlog.note`).
- c2sp.org/tlog-cosignature: a witness's timestamped Ed25519 cosignature (signature type
  0x04) over ``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint text. The time is
  given by the caller: the core has no clock.
- c2sp.org/tlog-proof: the receipt an officer keeps — index, inclusion proof, checkpoint and
  optional extra data — verifiable offline with the log's and witnesses' public keys.

Every format has a ``format``/``parse`` pair; a parser accepts only what ``format`` writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Sequence

from ledger.core.errors import InputError, NonCanonical, VerificationFailed
from ledger.core.keys import SigningKey
from ledger.tlog.merkle import HASH_SIZE, check_record
from ledger.tlog.note import (
    SIG_COSIGNATURE_V1,
    KeyVerifier,
    Note,
    Signature,
    Verifier,
    VerifierKey,
    Verifiers,
    check_key_name,
    decode_base64,
    ed25519_verify,
    encode_base64,
    open_note,
    parse_note,
)

MAX_TREE_SIZE = (1 << 64) - 1
MAX_TIMESTAMP = (1 << 63) - 1  # tlog-cosignature: "MUST NOT exceed 2^63 - 1"
_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)


def parse_decimal(text: str, what: str, limit: int = MAX_TREE_SIZE) -> int:
    """Parse ASCII decimal with no leading zeroes (and no sign, space or '_') up to ``limit``."""
    if not _DECIMAL.fullmatch(text):
        raise NonCanonical(f"{what} {text[:24]!r} is not a decimal number without leading zeroes")
    value = int(text)
    if value > limit:
        raise NonCanonical(f"{what} {value} is larger than {limit}")
    return value


# --- c2sp.org/tlog-checkpoint -----------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: its origin, tree size and root hash, and any extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # "Note text" section: the origin MUST be non-empty; lines hold no newline or control.
        lines = [(self.origin, "origin"), *((e, "extension line") for e in self.extensions)]
        for line, what in lines:
            if not isinstance(line, str) or not line:
                raise InputError(f"checkpoint {what} is empty")
            if any(ch < " " for ch in line):
                raise InputError(
                    f"checkpoint {what} {line[:40]!r} holds a newline or control character"
                )
        if not isinstance(self.size, int) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise InputError(f"checkpoint tree size {self.size!r} is not in 0 .. 2**64-1")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise InputError(f"checkpoint root hash must be {HASH_SIZE} bytes")

    def format(self) -> str:
        """Return the checkpoint's note text (ending in a newline, without signatures)."""
        lines = [self.origin, str(self.size), encode_base64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        """Parse checkpoint note text; refuse anything :meth:`format` would not write.

        At least three non-empty lines, each ending in a newline; the size in decimal without
        leading zeroes; the root the canonical base64 of 32 bytes; extension lines non-empty.
        """
        if not isinstance(text, str) or not text.endswith("\n"):
            raise NonCanonical("malformed checkpoint: the text must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NonCanonical("malformed checkpoint: fewer than 3 lines (origin, size, root)")
        for i, line in enumerate(lines):
            if not line:
                raise NonCanonical(f"malformed checkpoint: line {i + 1} is empty")
            if any(ch < " " for ch in line):
                raise NonCanonical(f"malformed checkpoint: line {i + 1} holds a control character")
        origin, size_text, root_text, *extensions = lines
        size = parse_decimal(size_text, "checkpoint tree size", MAX_TREE_SIZE)
        root = decode_base64(root_text, "checkpoint root hash")
        if len(root) != HASH_SIZE:
            raise NonCanonical(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
        return cls(origin, size, root, tuple(extensions))


def open_checkpoint(
    msg: bytes, origin: str, log: Verifier, witnesses: Sequence[Verifier] = ()
) -> tuple[Checkpoint, Note]:
    """Open a signed checkpoint: the log's signature must verify and the origin must match.

    Cosignatures by the given ``witnesses`` are verified too (a bad one rejects the note, as
    signed-note says); they are the returned note's other ``sigs``, and signatures by
    unknown keys are in its ``unverified``. Whether enough witnesses signed is the caller's
    policy.
    """
    note = open_note(msg, Verifiers(log, *witnesses))
    if not any(s.name == log.name and s.key_id == log.key_id for s in note.sigs):
        raise VerificationFailed(
            f"checkpoint is not signed by the log key {log.name}+{log.key_id:08x}"
        )
    checkpoint = Checkpoint.parse(note.text)
    if checkpoint.origin != origin:
        raise VerificationFailed(
            f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}"
        )
    return checkpoint, note


# --- c2sp.org/tlog-cosignature (Ed25519, type 0x04) -------------------------------------------


def cosignature_message(timestamp: int, checkpoint_text: str) -> bytes:
    """Return what a cosigner signs: ``cosignature/v1\\ntime <t>\\n`` ‖ the checkpoint's note text.

    tlog-cosignature, "Ed25519 signed message": the whole note body, extension lines included.
    """
    if not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InputError(f"cosignature timestamp {timestamp!r} is not in 0 .. 2**63-1")
    Checkpoint.parse(checkpoint_text)  # a cosignature is only ever over a checkpoint
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode("utf-8")


def cosigner_key(name: str, public_key: bytes) -> VerifierKey:
    """Return the vkey of a cosigner: signature type 0x04 and the 32-byte Ed25519 key."""
    return VerifierKey(name, SIG_COSIGNATURE_V1, public_key)


@dataclass(frozen=True)
class CosignatureVerifier(KeyVerifier):
    """Verifies a witness's timestamped cosignatures (type 0x04) by one key."""

    SIG_TYPE: ClassVar[int] = SIG_COSIGNATURE_V1
    KIND: ClassVar[str] = "cosignature/v1 key (type 0x04)"

    def verify(self, text: bytes, signature: bytes) -> bool:
        # timestamped_signature: u64 timestamp (big-endian) ‖ 64-byte Ed25519 signature.
        if len(signature) != 8 + 64:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        try:
            message = cosignature_message(timestamp, text.decode("utf-8"))
        except (InputError, UnicodeDecodeError):
            return False
        return ed25519_verify(self.key.public_key, message, signature[8:])


class Cosigner:
    """Cosigns checkpoints as a witness, at a time the caller gives (type 0x04)."""

    def __init__(self, name: str, key: SigningKey, timestamp: int) -> None:
        check_key_name(name)
        if not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
            raise InputError(f"cosignature timestamp {timestamp!r} is not in 0 .. 2**63-1")
        self._name = name
        self._key = key
        self._timestamp = timestamp
        self.verifier_key = cosigner_key(name, key.public_key.raw)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self.verifier_key.key_id

    def sign(self, text: bytes) -> bytes:
        message = cosignature_message(self._timestamp, text.decode("utf-8"))
        return self._timestamp.to_bytes(8, "big") + self._key.sign(message)

    def __repr__(self) -> str:
        return f"Cosigner({self._name}+{self.key_id:08x}, time {self._timestamp})"


def cosignature_timestamp(signature: Signature) -> int:
    """Return the POSIX time a type-0x04 cosignature line claims (verify it first)."""
    raw = signature.signature
    if len(raw) != 8 + 64:
        raise NonCanonical(f"signature by {signature.name} is not a timestamped cosignature")
    return int.from_bytes(raw[:8], "big")


# --- c2sp.org/tlog-proof ----------------------------------------------------------------------

PROOF_HEADER = "c2sp.org/tlog-proof@v1"


@dataclass(frozen=True)
class TlogProof:
    """A tlog-proof: a record's index, its inclusion proof, the signed checkpoint, extra data.

    ``checkpoint`` is the signed checkpoint note exactly as the log (and witnesses) wrote it.
    """

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.index, int) or not 0 <= self.index <= MAX_TREE_SIZE:
            raise InputError(f"proof index {self.index!r} is not in 0 .. 2**64-1")
        if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in self.proof):
            raise InputError(f"inclusion proof hashes are {HASH_SIZE} bytes each")
        if self.extra is not None and not self.extra:
            raise InputError("extra data, when present, is not empty")
        # The checkpoint must itself be a well-formed signed checkpoint.
        text, _ = parse_note(self.checkpoint)
        Checkpoint.parse(text)

    def format(self) -> bytes:
        """Return the tlog-proof text, as bytes."""
        lines = [PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + encode_base64(self.extra))
        lines.append(f"index {self.index}")
        lines.extend(encode_base64(h) for h in self.proof)
        head = "".join(line + "\n" for line in lines) + "\n"
        return head.encode("ascii") + self.checkpoint

    @classmethod
    def parse(cls, data: bytes) -> "TlogProof":
        """Parse a tlog-proof; refuse anything :meth:`format` would not write."""
        if not isinstance(data, (bytes, bytearray)):
            raise InputError("a tlog-proof is read as bytes")
        data = bytes(data)
        split = data.find(b"\n\n")
        if split < 0:
            raise NonCanonical("malformed tlog-proof: no blank line before the checkpoint")
        try:
            head = data[:split].decode("ascii")
        except UnicodeDecodeError:
            raise NonCanonical(
                "malformed tlog-proof: a non-ASCII byte before the checkpoint"
            ) from None
        lines = head.split("\n")
        if lines[0] != PROOF_HEADER:
            raise NonCanonical(f"malformed tlog-proof: the first line is not {PROOF_HEADER!r}")
        rest = lines[1:]
        extra = None
        if rest and rest[0].startswith("extra "):
            extra = decode_base64(rest[0][len("extra "):], "tlog-proof extra data")
            if not extra:
                raise NonCanonical("malformed tlog-proof: an empty 'extra' line (omit it instead)")
            rest = rest[1:]
        if not rest or not rest[0].startswith("index "):
            raise NonCanonical("malformed tlog-proof: no 'index <n>' line")
        index = parse_decimal(rest[0][len("index "):], "tlog-proof index", MAX_TREE_SIZE)
        proof = []
        for i, line in enumerate(rest[1:]):
            h = decode_base64(line, f"tlog-proof hash {i}")
            if len(h) != HASH_SIZE:
                raise NonCanonical(f"tlog-proof hash {i} is {len(h)} bytes, not {HASH_SIZE}")
            proof.append(h)
        checkpoint = data[split + 2 :]
        if not checkpoint:
            raise NonCanonical("malformed tlog-proof: no checkpoint after the blank line")
        return cls(index, tuple(proof), checkpoint, extra)


def open_proof(
    data: bytes,
    leaf: bytes,
    origin: str,
    log: Verifier,
    witnesses: Sequence[Verifier] = (),
) -> tuple[TlogProof, Checkpoint, Note]:
    """Verify a tlog-proof for the record whose leaf hash is ``leaf`` (tlog-proof "Verifying").

    Checks, in the spec's order: the checkpoint is for ``origin`` and signed by ``log``;
    cosignatures by known ``witnesses`` verify; the inclusion proof binds ``leaf`` at the
    proof's index to the checkpoint's root. Returns the parsed proof, the checkpoint and the
    opened note (whose ``sigs`` say which witnesses cosigned). Raises on any failure.
    """
    proof = TlogProof.parse(data)
    checkpoint, note = open_checkpoint(proof.checkpoint, origin, log, witnesses)
    check_record(list(proof.proof), checkpoint.size, checkpoint.root, proof.index, leaf)
    return proof, checkpoint, note
