import os
import re
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


def test_the_recorders_and_the_verifiers_checks_agree():
    """verify (the recorder's, via rules.judge_signatures) and verify_batch (the verifier's
    workers) give the same verdict on good, flipped and misdirected signatures."""
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
    batch = keys.verify_batch([(k.raw, d, s) for k, d, s in cases])
    for (key, digest, signature), fast in zip(cases, batch):
        try:
            keys.verify(key, digest, signature)
            single = True
        except VerificationFailed:
            single = False
        assert fast == single
    assert batch == [True, False, False] * 50


# -- keys enrolment refuses: libsodium's crypto_core_ed25519_is_valid_point ------------------

P = 2**255 - 19
ORDER_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")


def encoded(y: int, sign: int = 0) -> bytes:
    return (y | sign << 255).to_bytes(32, "little")


def with_sign_bit(raw: bytes) -> bytes:
    return raw[:31] + bytes([raw[31] | 0x80])


def mixed_order_key() -> bytes:
    """An honest key plus a point of order 8: on the curve, outside the prime-order subgroup."""
    from nacl.bindings import crypto_core_ed25519_add

    return crypto_core_ed25519_add(SigningKey.from_seed(b"\x07" * 32).public_key.raw, ORDER_8)


SMALL = "point of small order"
NON_CANONICAL = "not below 2^255-19"
REFUSED_KEYS = {
    "identity": (encoded(1), SMALL),
    "identity, sign bit set (x = 0)": (encoded(1, 1), SMALL),
    "order 2 (y = -1)": (encoded(P - 1), SMALL),
    "order 2, sign bit set (x = 0)": (encoded(P - 1, 1), SMALL),
    "order 4 (y = 0)": (encoded(0), SMALL),
    "order 4, other x": (encoded(0, 1), SMALL),
    "order 8": (ORDER_8, SMALL),
    "order 8, sign bit set": (with_sign_bit(ORDER_8), SMALL),
    "order 8, negated y": (encoded(P - int.from_bytes(ORDER_8, "little")), SMALL),
    "y = p, aliasing 0": (encoded(P), NON_CANONICAL),
    "y = p + 1, aliasing the identity": (encoded(P + 1), NON_CANONICAL),
    "y = p + 1, sign bit set": (encoded(P + 1, 1), NON_CANONICAL),
    "y = 2^255 - 1": (encoded(2**255 - 1), NON_CANONICAL),
    "y = p + 3, aliasing a point off the subgroup": (encoded(P + 3), NON_CANONICAL),
    "y = 2, no x on the curve": (encoded(2), "not a point on the curve"),
    "y = 3, on the curve, off the subgroup": (encoded(3), "small-order component"),
    "honest key plus a point of order 8": (mixed_order_key(), "small-order component"),
}


@pytest.mark.parametrize("name", REFUSED_KEYS)
def test_public_key_refuses_small_order_non_canonical_and_off_subgroup_points(name):
    raw, why = REFUSED_KEYS[name]
    assert keys.key_defect(raw) is not None and why in keys.key_defect(raw)
    with pytest.raises(InputError, match=f"public key {keys.key_id(raw)[:16]} is refused: "
                                         f".*{re.escape(why)}.*custody keys new") as info:
        PublicKey(raw)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="refused"):
        PublicKey.from_hex(raw.hex())
    with pytest.raises(InputError, match="refused"):
        PublicKey.parse(f"custody-ed25519 {raw.hex()} NEW-01\n")


def test_a_refused_public_key_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "identity.pub"
    path.write_text(f"custody-ed25519 {encoded(1).hex()} NEW-01\n")
    with pytest.raises(InputError, match=f"public key file {path}: public key .* is refused: "
                                         f"it is a {SMALL}"):
        read_public_key(path)


def test_every_generated_key_is_accepted():
    for _ in range(200):
        key = SigningKey.generate().public_key
        assert keys.key_defect(key.raw) is None and PublicKey(key.raw) == key
