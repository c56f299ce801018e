"""Witnesses: what an independent office checks before it cosigns a checkpoint, and which
cosignatures the ledger accepts — pure (no I/O, no clock: the time is passed in).

- :func:`check_submission`: c2sp.org/tlog-witness's rule for ``add-checkpoint`` — the
  submitter's old size must be the size last cosigned for the origin (:class:`StaleSize`
  otherwise, HTTP 409 with that size), and the consistency proof must show the new checkpoint
  extends the one cosigned (RFC 9162, ``ledger.tlog.merkle.check_tree``;
  :class:`InconsistentProof`, 422); the same size with another root is a :class:`Fork` (409).
  :func:`check_advance` is the same rule for ``custody witness cosign``'s inputs.
- :class:`AddCheckpoint`: the request body (``old N``, proof lines, a blank line, the signed
  checkpoint), with its ``format``/``parse`` pair; :func:`format_size`/:func:`parse_size`
  the 409 body (``text/x.tlog.size``); :func:`parse_cosignature_lines` the 200 body.
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
    MAX_TREE_SIZE,
    Checkpoint,
    parse_decimal,
    CosignatureVerifier,
    Cosigner,
    cosignature_timestamp,
    cosigner_key,
    open_checkpoint,
)
from ledger.core.errors import InputError, KeyringError, NonCanonical, VerificationFailed
from ledger.tlog.merkle import HASH_SIZE, check_tree
from ledger.tlog.note import (
    Note,
    Signature,
    Verifier,
    decode_base64,
    encode_base64,
    parse_note,
    parse_signature_line,
    sign_note,
)

# The key that counts for a witness's name, as raw Ed25519 bytes; raises KeyringError saying
# why a name may not witness.
WitnessKey = Callable[[str], bytes]


class Fork(VerificationFailed):
    """Two checkpoints of one origin that no append-only log can both describe."""


class InconsistentProof(Fork):
    """A consistency proof that does not show the new checkpoint extends the one cosigned:
    a bad proof, or a fork (tlog-witness: 422; kept as evidence either way)."""


class StaleSize(InputError):
    """The submitter's old size is not the size last cosigned for the origin (tlog-witness:
    409, the body the witness's size, so that the submitter can prove from there)."""

    def __init__(self, size: int, message: str) -> None:
        super().__init__(message)
        self.size = size


MAX_PROOF_LINES = 63  # tlog-witness: "The client MUST NOT send more than 63"
MAX_CHECKPOINT_NOTE = 64 << 10  # a checkpoint with 100 signatures is ~12 KiB
MAX_REQUEST = 32 + MAX_PROOF_LINES * 45 + MAX_CHECKPOINT_NOTE  # old line, proof lines, note
SIZE_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class AddCheckpoint:
    """An ``add-checkpoint`` request body (c2sp.org/tlog-witness): the size of the previous
    checkpoint, the consistency proof from it, and the signed checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes

    def format(self) -> bytes:
        """Return the request body: ``old N``, one base64 hash per line, a blank line, the note."""
        if not 0 <= self.old_size <= MAX_TREE_SIZE:
            raise InputError(f"old size {self.old_size} is not in 0 .. 2**64-1")
        if len(self.proof) > MAX_PROOF_LINES:
            raise InputError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
        if any(len(h) != HASH_SIZE for h in self.proof):
            raise InputError(f"consistency proof hashes are {HASH_SIZE} bytes each")
        head = [f"old {self.old_size}", *(encode_base64(h) for h in self.proof)]
        return ("".join(line + "\n" for line in head) + "\n").encode("ascii") + self.note

    @classmethod
    def parse(cls, data: bytes) -> "AddCheckpoint":
        """Parse a request body; refuse anything :meth:`format` would not write (the note
        itself is checked when it is opened)."""
        if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_REQUEST:
            raise InputError(f"the request body is over {MAX_REQUEST} bytes")
        data = bytes(data)
        split = data.find(b"\n\n")
        if split < 0:
            raise NonCanonical("malformed add-checkpoint request: no blank line before the "
                               "checkpoint")
        try:
            lines = data[:split].decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise NonCanonical("malformed add-checkpoint request: a non-ASCII byte before the "
                               "checkpoint") from None
        if not lines[0].startswith("old "):
            raise NonCanonical("malformed add-checkpoint request: the first line is not "
                               "'old <size>'")
        old_size = parse_decimal(lines[0][len("old "):], "old size")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise NonCanonical(f"malformed add-checkpoint request: more than "
                               f"{MAX_PROOF_LINES} consistency proof lines")
        proof = []
        for i, line in enumerate(lines[1:]):
            h = decode_base64(line, f"consistency proof line {i + 1}")
            if len(h) != HASH_SIZE:
                raise NonCanonical(f"consistency proof line {i + 1} is {len(h)} bytes, not "
                                   f"{HASH_SIZE}")
            proof.append(h)
        note = data[split + 2:]
        if not note:
            raise NonCanonical("malformed add-checkpoint request: no checkpoint after the "
                               "blank line")
        return cls(old_size, tuple(proof), note)


def format_size(size: int) -> bytes:
    """The body of a 409 answer (``text/x.tlog.size``): the size in decimal and a newline."""
    return f"{size}\n".encode("ascii")


def parse_size(body: bytes) -> int:
    """Parse a 409 answer's body; refuse anything :func:`format_size` would not write."""
    if len(body) > 24 or not body.endswith(b"\n"):
        raise NonCanonical("a witness's size answer is not '<decimal size>\\n'")
    try:
        text = body[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise NonCanonical("a witness's size answer is not ASCII") from None
    return parse_decimal(text, "the witness's size")


def parse_cosignature_lines(body: bytes) -> list[Signature]:
    """The signature lines of a 200 answer: one or more ``— <name> <base64>`` lines, each
    ending in a newline (syntax only; :func:`witness_cosignatures` verifies them)."""
    if len(body) > MAX_CHECKPOINT_NOTE:
        raise NonCanonical(f"a witness's answer is over {MAX_CHECKPOINT_NOTE} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NonCanonical("a witness's answer is not UTF-8") from None
    if not text or not text.endswith("\n"):
        raise NonCanonical("a witness's answer holds no signature line ending in a newline")
    return [parse_signature_line(line) for line in text[:-1].split("\n")]


def check_submission(stored: Checkpoint | None, new: Checkpoint, old_size: int,
                     proof: Sequence[bytes]) -> None:
    """Check an ``add-checkpoint`` whose signature verified, against ``stored`` (the last
    checkpoint cosigned for ``new``'s origin, or None), as c2sp.org/tlog-witness orders it.

    Raises :class:`InputError` when ``old_size`` exceeds the new size or the proof has more
    than 63 hashes (400); :class:`StaleSize` when ``old_size`` is not the size cosigned, or
    0 (409); :class:`Fork` for the same size with another root (409);
    :class:`InconsistentProof` when the proof does not join the two (422).
    """
    if stored is not None and stored.origin != new.origin:
        raise InputError(f"checkpoint for {new.origin!r} checked against one for "
                         f"{stored.origin!r}")
    if old_size > new.size:
        raise InputError(f"old size {old_size} is larger than the checkpoint's size {new.size}")
    if len(proof) > MAX_PROOF_LINES:
        raise InputError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
    cosigned = stored.size if stored is not None else 0
    if old_size != cosigned:
        raise StaleSize(cosigned, f"the last checkpoint cosigned for {new.origin} has size "
                                  f"{cosigned}, not {old_size}")
    if stored is None:
        if proof:
            raise InconsistentProof("a consistency proof from size 0 must be empty")
        return
    if new.size == stored.size:
        if new.root != stored.root:
            raise Fork(f"checkpoint of size {new.size} has root {new.root.hex()[:16]}…, but "
                       f"the one cosigned at that size has root {stored.root.hex()[:16]}…")
        if proof:
            raise InconsistentProof("a consistency proof between equal sizes must be empty")
        return
    try:
        check_tree(list(proof), new.size, new.root, stored.size, stored.root)
    except VerificationFailed as exc:
        raise InconsistentProof(f"checkpoint of size {new.size} does not extend the one of "
                                f"size {stored.size} cosigned before: {exc}") from None


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
    same origin, or None: the first one is taken on trust), given ``custody witness cosign``'s
    inputs: :func:`cosign_request`, then :func:`check_submission`."""
    old_size, hashes = cosign_request(old, new, proof)
    check_submission(old, new, old_size, hashes)


def cosign_request(old: Checkpoint | None, new: Checkpoint,
                   proof: tuple[int, int, list[bytes]] | None) -> tuple[int, list[bytes]]:
    """The (old size, proof hashes) of an ``add-checkpoint`` for ``new`` after ``old``, from a
    proof file (``custody prove --consistency OLD NEW --json``, or None).

    Raises :class:`InputError`, in words for a person at the office, when ``new`` is older
    than ``old``, or the proof is missing or for other sizes. The first checkpoint needs no
    proof, nor does the same size again (a proof given then is not used)."""
    if old is None:
        return 0, []
    if old.origin != new.origin:
        raise InputError(f"checkpoint for {new.origin!r} checked against one for {old.origin!r}")
    if new.size == old.size:
        return old.size, []
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
    return old_size, hashes


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
