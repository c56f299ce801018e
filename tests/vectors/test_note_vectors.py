"""Signed notes, checkpoints and cosignatures against other implementations' published bytes.

Sources, commits and licences: tests/vectors/note/README.md. The first half translates Go's
sumdb/note/note_test.go test by test, with Go's inputs and Go's expected verdicts.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ledger.tlog import checkpoint as cp
from ledger.tlog import note
from ledger.core.errors import InputError, NonCanonical, VerificationFailed
from ledger.core.keys import SigningKey

VECTORS = json.loads((Path(__file__).parent / "note" / "vectors.json").read_text(encoding="utf-8"))
GO = VECTORS["go_sumdb_note"]
TEXT = GO["text"]
PETER_SIG = GO["peter_sig"]
ENOCH_SIG = GO["enoch_sig"]
PETER = note.Signature(
    "PeterNeumann", 0xC74F20A3,
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
)
ENOCH = note.Signature(
    "EnochRoot", 0xAF0CFE78,
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=",
)


def peter() -> note.Ed25519Verifier:
    return note.Ed25519Verifier.from_vkey(GO["peter_vkey"])


def enoch() -> note.Ed25519Verifier:
    return note.Ed25519Verifier.from_vkey(GO["enoch_vkey"])


def peter_signer() -> note.Ed25519Signer:
    # Go's signer key string is PRIVATE+KEY+<name>+<id>+base64(0x01 ‖ 32-byte seed); the
    # project keeps its own key files, so only the test reads this form.
    _, _, name, hex_id, material = GO["peter_skey"].split("+", 4)
    raw = base64.b64decode(material)
    assert raw[0] == note.SIG_ED25519
    signer = note.Ed25519Signer(name, SigningKey.from_seed(raw[1:]))
    assert signer.key_id == int(hex_id, 16)
    return signer


def splice(line: str, at: int, insert: str) -> str:
    """Insert ``insert`` at byte offset ``at`` of ``line``, as Go's byte slicing does."""
    raw = line.encode("utf-8")
    return (raw[:at] + insert.encode("utf-8") + raw[at:]).decode("utf-8")


# --- TestNewVerifier -------------------------------------------------------------------------


def test_go_new_verifier_accepts_peter_key():
    v = peter()
    assert (v.name, v.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert v.key.format() == GO["peter_vkey"]


def test_go_new_verifier_refuses_every_substring_of_the_key():
    vkey = GO["peter_vkey"]
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if i == 0 and j == len(vkey):
                continue
            with pytest.raises(InputError):
                note.VerifierKey.parse(vkey[i:j])


def test_go_new_verifier_refuses_every_single_byte_increment():
    raw = bytearray(GO["peter_vkey"].encode())
    for i in range(len(raw)):
        raw[i] += 1
        with pytest.raises(InputError):
            note.VerifierKey.parse(raw.decode())
        raw[i] -= 1


@pytest.mark.parametrize("vkey", GO["bad_vkeys"], ids=["wrong-length-key", "unknown-algorithm"])
def test_go_new_verifier_refuses_bad_key_even_with_adjusted_key_hash(vkey):
    with pytest.raises(InputError):
        note.VerifierKey.parse(vkey)


# --- TestSign --------------------------------------------------------------------------------


def test_go_sign_reproduces_peters_note_byte_for_byte():
    assert note.sign_note(TEXT, peter_signer()) == (TEXT + "\n" + PETER_SIG).encode()


def test_go_sign_replaces_an_existing_signature_by_the_same_key():
    old = note.Note(TEXT, sigs=(note.Signature("PeterNeumann", 0xC74F20A3, "BADSIGN="),))
    assert note.sign_note(old, peter_signer()) == (TEXT + "\n" + PETER_SIG).encode()


def test_go_sign_refuses_text_without_final_newline():
    with pytest.raises(InputError, match="malformed note"):
        note.sign_note("abc", peter_signer())


@pytest.mark.parametrize(
    "existing",
    [note.Signature("a+b", 0, "ABCD"), note.Signature("PeterNeumann", 0xC74F20A3, "BADHASH=")],
    ids=["bad-name", "bad-prefilled-signature"],
)
def test_go_sign_refuses_malformed_existing_signature(existing):
    with pytest.raises(NonCanonical, match="malformed note"):
        note.sign_note(note.Note(TEXT, sigs=(existing,)))


class RenamedSigner:
    def __init__(self, inner, name):
        self.inner, self.name, self.key_id = inner, name, inner.key_id

    def sign(self, text):
        return self.inner.sign(text)


class Surprise(Exception):
    pass


class FailingSigner(RenamedSigner):
    def sign(self, text):
        raise Surprise()


def test_go_sign_refuses_a_signer_with_a_bad_name():
    with pytest.raises(InputError, match="invalid signer"):
        note.sign_note(TEXT, RenamedSigner(peter_signer(), "bad name"))


def test_go_sign_passes_on_the_signers_own_failure():
    with pytest.raises(Surprise):
        note.sign_note(TEXT, FailingSigner(peter_signer(), "PeterNeumann"))


# --- TestVerifierList ------------------------------------------------------------------------


def test_go_verifier_list_lookups():
    p, e = peter(), enoch()
    known = note.Verifiers(p, e, e)
    assert known.verifier("PeterNeumann", 0xC74F20A3) is p
    assert known.verifier("PeterNeumann", 0xC74F20A4) is None
    assert known.verifier("PeterNeuman", 0xC74F20A3) is None
    with pytest.raises(InputError, match="ambiguous key EnochRoot\\+af0cfe78"):
        known.verifier("EnochRoot", 0xAF0CFE78)


# --- TestOpen --------------------------------------------------------------------------------


def test_go_open_one_verified_one_not():
    n = note.open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), note.Verifiers(peter()))
    assert n.text == TEXT
    assert n.sigs == (PETER,) and n.unverified == (ENOCH,)


def test_go_open_both_verified():
    n = note.open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), note.Verifiers(peter(), enoch()))
    assert n.sigs == (PETER, ENOCH) and n.unverified == ()


def test_go_open_none_verified_raises_with_the_parsed_note():
    with pytest.raises(note.UnverifiedNote, match="note has no verifiable signatures") as caught:
        note.open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), note.Verifiers())
    assert caught.value.note.sigs == ()
    assert caught.value.note.unverified == (PETER, ENOCH)


def test_go_open_refuses_an_ambiguous_trusted_key_it_needs():
    with pytest.raises(InputError, match="ambiguous key EnochRoot\\+af0cfe78"):
        note.open_note((TEXT + "\n" + ENOCH_SIG).encode(), note.Verifiers(enoch(), peter(), enoch()))


def test_go_open_ignores_an_ambiguous_trusted_key_it_does_not_need():
    n = note.open_note((TEXT + "\n" + PETER_SIG).encode(), note.Verifiers(enoch(), peter(), enoch()))
    assert n.sigs == (PETER,)


@pytest.mark.parametrize("known", [[peter()], []], ids=["verified", "unverified"])
def test_go_open_refuses_101_signatures(known):
    with pytest.raises(NonCanonical, match="malformed note"):
        note.open_note((TEXT + "\n" + PETER_SIG * 101).encode(), note.Verifiers(*known))


def test_go_open_refuses_a_bad_signature_by_a_trusted_key():
    msg = TEXT + "\n" + splice(PETER_SIG, 60, "ABCD")
    with pytest.raises(VerificationFailed, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        note.open_note(msg.encode(), note.Verifiers(peter()))


def test_go_open_drops_repeated_signatures():
    enoch_abcd = splice(ENOCH_SIG, 60, "ABCD")
    msg = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    n = note.open_note(msg.encode(), note.Verifiers(peter()))
    assert n.sigs == (PETER,)
    assert n.unverified == (ENOCH, note.parse_signature_line(enoch_abcd[:-1]))
    assert n.unverified[1].base64 == (
        "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n" + "ABCD"
        + "2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
    )


GO_BAD_MESSAGES = {
    "text-only": TEXT,
    "no-signatures": TEXT + "\n",
    "no-final-newline": TEXT + "\n" + PETER_SIG[:-1],
    "control-character": "\x01" + TEXT + "\n" + PETER_SIG,
    "bad-name": TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
    "unexpected-line": TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
}


@pytest.mark.parametrize("msg", GO_BAD_MESSAGES.values(), ids=GO_BAD_MESSAGES.keys())
def test_go_open_refuses_malformed_messages(msg):
    with pytest.raises(NonCanonical, match="malformed note"):
        note.open_note(msg.encode(), note.Verifiers(peter()))


def test_go_open_refuses_invalid_utf8():
    with pytest.raises(NonCanonical, match="malformed note: not valid UTF-8"):
        note.open_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), note.Verifiers(peter()))


class FixedKeys:
    """A trusted-key set that answers one verifier whatever is asked (Go's fixedVerifier)."""

    def __init__(self, v):
        self.v = v

    def verifier(self, name, key_id):
        return self.v


@pytest.mark.parametrize(
    "sig", [PETER_SIG.replace("PeterNeumann", "CarmenSandiego"), PETER_SIG.replace("x08g", "xxxx")],
    ids=["wrong-name", "wrong-hash"],
)
def test_go_open_refuses_a_key_set_that_answers_the_wrong_key(sig):
    with pytest.raises(InputError, match="answered PeterNeumann\\+c74f20a3"):
        note.open_note((TEXT + "\n" + sig).encode(), FixedKeys(peter()))


# --- C2SP signed-note example ----------------------------------------------------------------


def test_c2sp_signed_note_example_verifies():
    vec = VECTORS["c2sp_signed_note"]
    key = note.VerifierKey.parse(vec["vkey"])
    assert key.public_key.hex() == vec["public_key_hex"] and key.key_id == 0x530D903A
    n = note.open_note(vec["note"].encode(), note.Verifiers(note.Ed25519Verifier(key)))
    assert n.text == "This is an example message.\n"


# --- checkpoints -----------------------------------------------------------------------------


def test_c2sp_checkpoint_example_parses_and_formats_back():
    vec = VECTORS["c2sp_checkpoint"]
    c = cp.Checkpoint.parse(vec["text"])
    assert (c.origin, c.size, c.root) == (vec["origin"], vec["size"], base64.b64decode(vec["root_base64"]))
    assert c.format() == vec["text"]


def test_c2sp_cosignature_signed_message_example():
    vec = VECTORS["c2sp_checkpoint"]
    assert cp.cosignature_message(vec["cosignature_time"], vec["text"]) == vec["cosignature_message"].encode()


def test_sumdb_checkpoint_opens_for_its_origin():
    vec = VECTORS["sumdb_checkpoint"]
    log = note.Ed25519Verifier.from_vkey(vec["log_vkey"])
    c, n = cp.open_checkpoint(vec["note"].encode(), vec["origin"], log)
    assert c.size == vec["size"] and c.origin == "go.sum database tree"
    assert [s.name for s in n.sigs] == ["sum.golang.org"]


def test_sumdb_checkpoint_refused_for_another_origin():
    vec = VECTORS["sumdb_checkpoint"]
    log = note.Ed25519Verifier.from_vkey(vec["log_vkey"])
    with pytest.raises(VerificationFailed, match="not 'Go rocks but I might have the wrong ID'"):
        cp.open_checkpoint(vec["note"].encode(), "Go rocks but I might have the wrong ID", log)


def witnessed():
    vec = VECTORS["witnessed_checkpoint"]
    log = note.Ed25519Verifier.from_vkey(vec["log_vkey"])
    witness = cp.CosignatureVerifier.from_vkey(vec["witness_vkey"])
    return vec, log, witness


def test_real_witness_cosignature_verifies_with_its_timestamp():
    vec, log, witness = witnessed()
    c, n = cp.open_checkpoint(vec["note"].encode(), vec["origin"], log, [witness])
    assert c.size == vec["size"]
    assert [s.name for s in n.sigs] == [vec["origin"], "remora.n621.de"]
    # Four unknown signatures are kept aside: the log's RFC 6962 one (same name, other key
    # ID: signed-note says to ignore it) and three other witnesses.
    assert len(n.unverified) == 4
    assert n.unverified[0].name == vec["origin"] and n.unverified[0].key_id != log.key_id
    assert cp.cosignature_timestamp(n.sigs[1]) == vec["witness_time"]


def test_real_witnessed_checkpoint_with_size_changed_is_refused():
    vec, log, witness = witnessed()
    forged = vec["note"].replace("\n1432088532\n", "\n42\n").encode()
    with pytest.raises(VerificationFailed, match="invalid signature for key arche2025h1"):
        cp.open_checkpoint(forged, vec["origin"], log, [witness])


def test_real_witness_cosignature_does_not_verify_as_a_plain_signature():
    # The same key and name as type 0x01 has another key ID: a cosignature is never taken for
    # a log signature.
    vec, log, witness = witnessed()
    plain = note.Ed25519Verifier(note.VerifierKey(witness.name, note.SIG_ED25519, witness.key.public_key))
    assert plain.key_id != witness.key_id
    with pytest.raises(note.UnverifiedNote):
        cp.open_checkpoint(vec["note"].encode(), vec["origin"], plain)
    # Relabelled with the type 0x01 key ID, the cosignature is checked, and fails: the
    # cosignature/v1 prefix separates what the two types sign.
    line = next(ln for ln in vec["note"].split("\n") if ln.startswith("— remora.n621.de "))
    raw = base64.b64decode(line.split(" ")[2])
    relabelled = f"— remora.n621.de {base64.b64encode(plain.key_id.to_bytes(4, 'big') + raw[4:]).decode()}"
    forged = vec["note"].replace(line, relabelled).encode()
    with pytest.raises(VerificationFailed, match="invalid signature for key remora.n621.de"):
        note.open_note(forged, note.Verifiers(plain))


def test_formats_cosignature_timestamp_vectors():
    vec = VECTORS["cosignature_timestamp"]
    sig = note.Signature("w", 0, vec["signature_base64"])
    assert cp.cosignature_timestamp(sig) == vec["time"]
    with pytest.raises(NonCanonical, match="not a timestamped cosignature"):
        cp.cosignature_timestamp(note.Signature("w", 0, vec["plain_signature_base64"]))


def test_formats_cosignature_verifier_keys():
    vec = VECTORS["cosignature_timestamp"]
    assert cp.CosignatureVerifier.from_vkey(vec["type4_vkey"]).key_id == 0xDA77ADE7
    # transparency-dev/formats also turns a type 0x01 key into a cosignature verifier; we take
    # cosignature keys only as type 0x04, so that a key's vkey says what it signs.
    assert note.VerifierKey.parse(vec["type1_vkey"]).sig_type == note.SIG_ED25519
    with pytest.raises(InputError, match="not a cosignature/v1 key"):
        cp.CosignatureVerifier.from_vkey(vec["type1_vkey"])
    for bad in vec["bad_vkeys"]:
        with pytest.raises(InputError):
            note.VerifierKey.parse(bad)
