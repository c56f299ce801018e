"""Ed25519 keys and signatures — pure: bytes in, bytes out.

Keys, key files and signing go through ``cryptography`` (OpenSSL). Every signature check —
the recorder's (:func:`verify`, through ``rules.judge_signatures``) and the verifier's worker
processes' (:func:`verify_batch`) — goes through one function, :func:`verifies`, which is
libsodium's strict rule (``crypto_sign_open`` through PyNaCl). The two paths used to be
OpenSSL and libsodium, which disagree: OpenSSL accepts the signature (R = identity, S = 0)
of any message under the identity point as public key; libsodium refuses small-order keys,
small-order R, non-canonical keys and S >= L. One rule means one verdict
(``tests/vectors/test_wycheproof.py`` holds both paths to Project Wycheproof's vectors).

A :class:`PublicKey` is refused at construction unless libsodium's
``crypto_core_ed25519_is_valid_point`` accepts it, so enrolment, rotation and genesis can
only name keys in the prime-order subgroup (:func:`key_defect` says why one is refused).

Private keys serialise as PEM PKCS#8 (PBES2, AES-256-CBC). ``cryptography`` derives that
encryption key with only OpenSSL's 2,048 PBKDF2 rounds, so the passphrase is first stretched
with scrypt (:func:`stretch`, N=2**15, r=8, p=1) and the result is the PKCS#8 password.
Public keys travel as one line of text, ``custody-ed25519 <64 lowercase hex>``; the key id is
the SHA-256 of the raw 32 bytes. File reading and writing (and mode 0600) live in
``ledger.application.keystore``; nothing here touches a disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from nacl.bindings import crypto_core_ed25519_is_valid_point, crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError

from ledger.core.canonical import ID_PATTERN
from ledger.core.digests import key_id
from ledger.core.errors import InputError, KeyringError, VerificationFailed
from ledger.core.text import Message

if TYPE_CHECKING:
    # Imported where a private key is made, loaded, saved or used: checking signatures and
    # public keys (every read, verify) needs libsodium only, and cryptography costs a
    # process ~25 ms to import.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PUBLIC_KEY_PREFIX = "custody-ed25519"
_PUBLIC_LINE = re.compile(PUBLIC_KEY_PREFIX + r" ([0-9a-f]{64})( " + ID_PATTERN + r")?\n?")
MIN_PASSPHRASE = 8
MAX_PASSPHRASE = 1024
KDF_LOG2_N = 15
KDF_LOG2_N_RANGE = range(14, 21)  # refuse files that would make us spend absurd work

# Curve25519's field prime and the twisted Edwards constant d (RFC 8032, Section 5.1).
_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P
# The y coordinates of the eight points of small order (RFC 8032 / libsodium's blacklist):
# the identity (y = 1), order 2 (y = -1), order 4 (y = 0, x = ±sqrt(-1)) and order 8.
_ORDER_8_Y = int.from_bytes(bytes.fromhex(
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little")
_SMALL_ORDER_Y = frozenset({1, _P - 1, 0, _ORDER_8_Y, _P - _ORDER_8_Y})


def stretch(passphrase: bytes, salt: bytes, log2_n: int = KDF_LOG2_N) -> bytes:
    """Stretch a passphrase with scrypt (r=8, p=1) into the PKCS#8 password, as hex bytes."""
    if log2_n not in KDF_LOG2_N_RANGE:
        raise KeyringError(f"scrypt cost 2**{log2_n} is outside 2**14 .. 2**20")
    if len(salt) < 16:
        raise KeyringError("scrypt salt must be at least 16 bytes")
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=8, p=1).derive(passphrase).hex().encode()


@dataclass(frozen=True)
class PublicKey:
    """A raw Ed25519 public key with its id and text form."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != 32:
            size = len(self.raw) if isinstance(self.raw, (bytes, bytearray)) else "not bytes"
            raise InputError(f"an Ed25519 public key is 32 bytes, got {size}")
        defect = key_defect(self.raw)
        if defect is not None:
            raise InputError(f"public key {key_id(self.raw)[:16]} is refused: {defect}; "
                             "make a new key pair with 'custody keys new'")

    @property
    def id(self) -> str:
        return key_id(self.raw)

    @property
    def hex(self) -> str:
        return self.raw.hex()

    def format(self, label: str | None = None) -> str:
        """Return the one-line text form (optionally naming its person), ending in a newline."""
        return f"{PUBLIC_KEY_PREFIX} {self.raw.hex()}{' ' + label if label else ''}\n"

    @classmethod
    def parse(cls, text: str) -> tuple["PublicKey", str | None]:
        """Parse the one-line text form into (key, label); anything else is refused."""
        match = _PUBLIC_LINE.fullmatch(text)
        if not match:
            raise InputError(
                f"not a custody public key: expected '{PUBLIC_KEY_PREFIX} <64 lowercase hex> [person]'"
            )
        label = match.group(2)
        return cls(bytes.fromhex(match.group(1))), label[1:] if label else None

    @classmethod
    def from_hex(cls, text: str) -> "PublicKey":
        """Parse the 64-hex-digit form stored in enrolment events."""
        if not isinstance(text, str) or not re.fullmatch(r"[0-9a-f]{64}", text):
            raise InputError("public key must be 64 lowercase hex digits")
        return cls(bytes.fromhex(text))


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key. Its repr never shows key material."""

    _key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.public_key.id[:16]}…)"

    @classmethod
    def generate(cls) -> "SigningKey":
        """Return a fresh random key."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> "SigningKey":
        """Return the key for a 32-byte seed (test vectors and benchmarks only)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public_key(self) -> PublicKey:
        from cryptography.hazmat.primitives import serialization

        return PublicKey(
            self._key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    def sign(self, digest: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``digest``."""
        return self._key.sign(digest)

    def to_pkcs8(self, password: bytes | None) -> bytes:
        """Serialise as PEM PKCS#8, encrypted with ``password`` (from :func:`stretch`) if given."""
        from cryptography.hazmat.primitives import serialization

        if password is None:
            encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
        else:
            encryption = serialization.BestAvailableEncryption(password)
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @classmethod
    def from_pkcs8(cls, pem: bytes, password: bytes | None, *, source: str) -> "SigningKey":
        """Load PEM PKCS#8; ``source`` names the file in errors (never the passphrase)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        encrypted = b"ENCRYPTED PRIVATE KEY" in pem
        if encrypted and password is None:
            raise KeyringError(f"key file {source} is encrypted: a passphrase is needed")
        try:
            key = serialization.load_pem_private_key(pem, password if encrypted else None)
        except ValueError:
            if encrypted:
                raise KeyringError(Message(
                    "wrong passphrase for key file {path} (or the file is damaged)", path=source
                )) from None
            raise KeyringError(f"key file {source} is not a PEM PKCS#8 private key") from None
        except TypeError:
            raise KeyringError(f"key file {source} could not be decrypted") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyringError(f"key file {source} holds a {type(key).__name__}, not Ed25519")
        return cls(key)


def check_new_passphrase(passphrase: bytes) -> None:
    """Refuse passphrases too short to protect a key, or too long to be sane input."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyringError(Message("passphrase is shorter than {n} characters",
                                   n=MIN_PASSPHRASE))
    if len(passphrase) > MAX_PASSPHRASE:
        raise KeyringError(Message("passphrase is longer than {n} characters",
                                   n=MAX_PASSPHRASE))


@lru_cache(maxsize=1 << 16)
def _valid_point(raw: bytes) -> bool:
    """libsodium's verdict, remembered: each enrolled key is checked where its event is
    decoded and again where the roster takes it in (~90 µs each)."""
    return bool(crypto_core_ed25519_is_valid_point(raw))


def key_defect(raw: bytes) -> str | None:
    """Say why ``raw`` (32 bytes) is not an acceptable Ed25519 public key; None if it is.

    The verdict is libsodium's ``crypto_core_ed25519_is_valid_point``, which refuses: an
    encoding whose y is not below p = 2**255 - 19 (either sign bit); the eight points of
    small order in any encoding (with the sign bit set, and y = p, p + 1 aliasing 0 and 1);
    a y with no x on the curve; and a point with a small-order component (outside the
    prime-order subgroup). A key made by ``custody keys new`` is never any of these. The
    reason given is worked out here only to name the defect in the error message.
    """
    if _valid_point(bytes(raw)):
        return None
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if y >= _P:
        return "its y coordinate is not below 2^255-19 (a non-canonical encoding)"
    if y in _SMALL_ORDER_Y:
        return ("it is a point of small order, under which signatures can be forged without "
                "any private key")
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    if pow(x2, (_P - 1) // 2, _P) not in (0, 1):
        return "it is not a point on the curve"
    return "it has a small-order component (it is not in the prime-order subgroup)"


def verifies(raw: bytes, message: bytes, signature: bytes) -> bool:
    """The one Ed25519 rule both the recorder and the verifier apply: libsodium's.

    ``crypto_sign_open`` (libsodium's strict verification, not its ED25519_COMPAT mode)
    refuses a key that is non-canonical or of small order, an R of small order, an S not
    below the group order L, and any R other than the canonical encoding of [S]B - [k]A.
    Anything malformed is simply False.
    """
    if not (isinstance(raw, bytes) and isinstance(message, bytes)
            and isinstance(signature, bytes)) or len(raw) != 32 or len(signature) != 64:
        return False
    try:
        crypto_sign_open(signature + message, raw)
    except (BadSignatureError, CryptoError, ValueError, TypeError):
        return False
    return True


def verify(public_key: PublicKey, digest: bytes, signature: bytes) -> None:
    """Verify an Ed25519 signature; raise :class:`VerificationFailed`, never return False."""
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise VerificationFailed(f"signature by key {public_key.id[:16]} is not 64 bytes")
    if not verifies(public_key.raw, digest, signature):
        raise VerificationFailed(f"signature does not verify with key {public_key.id[:16]}")


def verify_batch(tasks: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """Check many (public key raw, digest, signature) triples; True where each verifies.

    The verifier's worker processes run this: the same rule as :func:`verify`, one bool per
    triple so a chunk's results travel back cheaply. A malformed key or signature is False.
    """
    return [verifies(raw, digest, signature) for raw, digest, signature in tasks]
