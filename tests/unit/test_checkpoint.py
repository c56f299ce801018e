"""Checkpoints, cosignatures and tlog-proof receipts: round trips and canonical refusals."""

from __future__ import annotations

import hashlib

import pytest

from ledger.tlog import checkpoint as cp
from ledger.tlog import merkle, note
from ledger.core.errors import InputError, NonCanonical, VerificationFailed
from ledger.core.keys import SigningKey

ORIGIN = "custody.example/gd-gaokao-2026"
LOG_KEY = SigningKey.from_seed(bytes(range(32)))
WITNESS_KEY = SigningKey.from_seed(bytes(range(1, 33)))
OTHER_KEY = SigningKey.from_seed(bytes(range(2, 34)))
WITNESS = "discipline.example/witness"
TIME = 1780000000

DATA = [hashlib.sha256(b"event %d" % i).digest() for i in range(11)]


class Tree:
    def __init__(self, data):
        self.store = []
        for n, d in enumerate(data):
            self.store.extend(merkle.stored_hashes(n, d, self.read))

    def read(self, indexes):
        return [self.store[i] for i in indexes]


TREE = Tree(DATA)
ROOT = merkle.tree_hash(11, TREE.read)
CHECKPOINT = cp.Checkpoint(ORIGIN, 11, ROOT)
LOG = note.Ed25519Signer(ORIGIN, LOG_KEY)
COSIGNER = cp.Cosigner(WITNESS, WITNESS_KEY, TIME)


def signed(checkpoint=CHECKPOINT, *signers):
    return note.sign_note(checkpoint.format(), *(signers or (LOG, COSIGNER)))


def log_verifier():
    return note.Ed25519Verifier(LOG.verifier_key)


def witness_verifier():
    return cp.CosignatureVerifier(COSIGNER.verifier_key)


# --- checkpoint text -------------------------------------------------------------------------


def test_checkpoint_format_is_three_lines_and_parses_back():
    text = CHECKPOINT.format()
    assert text == f"{ORIGIN}\n11\n{note.encode_base64(ROOT)}\n"
    assert cp.Checkpoint.parse(text) == CHECKPOINT


def test_checkpoint_with_extension_lines_round_trips():
    c = cp.Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT, ("ext one", "— two"))
    assert cp.Checkpoint.parse(c.format()) == c


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def padding_bits_set(b64: str) -> str:
    """The same bytes' base64 with the unused low bit of the last character set (RFC 4648 §3.5)."""
    body = b64.rstrip("=")
    last = ALPHABET[ALPHABET.index(body[-1]) | 1]
    return body[:-1] + last + "=" * (len(b64) - len(body))


ROOT64 = note.encode_base64(ROOT)
URL_SAFE = note.encode_base64(b"\xfb" * 32).replace("+", "-")

NON_CANONICAL_CHECKPOINTS = {
    "leading-zero": f"{ORIGIN}\n011\n{note.encode_base64(ROOT)}\n",
    "plus-sign": f"{ORIGIN}\n+11\n{note.encode_base64(ROOT)}\n",
    "space-in-size": f"{ORIGIN}\n 11\n{note.encode_base64(ROOT)}\n",
    "underscore": f"{ORIGIN}\n1_1\n{note.encode_base64(ROOT)}\n",
    "unicode-digit": f"{ORIGIN}\n１1\n{note.encode_base64(ROOT)}\n",
    "size-over-2^64": f"{ORIGIN}\n{1 << 64}\n{note.encode_base64(ROOT)}\n",
    "crlf": f"{ORIGIN}\r\n11\r\n{note.encode_base64(ROOT)}\r\n",
    "no-final-newline": f"{ORIGIN}\n11\n{note.encode_base64(ROOT)}",
    "two-lines": f"{ORIGIN}\n11\n",
    "empty-origin": f"\n11\n{note.encode_base64(ROOT)}\n",
    "empty-extension": f"{ORIGIN}\n11\n{note.encode_base64(ROOT)}\n\n",
    "unpadded-root": f"{ORIGIN}\n11\n{note.encode_base64(ROOT).rstrip('=')}\n",
    "root-padding-bits": f"{ORIGIN}\n11\n{padding_bits_set(ROOT64)}\n",
    "url-safe-root": f"{ORIGIN}\n11\n{URL_SAFE}\n",
    "short-root": f"{ORIGIN}\n11\n{note.encode_base64(ROOT[:31])}\n",
    "trailing-space": f"{ORIGIN}\n11 \n{note.encode_base64(ROOT)}\n",
}


@pytest.mark.parametrize("text", NON_CANONICAL_CHECKPOINTS.values(), ids=NON_CANONICAL_CHECKPOINTS.keys())
def test_non_canonical_checkpoint_text_is_refused(text):
    with pytest.raises(NonCanonical):
        cp.Checkpoint.parse(text)


# --- signing, cosigning, opening -------------------------------------------------------------


def test_log_signed_and_witness_cosigned_checkpoint_opens():
    checkpoint, opened = cp.open_checkpoint(signed(), ORIGIN, log_verifier(), [witness_verifier()])
    assert checkpoint == CHECKPOINT
    assert [s.name for s in opened.sigs] == [ORIGIN, WITNESS]
    assert cp.cosignature_timestamp(opened.sigs[1]) == TIME


def test_cosignature_signs_the_cosignature_v1_message():
    raw = note.decode_base64(signed().decode().splitlines()[-1].split(" ")[2], "sig")
    assert raw[:4] == COSIGNER.key_id.to_bytes(4, "big")
    assert raw[4:12] == TIME.to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1780000000\n" + CHECKPOINT.format().encode()
    assert note.ed25519_verify(WITNESS_KEY.public_key.raw, message, raw[12:])


def test_cosignature_covers_extension_lines():
    # transparency-dev/formats TestSigCoversExtensionLines: change the last byte of the text.
    c = cp.Checkpoint(ORIGIN, 11, ROOT, ("Extendo",))
    msg = note.sign_note(c.format(), LOG, COSIGNER).decode()
    # Only the witness's cosignature is checked here, so only it can catch the change.
    forged = msg.replace("Extendo\n", "Extend@\n").encode()
    with pytest.raises(VerificationFailed, match=f"invalid signature for key {WITNESS}"):
        note.open_note(forged, note.Verifiers(witness_verifier()))


def test_cosignature_with_a_changed_timestamp_is_refused():
    msg = signed().decode()
    line = msg.splitlines()[-1]
    raw = bytearray(note.decode_base64(line.split(" ")[2], "sig"))
    raw[11] ^= 1  # the timestamp's last byte
    forged = msg.replace(line, f"— {WITNESS} {note.encode_base64(bytes(raw))}").encode()
    with pytest.raises(VerificationFailed, match=f"invalid signature for key {WITNESS}"):
        cp.open_checkpoint(forged, ORIGIN, log_verifier(), [witness_verifier()])


def test_checkpoint_signed_only_by_a_witness_is_refused():
    msg = note.sign_note(CHECKPOINT.format(), COSIGNER)
    with pytest.raises(VerificationFailed, match=f"not signed by the log key {ORIGIN}"):
        cp.open_checkpoint(msg, ORIGIN, log_verifier(), [witness_verifier()])


def test_checkpoint_signed_by_an_impostor_under_the_logs_name_is_not_trusted():
    impostor = note.Ed25519Signer(ORIGIN, OTHER_KEY)
    with pytest.raises(note.UnverifiedNote):
        cp.open_checkpoint(signed(CHECKPOINT, impostor), ORIGIN, log_verifier())


def test_cosigner_refuses_to_sign_a_note_that_is_not_a_checkpoint():
    with pytest.raises(NonCanonical, match="malformed checkpoint"):
        note.sign_note("just a note\n", COSIGNER)


def test_cosigner_refuses_a_timestamp_beyond_2_63():
    with pytest.raises(InputError, match="not in 0 .. 2\\*\\*63-1"):
        cp.Cosigner(WITNESS, WITNESS_KEY, 1 << 63)


def test_cosignature_verifier_refuses_a_timestamp_beyond_2_63():
    # Signed by the witness key, but over a time the spec forbids: not a valid cosignature.
    message = f"cosignature/v1\ntime {1 << 63}\n".encode() + CHECKPOINT.format().encode()
    sig = (1 << 63).to_bytes(8, "big") + WITNESS_KEY.sign(message)
    assert not witness_verifier().verify(CHECKPOINT.format().encode(), sig)


def test_vkeys_round_trip_for_both_types():
    for key in (LOG.verifier_key, COSIGNER.verifier_key):
        assert note.VerifierKey.parse(key.format()) == key
    for key, name, sig_type in ((LOG.verifier_key, ORIGIN, 1), (COSIGNER.verifier_key, WITNESS, 4)):
        got_name, got_id, material = key.format().split("+", 2)
        assert (got_name, got_id) == (name, f"{key.key_id:08x}")
        assert note.decode_base64(material, "key") == bytes([sig_type]) + key.public_key


@pytest.mark.parametrize(
    "vkey",
    [
        lambda k: k.replace(k.split("+")[1], k.split("+")[1].upper()),  # uppercase key id
        lambda k: k + "\n",
        lambda k: " " + k,
        lambda k: k.rstrip("=") if k.endswith("=") else k[:-1],
    ],
    ids=["uppercase-hex", "trailing-newline", "leading-space", "truncated-base64"],
)
def test_non_canonical_vkeys_are_refused(vkey):
    text = vkey(LOG.verifier_key.format())
    assert text != LOG.verifier_key.format()
    with pytest.raises(InputError):
        note.VerifierKey.parse(text)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\u3000b", "a\tb", "a\x01b"])
def test_key_names_the_spec_forbids_are_refused(name):
    with pytest.raises(InputError):
        note.check_key_name(name)


def test_note_with_crlf_line_endings_is_refused():
    msg = signed().replace(b"\n", b"\r\n")
    with pytest.raises(NonCanonical, match="control character 0x0d"):
        note.open_note(msg, note.Verifiers(log_verifier()))


def test_note_over_the_size_limit_is_refused_before_reading_it():
    msg = b"x" * note.MAX_NOTE_BYTES + b"\n\n" + signed().split(b"\n\n")[1]
    with pytest.raises(NonCanonical, match="longer than"):
        note.open_note(msg, note.Verifiers(log_verifier()))


def test_signature_with_non_canonical_base64_is_refused():
    msg = signed().decode()
    line = msg.splitlines()[-2]  # the log's signature: 68 bytes, 2 padding bits in its base64
    b64 = line.split(" ")[2]
    flipped = padding_bits_set(b64)
    assert flipped != b64 and note.base64.b64decode(flipped) == note.base64.b64decode(b64)  # same bytes, other text
    forged = msg.replace(line, line.replace(b64, flipped)).encode()
    with pytest.raises(NonCanonical, match="not the canonical base64"):
        note.open_note(forged, note.Verifiers(log_verifier()))


# --- tlog-proof ------------------------------------------------------------------------------


def receipt(index=6, extra=None):
    return cp.TlogProof(index, tuple(merkle.prove_record(11, index, TREE.read)), signed(), extra)


def test_tlog_proof_format_matches_the_spec_layout():
    text = receipt(extra=b"lot MATH-Q-0001").format().decode()
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1] == "extra " + note.encode_base64(b"lot MATH-Q-0001")
    assert lines[2] == "index 6"
    assert lines[3:7] == [note.encode_base64(h) for h in receipt().proof]
    assert lines[7] == ""
    assert text.endswith(signed().decode())


@pytest.mark.parametrize("extra", [None, b"x"], ids=["no-extra", "extra"])
def test_tlog_proof_parse_round_trips(extra):
    data = receipt(extra=extra).format()
    assert cp.TlogProof.parse(data) == receipt(extra=extra)
    assert cp.TlogProof.parse(data).format() == data


def test_tlog_proof_opens_for_the_right_event():
    proof, checkpoint, opened = cp.open_proof(
        receipt().format(), merkle.leaf_hash(DATA[6]), ORIGIN, log_verifier(), [witness_verifier()]
    )
    assert proof.index == 6 and checkpoint.size == 11 and len(opened.sigs) == 2


def test_tlog_proof_for_a_substituted_event_is_refused():
    with pytest.raises(VerificationFailed, match="inclusion proof of record 6 leads to root"):
        cp.open_proof(receipt().format(), merkle.leaf_hash(DATA[7]), ORIGIN, log_verifier())


def test_tlog_proof_with_index_moved_is_refused():
    data = receipt().format().replace(b"index 6\n", b"index 7\n")
    with pytest.raises(VerificationFailed, match="record 7"):
        cp.open_proof(data, merkle.leaf_hash(DATA[6]), ORIGIN, log_verifier())


def test_tlog_proof_for_index_zero_of_a_one_leaf_tree_has_no_hash_lines():
    one = Tree(DATA[:1])
    c = cp.Checkpoint(ORIGIN, 1, merkle.tree_hash(1, one.read))
    data = cp.TlogProof(0, (), note.sign_note(c.format(), LOG)).format()
    assert data.startswith(b"c2sp.org/tlog-proof@v1\nindex 0\n\n" + ORIGIN.encode())
    cp.open_proof(data, merkle.leaf_hash(DATA[0]), ORIGIN, log_verifier())


def _proof_variants():
    good = receipt().format()
    head, _, rest = good.partition(b"\n\n")
    return {
        "wrong-header": good.replace(b"tlog-proof@v1", b"tlog-proof@v2", 1),
        "leading-zero-index": good.replace(b"index 6", b"index 06"),
        "space-before-index": good.replace(b"index 6", b"index  6"),
        "empty-extra": good.replace(b"@v1\n", b"@v1\nextra \n", 1),
        "extra-after-index": good.replace(b"index 6\n", b"index 6\nextra eA==\n"),
        "crlf": head.replace(b"\n", b"\r\n") + b"\n\n" + rest,
        "short-hash": good.replace(head.split(b"\n")[2], note.encode_base64(b"\x00" * 31).encode()),
        "no-blank-line": head + b"\n" + rest,
        "no-checkpoint": head + b"\n\n",
        "unsigned-checkpoint": head + b"\n\n" + CHECKPOINT.format().encode(),
        "missing-index": good.replace(b"index 6\n", b""),
    }


@pytest.mark.parametrize(("name", "data"), _proof_variants().items(), ids=_proof_variants().keys())
def test_non_canonical_tlog_proof_is_refused(name, data):
    with pytest.raises(NonCanonical):
        cp.TlogProof.parse(data)


def test_signature_sharing_the_logs_key_id_under_another_name_is_ignored():
    # signed-note: unknown keys are ignored "even if they share a name or ID (but not both)".
    msg = signed(CHECKPOINT, LOG).decode()
    line = msg.splitlines()[-1]
    extra = line.replace(f"— {ORIGIN} ", "— someone.else/log ")
    _, opened = cp.open_checkpoint((msg + extra + "\n").encode(), ORIGIN, log_verifier())
    assert [s.name for s in opened.sigs] == [ORIGIN]
    assert [(s.name, s.key_id) for s in opened.unverified] == [("someone.else/log", LOG.key_id)]
