import os
import stat

import pytest

from ledger.application.keystore import read_key_file, read_public_key, write_key_pair
from ledger.core import keys
from ledger.core.errors import InputError, KeyringError, VerificationFailed
from ledger.core.keys import PublicKey, SigningKey

PASS = b"correct horse battery"


def test_key_file_is_encrypted_mode_0600_and_names_its_person(tmp_path):
    key = SigningKey.generate()
    write_key_pair(tmp_path / "p.key", "POL-01", key, PASS)
    assert stat.S_IMODE(os.stat(tmp_path / "p.key").st_mode) == 0o600
    data = (tmp_path / "p.key").read_bytes()
    assert data.startswith(b"custody-person: POL-01\ncustody-kdf: scrypt log2n=15 r=8 p=1 salt=")
    assert b"ENCRYPTED PRIVATE KEY" in data
    keyfile = read_key_file(tmp_path / "p.key")
    assert keyfile.person_id == "POL-01" and keyfile.encrypted
    assert keyfile.unlock(PASS).key.public_key == key.public_key
    assert read_public_key(tmp_path / "p.key.pub") == (key.public_key, "POL-01")


def test_wrong_passphrase_is_a_keyring_error_naming_the_file(tmp_path):
    write_key_pair(tmp_path / "p.key", "POL-01", SigningKey.generate(), PASS)
    with pytest.raises(KeyringError, match=r"wrong passphrase for key file .*p\.key") as info:
        read_key_file(tmp_path / "p.key").unlock(b"not the passphrase")
    assert "not the passphrase" not in str(info.value)


def test_missing_passphrase_for_encrypted_key(tmp_path):
    write_key_pair(tmp_path / "p.key", "POL-01", SigningKey.generate(), PASS)
    with pytest.raises(KeyringError, match="passphrase is needed"):
        read_key_file(tmp_path / "p.key").unlock(None)


def test_unencrypted_key_round_trips(tmp_path):
    key = SigningKey.generate()
    write_key_pair(tmp_path / "p.key", "STF-01", key, None)
    assert not read_key_file(tmp_path / "p.key").encrypted
    assert read_key_file(tmp_path / "p.key").unlock(None).key.public_key == key.public_key


def test_key_readable_by_others_is_refused(tmp_path):
    write_key_pair(tmp_path / "p.key", "POL-01", SigningKey.generate(), PASS)
    os.chmod(tmp_path / "p.key", 0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        read_key_file(tmp_path / "p.key")


def test_existing_key_file_is_never_overwritten(tmp_path):
    write_key_pair(tmp_path / "p.key", "POL-01", SigningKey.generate(), PASS)
    before = (tmp_path / "p.key").read_bytes()
    with pytest.raises(KeyringError, match="already exists"):
        write_key_pair(tmp_path / "p.key", "POL-01", SigningKey.generate(), PASS)
    assert (tmp_path / "p.key").read_bytes() == before


def test_short_passphrase_is_refused(tmp_path):
    with pytest.raises(KeyringError, match="shorter than 8"):
        write_key_pair(tmp_path / "p.key", "POL-01", SigningKey.generate(), b"short")
    assert not (tmp_path / "p.key").exists()


@pytest.mark.parametrize("content", [b"", b"hello\n", b"custody-person: P1\nnot pem", b"x" * 70000])
def test_malformed_key_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyringError):
        read_key_file(path).unlock(PASS)


def test_missing_key_file(tmp_path):
    with pytest.raises(KeyringError, match="not found"):
        read_key_file(tmp_path / "absent.key")


def test_absurd_scrypt_cost_in_a_key_file_is_refused(tmp_path):
    write_key_pair(tmp_path / "p.key", "POL-01", SigningKey.generate(), PASS)
    data = (tmp_path / "p.key").read_bytes().replace(b"log2n=15", b"log2n=30")
    (tmp_path / "p.key").write_bytes(data)
    with pytest.raises(KeyringError, match="outside"):
        read_key_file(tmp_path / "p.key").unlock(PASS)


@pytest.mark.parametrize("text", ["custody-ed25519 " + "AB" * 32, "ssh-ed25519 " + "ab" * 32,
                                  "custody-ed25519 " + "ab" * 31, "custody-ed25519 " + "ab" * 32 + " bad id!"])
def test_public_key_parser_rejects_non_canonical_text(text):
    with pytest.raises(InputError):
        PublicKey.parse(text)


def test_verify_raises_on_a_bad_signature_and_never_returns_false():
    key = SigningKey.generate()
    signature = key.sign(b"d" * 32)
    assert keys.verify(key.public_key, b"d" * 32, signature) is None
    with pytest.raises(VerificationFailed):
        keys.verify(key.public_key, b"e" * 32, signature)
    with pytest.raises(VerificationFailed, match="64 bytes"):
        keys.verify(key.public_key, b"d" * 32, signature[:63])


def test_verify_batch_marks_each_triple():
    key = SigningKey.generate()
    good = (key.public_key.raw, b"d" * 32, key.sign(b"d" * 32))
    bad = (key.public_key.raw, b"e" * 32, key.sign(b"d" * 32))
    malformed = (b"\x00" * 31, b"d" * 32, b"")
    assert keys.verify_batch([good, bad, malformed]) == [True, False, False]


def test_signing_key_repr_shows_no_key_material():
    key = SigningKey.from_seed(b"\x01" * 32)
    assert "0101" not in repr(key) and key.public_key.id[:16] in repr(key)


def test_the_verifiers_libsodium_path_agrees_with_cryptography():
    """verify_batch (libsodium) and verify (OpenSSL) must give the same verdict."""
    import os

    cases = []
    for _ in range(50):
        key = SigningKey.generate()
        digest = os.urandom(32)
        signature = key.sign(digest)
        flipped = bytes([signature[0] ^ 1]) + signature[1:]
        other = os.urandom(32)
        cases += [(key.public_key, digest, signature), (key.public_key, digest, flipped),
                  (key.public_key, other, signature)]
    zero_key = PublicKey(b"\x00" * 32)  # a small-order point: must never verify
    cases.append((zero_key, b"d" * 32, b"\x00" * 64))
    batch = keys.verify_batch([(k.raw, d, s) for k, d, s in cases])
    for (key, digest, signature), fast in zip(cases, batch):
        try:
            keys.verify(key, digest, signature)
            single = True
        except VerificationFailed:
            single = False
        assert fast == single
    assert batch.count(True) == 50
