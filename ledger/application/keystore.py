"""Key files on disk: encrypted PEM PKCS#8, mode 0600, naming the person they belong to.

A private key file is one line ``custody-person: <id>`` (RFC 7468 explanatory text, which PEM
readers skip) followed by the PEM block. The public key goes beside it in ``<file>.pub``.
Passphrases arrive as bytes from the CLI; they are never logged nor put in an error.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ledger.core.errors import InputError, KeyringError
from ledger.core.keys import PublicKey, SigningKey

MAX_KEY_FILE = 64 * 1024
_HEADER = re.compile(rb"custody-person: ([A-Za-z0-9][A-Za-z0-9._-]{0,63})\n")


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
    pem = key.to_pkcs8(passphrase)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise KeyringError(f"cannot create key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(f"custody-person: {person_id}\n".encode() + pem)
    pub_path.write_text(key.public_key.format(person_id), encoding="ascii")
    return pub_path


def read_key_file(path: Path) -> tuple[str, bytes]:
    """Return (person id, PEM bytes) from a private key file, checking size and permissions."""
    data = _read_bounded(path, "key file")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise KeyringError(
            f"key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    match = _HEADER.match(data)
    if not match:
        raise KeyringError(f"{path} is not a custody key file (no 'custody-person:' line)")
    return match.group(1).decode("ascii"), data[match.end():]


def load_signer(path: Path, passphrase: bytes | None) -> Signer:
    """Unlock a private key file and return its person's signer."""
    person_id, pem = read_key_file(path)
    return Signer(person_id, SigningKey.from_pkcs8(pem, passphrase, source=str(path)))


def is_encrypted(path: Path) -> bool:
    """Whether the key file at ``path`` needs a passphrase."""
    return b"ENCRYPTED PRIVATE KEY" in read_key_file(path)[1]


def read_public_key(path: Path) -> tuple[PublicKey, str | None]:
    """Read a ``.pub`` file: (key, the person it names, if any)."""
    data = _read_bounded(path, "public key file")
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
        raise KeyringError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise KeyringError(f"{what} {path} is a directory") from None
    except OSError as exc:
        raise KeyringError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > MAX_KEY_FILE:
        raise KeyringError(f"{what} {path} is over {MAX_KEY_FILE} bytes; not a key file")
    return data
