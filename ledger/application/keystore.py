"""Key files on disk: encrypted PEM PKCS#8, mode 0600, naming the person they belong to.

A private key file is RFC 7468 explanatory text (which PEM readers skip) and a PEM block::

    custody-person: P-001
    custody-kdf: scrypt log2n=15 r=8 p=1 salt=<32 hex>      (only when encrypted)
    -----BEGIN ENCRYPTED PRIVATE KEY-----

The scrypt line says how the passphrase was stretched into the PKCS#8 password (see
``ledger.core.keys.stretch``). The public key goes beside it in ``<file>.pub``.
Passphrases arrive as bytes from the CLI; they are never logged nor put in an error.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ledger.core.canonical import ID_PATTERN
from ledger.core.errors import InputError, KeyringError
from ledger.core.keys import (
    KDF_LOG2_N,
    MAX_PASSPHRASE,
    PUBLIC_KEY_PREFIX,
    PublicKey,
    SigningKey,
    check_new_passphrase,
    stretch,
)
from ledger.core.text import Message
from ledger.storage.files import write_file

MAX_KEY_FILE = 64 * 1024
_HEADER = re.compile(
    rb"custody-person: (" + ID_PATTERN.encode() + rb")\n"
    rb"(?:custody-kdf: scrypt log2n=([0-9]{2}) r=8 p=1 salt=([0-9a-f]{32})\n)?"
)


@dataclass(frozen=True)
class Signer:
    """A person's id with their unlocked signing key."""

    person_id: str
    key: SigningKey


def write_key_pair(path: Path, person_id: str, key: SigningKey, passphrase: bytes | None) -> Path:
    """Write ``path`` (private, mode 0600) and ``path.pub``; refuse to overwrite either."""
    pub_path = Path(f"{path}.pub")
    for existing in (path, pub_path):
        if existing.exists():
            raise KeyringError(f"{existing} already exists; choose another --out or move it away")
    header = f"custody-person: {person_id}\n".encode()
    if passphrase is None:
        pem = key.to_pkcs8(None)
    else:
        check_new_passphrase(passphrase)
        salt = os.urandom(16)
        header += f"custody-kdf: scrypt log2n={KDF_LOG2_N} r=8 p=1 salt={salt.hex()}\n".encode()
        pem = key.to_pkcs8(stretch(passphrase, salt))
    for target, data, mode in ((path, header + pem, 0o600),
                               (pub_path, key.public_key.format(person_id).encode("ascii"), None)):
        try:
            write_file(target, data, mode=mode, replace=False)
        except FileExistsError:
            raise KeyringError(f"{target} already exists; choose another --out or move it "
                               "away") from None
        except OSError as exc:
            raise KeyringError(f"cannot create key file {target}: {exc.strerror}") from None
    return pub_path


@dataclass(frozen=True)
class KeyFile:
    """A private key file as read from disk, still locked."""

    path: Path
    person_id: str
    pem: bytes
    kdf: tuple[int, bytes] | None  # (log2 n, salt) when encrypted

    @property
    def encrypted(self) -> bool:
        return self.kdf is not None

    def unlock(self, passphrase: bytes | None) -> Signer:
        """Return the signer; a wrong passphrase is a KeyringError naming this file."""
        if self.kdf is None:
            return Signer(self.person_id, SigningKey.from_pkcs8(self.pem, None, source=str(self.path)))
        if passphrase is None:
            raise KeyringError(f"key file {self.path} is encrypted: a passphrase is needed")
        password = stretch(passphrase, self.kdf[1], self.kdf[0])
        return Signer(self.person_id, SigningKey.from_pkcs8(self.pem, password, source=str(self.path)))


def file_kind(data: bytes) -> str:
    """What a file someone named holds, from its first bytes: "private key" (a key file's
    header or a PEM block), "public key" (a .pub line), "passphrase" (one short line of
    text) or "other". A key file given where another kind goes is then named for what it is."""
    if data.startswith(b"custody-person: ") or b"-----BEGIN " in data[:4096]:
        return "private key"
    if data.startswith(PUBLIC_KEY_PREFIX.encode("ascii") + b" "):
        return "public key"
    line = data[:-1] if data.endswith(b"\n") else data
    if 0 < len(line) <= MAX_PASSPHRASE and b"\n" not in line and b"\0" not in line:
        return "passphrase"
    return "other"


def read_key_file(path: Path) -> KeyFile:
    """Read a private key file, checking its size, permissions and header; a public key or a
    passphrase file given instead is named as such (before its permissions are judged)."""
    data = _read_bounded(path, Message("key file"))
    kind = file_kind(data)
    if kind == "public key":
        private = str(path)[:-len(".pub")] if str(path).endswith(".pub") else None
        raise KeyringError(
            Message("{path} is a public key file; a private key file is needed here: {hint}",
                    path=path, hint=Message("give {private}", private=private) if private
                    else Message("give the key file without .pub")))
    if kind == "passphrase":
        raise KeyringError(Message(
            "{path} holds one line of text, like a passphrase file, not a key file: give the "
            "key file here, and {path} with --passphrase-file", path=path))
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise KeyringError(
            f"key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    match = _HEADER.match(data)
    if not match:
        raise KeyringError(f"{path} is not a custody key file (no 'custody-person:' line)")
    pem = data[match.end():]
    kdf = (int(match.group(2)), bytes.fromhex(match.group(3).decode())) if match.group(2) else None
    if (kdf is not None) != pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"):
        raise KeyringError(f"key file {path} is damaged: its scrypt line and PEM block disagree")
    return KeyFile(path, match.group(1).decode("ascii"), pem, kdf)


def read_public_key(path: Path) -> tuple[PublicKey, str | None]:
    """Read a ``.pub`` file: (key, the person it names, if any). A private key file given
    instead is refused as such: its public key is the ``.pub`` beside it."""
    data = _read_bounded(path, Message("public key file"))
    if file_kind(data) == "private key":
        raise KeyringError(Message("{path} is a private key file; a public key is needed here: "
                                   "give {path}.pub", path=path))
    try:
        return PublicKey.parse(data.decode("ascii"))
    except UnicodeDecodeError:
        raise InputError(f"public key file {path} is not ASCII text") from None
    except InputError as exc:
        raise InputError(f"public key file {path}: {exc}") from None


def _read_bounded(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE + 1)
    except FileNotFoundError:
        raise KeyringError(Message("{what} {path} not found", what=what, path=path)) from None
    except IsADirectoryError:
        raise KeyringError(f"{what} {path} is a directory") from None
    except OSError as exc:
        raise KeyringError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > MAX_KEY_FILE:
        raise KeyringError(f"{what} {path} is over {MAX_KEY_FILE} bytes; not a key file")
    return data
