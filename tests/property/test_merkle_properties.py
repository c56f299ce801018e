"""Properties of the Merkle proofs and of the C2SP text formats.

Proofs: for random sizes and indexes they verify, and any flipped bit in a proof, a root or
a leaf is refused. Formats: ``format(parse(x)) == x``, anything a parser accepts is the
canonical text of its value, and the usual non-canonical variants are refused.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tlog import checkpoint as cp
from ledger.tlog import merkle, note
from ledger.core.errors import InputError, NonCanonical, VerificationFailed
from ledger.core.keys import SigningKey

MAX = 1500
STORE: list[bytes] = []
for _n in range(MAX):
    STORE.extend(merkle.stored_hashes(_n, hashlib.sha256(b"%d" % _n).digest(), lambda ix: [STORE[i] for i in ix]))


def read(indexes):
    return [STORE[i] for i in indexes]


def leaf(n: int) -> bytes:
    return STORE[merkle.stored_hash_index(0, n)]


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def refused(check, *args) -> bool:
    try:
        check(*args)
    except VerificationFailed:
        return True
    return False


@st.composite
def tree_and_index(draw):
    t = draw(st.integers(1, MAX))
    return t, draw(st.integers(0, t - 1))


@st.composite
def two_sizes(draw):
    t = draw(st.integers(1, MAX))
    return t, draw(st.integers(1, t))


@settings(deadline=None)
@given(tree_and_index(), st.data())
def test_inclusion_proofs_verify_and_any_flipped_bit_is_refused(tn, data):
    t, n = tn
    root = merkle.tree_hash(t, read)
    proof = merkle.prove_record(t, n, read)
    merkle.check_record(proof, t, root, n, leaf(n))
    bit = data.draw(st.integers(0, 255))
    assert refused(merkle.check_record, proof, t, flip(root, bit), n, leaf(n))
    assert refused(merkle.check_record, proof, t, root, n, flip(leaf(n), bit))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        tampered = proof[:i] + [flip(proof[i], bit)] + proof[i + 1 :]
        assert refused(merkle.check_record, tampered, t, root, n, leaf(n))
    if t > 1:
        other = data.draw(st.integers(0, t - 1).filter(lambda m: m != n))
        assert refused(merkle.check_record, proof, t, root, other, leaf(n))


@settings(deadline=None)
@given(two_sizes(), st.data())
def test_consistency_proofs_verify_and_any_flipped_bit_is_refused(sizes, data):
    t, m = sizes
    new_root, old_root = merkle.tree_hash(t, read), merkle.tree_hash(m, read)
    proof = merkle.prove_tree(t, m, read)
    merkle.check_tree(proof, t, new_root, m, old_root)
    bit = data.draw(st.integers(0, 255))
    assert refused(merkle.check_tree, proof, t, flip(new_root, bit), m, old_root)
    assert refused(merkle.check_tree, proof, t, new_root, m, flip(old_root, bit))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        tampered = proof[:i] + [flip(proof[i], bit)] + proof[i + 1 :]
        assert refused(merkle.check_tree, tampered, t, new_root, m, old_root)
        assert refused(merkle.check_tree, proof[:-1], t, new_root, m, old_root)


@given(st.integers(0, MAX))
def test_compact_range_matches_tree_hash_and_round_trips(n):
    compact = merkle.CompactRange.from_stored(n, read)
    assert compact.root() == merkle.tree_hash(n, read)
    assert merkle.CompactRange.from_bytes(compact.to_bytes()) == compact


@given(st.integers(0, 300), st.lists(st.integers(0, 40), max_size=8))
def test_compact_range_extends_by_pages_as_it_appends_leaf_by_leaf(n, cuts):
    """``extend`` over any split of the leaves gives the stored hashes in index order, from
    the first leaf's on, and the same range as ``append`` one by one."""
    start = min(n, 1200)
    leaves = [leaf(i) for i in range(start, min(MAX, start + 300))]
    by_leaf = merkle.CompactRange.from_stored(start, read)
    one_by_one = [h for x in leaves for h in by_leaf.append(x)]
    by_page, created, at = merkle.CompactRange.from_stored(start, read), [], 0
    for cut in [*cuts, len(leaves)]:
        created += by_page.extend(leaves[at:at + cut])
        at += cut
    created += by_page.extend(leaves[at:])
    first = merkle.stored_hash_index(0, start)
    assert created == one_by_one == STORE[first:first + len(created)]
    assert by_page == by_leaf and by_page.size == start + len(leaves)


def test_a_refused_leaf_leaves_the_range_as_the_leaves_before_it_made_it():
    compact = merkle.CompactRange()
    with pytest.raises(InputError, match="a leaf hash is 32 bytes"):
        compact.extend([leaf(0), leaf(1), b"short"])
    assert compact == merkle.CompactRange.from_stored(2, read)


@given(st.binary(max_size=8 + 3 * 32))
def test_compact_range_bytes_are_refused_or_canonical(data):
    try:
        compact = merkle.CompactRange.from_bytes(data)
    except InputError:
        return
    assert compact.to_bytes() == data


# --- formats -----------------------------------------------------------------------------------

line_text = st.text(
    st.characters(min_codepoint=0x20, exclude_categories=("Cs",)), min_size=1, max_size=30
)
key_names = st.text(
    st.characters(min_codepoint=0x21, exclude_categories=("Cs", "Zs", "Zl", "Zp"), exclude_characters="+\x85"),
    min_size=1, max_size=20,
)
checkpoints = st.builds(
    cp.Checkpoint,
    origin=line_text,
    size=st.integers(0, (1 << 64) - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(line_text, max_size=3).map(tuple),
)


@given(checkpoints)
def test_checkpoint_format_parse_round_trips(c):
    text = c.format()
    assert cp.Checkpoint.parse(text) == c
    assert cp.Checkpoint.parse(text).format() == text


@given(checkpoints, st.sampled_from(["leading-zero", "space", "crlf", "no-final-newline", "blank-line"]))
def test_non_canonical_checkpoint_variants_are_refused(c, how):
    text = c.format()
    lines = text.split("\n")
    if how == "leading-zero":
        lines[1] = "0" + lines[1]
    elif how == "space":
        lines[1] = lines[1] + " "
    elif how == "crlf":
        lines = [line + "\r" for line in lines[:-1]] + [""]
    elif how == "no-final-newline":
        lines = lines[:-1]
    elif how == "blank-line":
        lines.insert(3, "")
    bad = "\n".join(lines)
    assert bad != text
    try:
        cp.Checkpoint.parse(bad)
    except NonCanonical:
        return
    raise AssertionError(f"accepted a {how} variant: {bad!r}")


@given(st.binary(max_size=200))
def test_any_bytes_are_refused_as_a_note_or_are_exactly_its_canonical_text(data):
    try:
        text, sigs = note.parse_note(data)
    except NonCanonical:
        return
    assert (text + "\n" + "".join(s.line for s in sigs)).encode() == data


@given(key_names, st.sampled_from([note.SIG_ED25519, note.SIG_COSIGNATURE_V1]), st.binary(min_size=32, max_size=32))
def test_vkey_format_parse_round_trips(name, sig_type, public_key):
    key = note.VerifierKey(name, sig_type, public_key)
    assert note.VerifierKey.parse(key.format()) == key


SIGNED = note.sign_note(
    cp.Checkpoint("log.example/a", 5, bytes(32)).format(),
    note.Ed25519Signer("log.example/a", SigningKey.from_seed(bytes(32))),
)


@given(
    st.integers(0, (1 << 64) - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=5).map(tuple),
    st.one_of(st.none(), st.binary(min_size=1, max_size=40)),
)
def test_tlog_proof_format_parse_round_trips(index, proof, extra):
    p = cp.TlogProof(index, proof, SIGNED, extra)
    data = p.format()
    assert cp.TlogProof.parse(data) == p
    assert cp.TlogProof.parse(data).format() == data
