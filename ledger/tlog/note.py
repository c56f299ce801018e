"""C2SP signed notes (c2sp.org/signed-note): text signed by one or more named keys — pure.

A signed note is a text ending in a newline, a blank line, and one or more signature lines
``— <key name> <base64(4-byte key ID ‖ signature)>``. A key is named; its ID is the first four
bytes of SHA-256(name ‖ "\\n" ‖ signature type ‖ public key), and its *verifier key* (vkey) is
the text ``<name>+<hex key ID>+<base64(signature type ‖ public key)>``.

This module reads and writes that format byte for byte as Go's ``golang.org/x/mod/sumdb/note``
does (whose tests are our vectors), and refuses anything that is not the one canonical form:
bad UTF-8, control characters, non-canonical base64, uppercase hex, oversized notes. It knows
two signature types, both Ed25519: ``0x01`` (plain note signatures, here) and ``0x04``
(timestamped checkpoint cosignatures, :mod:`ledger.tlog.checkpoint`).

Signing goes through :class:`ledger.core.keys.SigningKey`. Verification uses libsodium
(PyNaCl) — the project's strict Ed25519 rule, which refuses non-canonical encodings and
small-order keys that a lenient verifier would accept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self

from ledger.core.errors import InputError, NonCanonical, VerificationFailed
from ledger.core.keys import SigningKey, verifies

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04  # c2sp.org/tlog-cosignature, timestamped Ed25519
KNOWN_TYPES = {SIG_ED25519: "Ed25519", SIG_COSIGNATURE_V1: "Ed25519 cosignature/v1"}

# The spec asks verifiers to bound a note and accept at least 16 signatures; Go's Open stops
# at 100 signatures, and so do we. A checkpoint with 100 Ed25519 signatures is ~12 KiB.
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20

SIGNATURE_PREFIX = "— "  # em dash U+2014, space

# Unicode White_Space (PropList.txt), which Go's unicode.IsSpace tests: key names exclude it.
_WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")


# --- encodings --------------------------------------------------------------------------------


def decode_base64(text: str, what: str) -> bytes:
    """Decode standard base64 (RFC 4648 §4), refusing any text that is not the canonical encoding.

    Non-zero padding bits, missing padding, whitespace and other alphabets are refused
    (RFC 4648 §3.5 lets decoders do so), so each byte string has exactly one accepted text.
    """
    if not _BASE64.fullmatch(text):
        raise NonCanonical(f"{what} is not standard base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NonCanonical(f"{what} is not standard base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise NonCanonical(f"{what} is not the canonical base64 of its bytes (padding bits set)")
    return data


def encode_base64(data: bytes) -> str:
    """Return the standard, padded base64 of ``data``."""
    return base64.b64encode(data).decode("ascii")


def check_key_name(name: str, what: str = "key name") -> None:
    """Refuse a key name the spec forbids: empty, or with a Unicode space, a '+' or a control."""
    if not isinstance(name, str) or not name:
        raise InputError(f"{what} is empty")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} is not valid UTF-8") from None
    for ch in name:
        if ch in _WHITE_SPACE:
            raise InputError(f"{what} {name!r} contains a space ({ord(ch):#06x})")
        if ch == "+":
            raise InputError(f"{what} {name!r} contains '+'")
        if ch < " ":
            raise InputError(f"{what} {name!r} contains a control character")


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """Return the 32-bit key ID: SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Return whether ``signature`` is a valid Ed25519 signature of ``message`` by
    ``public_key``: the project's one strict rule, libsodium's (``keys.verifies``)."""
    return verifies(public_key, message, signature)


# --- verifier keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    """A named public key of one signature type: what a vkey string holds."""

    name: str
    sig_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if self.sig_type not in KNOWN_TYPES:
            raise InputError(f"unknown signature type {self.sig_type:#04x} for key {self.name}")
        if len(self.public_key) != 32:
            raise InputError(
                f"an Ed25519 public key is 32 bytes, key {self.name} has {len(self.public_key)}"
            )

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.sig_type, self.public_key)

    def format(self) -> str:
        """Return the vkey text ``<name>+<8 lowercase hex>+<base64(type ‖ key)>``."""
        material = encode_base64(bytes([self.sig_type]) + self.public_key)
        return f"{self.name}+{self.key_id:08x}+{material}"

    @classmethod
    def parse(cls, text: str) -> "VerifierKey":
        """Parse a vkey; refuse a bad name, a key ID that is not the key's, or unknown types."""
        parts = text.split("+", 2) if isinstance(text, str) else []
        if len(parts) != 3:
            raise InputError("verifier key is not '<name>+<key id>+<base64 key>'")
        name, hex_id, material = parts
        check_key_name(name, "verifier key name")
        if not _KEY_ID_HEX.fullmatch(hex_id):
            raise InputError(
                f"verifier key {name}: key id {hex_id!r} is not 8 lowercase hex digits"
            )
        try:
            raw = decode_base64(material, f"verifier key {name}")
        except NonCanonical as exc:
            raise InputError(str(exc)) from None
        if not raw:
            raise InputError(f"verifier key {name} has no key material")
        sig_type, public_key = raw[0], raw[1:]
        if sig_type not in KNOWN_TYPES:
            raise InputError(f"verifier key {name} has unknown signature type {sig_type:#04x}")
        if len(public_key) != 32:
            raise InputError(
                f"verifier key {name}: an Ed25519 key is 32 bytes, not {len(public_key)}"
            )
        key = cls(name, sig_type, public_key)
        if key.key_id != int(hex_id, 16):
            raise InputError(
                f"verifier key {name}: key id {hex_id} is not its key's id {key.key_id:08x}"
            )
        return key


# --- verifiers and signers --------------------------------------------------------------------


class Verifier(Protocol):
    """Checks signatures by one named key (``note.Verifier`` in Go)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` (without its 4-byte key ID) signs the note ``text``."""
        ...


class Signer(Protocol):
    """Signs note texts with one named key (``note.Signer`` in Go)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, text: bytes) -> bytes:
        """Return the signature of the note ``text`` (without the 4-byte key ID)."""
        ...


@dataclass(frozen=True)
class KeyVerifier:
    """A note verifier by one key of one signature type (``SIG_TYPE``, named ``KIND``)."""

    key: VerifierKey
    SIG_TYPE: ClassVar[int] = SIG_ED25519
    KIND: ClassVar[str] = "plain Ed25519 note key (type 0x01)"

    def __post_init__(self) -> None:
        if self.key.sig_type != self.SIG_TYPE:
            raise InputError(f"key {self.key.name} is not a {self.KIND}")

    @classmethod
    def from_vkey(cls, text: str) -> Self:
        """Return the verifier for a vkey string of this class's signature type."""
        return cls(VerifierKey.parse(text))

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def key_id(self) -> int:
        return self.key.key_id


@dataclass(frozen=True)
class Ed25519Verifier(KeyVerifier):
    """Verifies plain Ed25519 note signatures (type 0x01) by one key."""

    def verify(self, text: bytes, signature: bytes) -> bool:
        return ed25519_verify(self.key.public_key, text, signature)


class Ed25519Signer:
    """Signs notes with an Ed25519 key under a key name (type 0x01)."""

    def __init__(self, name: str, key: SigningKey) -> None:
        check_key_name(name)
        self._name = name
        self._key = key
        self.verifier_key = VerifierKey(name, SIG_ED25519, key.public_key.raw)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self.verifier_key.key_id

    def sign(self, text: bytes) -> bytes:
        # SigningKey.sign signs the bytes it is given (plain Ed25519, no pre-hash).
        return self._key.sign(text)

    def __repr__(self) -> str:
        return f"Ed25519Signer({self._name}+{self.key_id:08x})"


class Verifiers:
    """The keys a reader trusts, looked up by (name, key ID) (``note.VerifierList`` in Go)."""

    def __init__(self, *verifiers: Verifier) -> None:
        self._by_id: dict[tuple[str, int], list[Verifier]] = {}
        for v in verifiers:
            self._by_id.setdefault((v.name, v.key_id), []).append(v)

    def verifier(self, name: str, key_id: int) -> Verifier | None:
        """Return the verifier for (name, key ID), or None if unknown; refuse an ambiguous pair."""
        found = self._by_id.get((name, key_id))
        if not found:
            return None
        if len(found) > 1:
            # Someone put two keys with one name and ID in the trusted set; say so, rather
            # than pick one.
            raise InputError(f"ambiguous key {name}+{key_id:08x}: two trusted keys share it")
        return found[0]


class KnownKeys(Protocol):
    def verifier(self, name: str, key_id: int) -> Verifier | None: ...


# --- notes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: the key's name and ID, and the line's base64 as written."""

    name: str
    key_id: int
    base64: str

    @property
    def line(self) -> str:
        return f"{SIGNATURE_PREFIX}{self.name} {self.base64}\n"

    @property
    def signature(self) -> bytes:
        """The signature bytes after the 4-byte key ID."""
        return decode_base64(self.base64, f"signature by {self.name}")[4:]


@dataclass(frozen=True)
class Note:
    """A note's text and signatures: ``sigs`` verified by trusted keys, ``unverified`` the rest."""

    text: str
    sigs: tuple[Signature, ...] = ()
    unverified: tuple[Signature, ...] = field(default=())


class UnverifiedNote(VerificationFailed):
    """A well-formed note that no trusted key signed; ``note`` holds what was read."""

    def __init__(self, note: Note) -> None:
        names = ", ".join(f"{s.name}+{s.key_id:08x}" for s in note.unverified) or "none"
        super().__init__(f"note has no verifiable signatures (signed by: {names})")
        self.note = note


def _check_text(text: str, what: str) -> None:
    for i, ch in enumerate(text):
        if ch < " " and ch != "\n":
            raise NonCanonical(f"malformed {what}: control character {ord(ch):#04x} at offset {i}")


def _decode_note(msg: bytes) -> str:
    if not isinstance(msg, (bytes, bytearray)):
        raise InputError("a signed note is read as bytes")
    if len(msg) > MAX_NOTE_BYTES:
        raise NonCanonical(f"malformed note: longer than {MAX_NOTE_BYTES} bytes")
    try:
        text = bytes(msg).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NonCanonical(f"malformed note: not valid UTF-8 at byte {exc.start}") from None
    _check_text(text, "note")
    return text


def parse_signature_line(line: str) -> Signature:
    """Parse one signature line (without its newline): ``— <name> <base64(key ID ‖ sig)>``."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise NonCanonical(
            f"malformed note: {line[:40]!r} is not a signature line '— <name> <base64>'"
        )
    name, sep, b64 = line[len(SIGNATURE_PREFIX):].partition(" ")
    if not sep:
        raise NonCanonical(f"malformed note: signature line {line[:40]!r} has no signature")
    try:
        check_key_name(name, "signature key name")
    except InputError as exc:
        raise NonCanonical(f"malformed note: {exc}") from None
    raw = decode_base64(b64, f"signature by {name}") if b64 else b""
    if len(raw) < 5:
        raise NonCanonical(f"malformed note: signature by {name} is shorter than 5 bytes")
    return Signature(name, int.from_bytes(raw[:4], "big"), b64)


def parse_note(msg: bytes) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signature lines, checking syntax only.

    Refuses (with :class:`NonCanonical`) invalid UTF-8, control characters other than
    newline, a missing blank line or final newline, a line in the signature block that is not
    a signature, non-canonical base64, and more than :data:`MAX_SIGNATURES` signatures.
    """
    whole = _decode_note(msg)
    # The text is separated from the signatures by the last blank line.
    split = whole.rfind("\n\n")
    if split < 0:
        raise NonCanonical("malformed note: no blank line before the signatures")
    text, block = whole[: split + 1], whole[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NonCanonical(
            "malformed note: the signature block is empty or lacks its final newline"
        )
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NonCanonical(f"malformed note: more than {MAX_SIGNATURES} signatures")
    return text, [parse_signature_line(line) for line in lines]


def open_note(msg: bytes, known: KnownKeys) -> Note:
    """Parse a signed note and verify every signature by a trusted key (``note.Open`` in Go).

    Signatures by unknown keys — even sharing a name or an ID, but not both, with a trusted
    key — are kept in ``unverified`` and otherwise ignored, as c2sp.org/signed-note requires.
    Every signature by a trusted key is verified (the spec's MUST), and one that fails
    rejects the whole note. Repeated identical lines count once. With no verified signature
    at all, :class:`UnverifiedNote` is raised, carrying the parsed note.
    """
    text, signatures = parse_note(msg)
    text_bytes = text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    for sig in signatures:
        v = known.verifier(sig.name, sig.key_id)
        if v is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if v.name != sig.name or v.key_id != sig.key_id:
            raise InputError(
                f"trusted key set answered {v.name}+{v.key_id:08x} "
                f"for a signature by {sig.name}+{sig.key_id:08x}"
            )
        if not v.verify(text_bytes, sig.signature):
            raise VerificationFailed(f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        # One key counts once, however many (valid) lines it signed.
        if all((s.name, s.key_id) != (sig.name, sig.key_id) for s in verified):
            verified.append(sig)
    note = Note(text, tuple(verified), tuple(unverified))
    if not verified:
        raise UnverifiedNote(note)
    return note


def sign_note(note: Note | str, *signers: Signer) -> bytes:
    """Return the signed note: ``note``'s text, its existing signatures, then one per signer.

    As Go's ``note.Sign``: an existing signature by the same key as a new signer is replaced,
    and existing signatures are checked (name, base64, key ID) before being written again.
    The text must end in a newline and be something :func:`open_note` would accept.
    """
    if isinstance(note, str):
        note = Note(note)
    text = note.text
    if not text.endswith("\n"):
        raise InputError("malformed note: the text must end in a newline")
    _check_text(text, "note text")
    text_bytes = text.encode("utf-8")
    new_lines = []
    replaced = set()
    for signer in signers:
        try:
            check_key_name(signer.name, "signer name")
        except InputError as exc:
            raise InputError(f"invalid signer: {exc}") from None
        replaced.add((signer.name, signer.key_id))
        raw = signer.key_id.to_bytes(4, "big") + signer.sign(text_bytes)
        new_lines.append(Signature(signer.name, signer.key_id, encode_base64(raw)).line)
    old_lines = []
    for sig in (*note.sigs, *note.unverified):
        if (sig.name, sig.key_id) in replaced:
            continue
        try:
            check_key_name(sig.name, "signature key name")
            raw = decode_base64(sig.base64, f"signature by {sig.name}")
        except InputError as exc:
            raise NonCanonical(f"malformed note: {exc}") from None
        if len(raw) < 5 or int.from_bytes(raw[:4], "big") != sig.key_id:
            raise NonCanonical(f"malformed note: signature by {sig.name} does not carry its key id")
        old_lines.append(sig.line)
    count = len(old_lines) + len(new_lines)
    if not 0 < count <= MAX_SIGNATURES:
        raise InputError(f"a signed note holds 1 to {MAX_SIGNATURES} signatures, not {count}")
    signed = text + "\n" + "".join(old_lines) + "".join(new_lines)
    return signed.encode("utf-8")

