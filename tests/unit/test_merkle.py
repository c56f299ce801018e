"""The Merkle core against a plain recursive RFC 9162 §2.1 reference, and its refusals."""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

import pytest

from ledger.tlog import merkle
from ledger.core.errors import InputError, StorageError, VerificationFailed


# --- RFC 9162 §2.1, transcribed: MTH, PATH, PROOF/SUBPROOF over a list of leaf data ---------


def event_hash(i: int) -> bytes:
    return hashlib.sha256(b"event %d" % i).digest()


DATA = tuple(event_hash(i) for i in range(64))


def k_of(n: int) -> int:
    """The largest power of two smaller than n (RFC 9162 §2.1.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@lru_cache(maxsize=None)
def mth(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) of RFC 9162 §2.1.1."""
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + DATA[lo]).digest()
    k = k_of(n)
    return hashlib.sha256(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi)).digest()


def path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]) of RFC 9162 §2.1.3.1."""
    n = hi - lo
    if n == 1:
        return []
    k = k_of(n)
    if m < k:
        return path(m, lo, lo + k) + [mth(lo + k, hi)]
    return path(m - k, lo + k, hi) + [mth(lo, lo + k)]


def subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1."""
    n = hi - lo
    if m == n:
        return [] if b else [mth(lo, hi)]
    k = k_of(n)
    if m <= k:
        return subproof(m, lo, lo + k, b) + [mth(lo + k, hi)]
    return subproof(m - k, lo + k, hi, False) + [mth(lo, lo + k)]


def proof(m: int, n: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1."""
    return subproof(m, 0, n, True)


# --- a log kept in a list of stored hashes, with a counting reader ---------------------------


class Log:
    def __init__(self, size: int) -> None:
        self.store: list[bytes] = []
        self.reads: list[int] = []
        for n in range(size):
            self.store.extend(merkle.stored_hashes(n, DATA[n], self.read))

    def read(self, indexes: list[int]) -> list[bytes]:
        self.reads.append(len(indexes))
        return [self.store[i] for i in indexes]


LOG = Log(64)


def test_empty_tree_root_is_sha256_of_nothing():
    assert merkle.tree_hash(0, LOG.read) == mth(0, 0) == merkle.EMPTY_ROOT
    assert merkle.CompactRange().root() == merkle.EMPTY_ROOT


def test_leaf_and_node_hashes_follow_rfc_9162_prefixes():
    assert merkle.leaf_hash(DATA[0]) == hashlib.sha256(b"\x00" + DATA[0]).digest() == mth(0, 1)
    assert merkle.node_hash(mth(0, 1), mth(1, 2)) == mth(0, 2)


def test_roots_proofs_and_consistency_equal_the_rfc_reference_for_every_size_to_64():
    compact = merkle.CompactRange()
    for t in range(1, 65):
        compact.append(merkle.leaf_hash(DATA[t - 1]))
        root = mth(0, t)
        assert merkle.tree_hash(t, LOG.read) == root, t
        assert compact.root() == root, t
        for n in range(t):
            got = merkle.prove_record(t, n, LOG.read)
            assert got == path(n, 0, t), (t, n)
            assert len(got) == merkle.inclusion_proof_size(t, n)
            merkle.check_record(got, t, root, n, mth(n, n + 1))
        for m in range(1, t + 1):
            got = merkle.prove_tree(t, m, LOG.read)
            assert got == proof(m, t), (t, m)
            assert len(got) == merkle.consistency_proof_size(t, m)
            merkle.check_tree(got, t, root, m, mth(0, m))


def test_proofs_read_a_logarithmic_number_of_stored_hashes():
    for t in range(1, 65):
        bound = 2 * math.ceil(math.log2(t)) + 1 if t > 1 else 1
        for n in range(t):
            LOG.reads.clear()
            merkle.prove_record(t, n, LOG.read)
            assert sum(LOG.reads) <= bound, (t, n, LOG.reads)
        for m in range(1, t + 1):
            LOG.reads.clear()
            merkle.prove_tree(t, m, LOG.read)
            assert sum(LOG.reads) <= bound, (t, m, LOG.reads)
        LOG.reads.clear()
        merkle.tree_hash(t, LOG.read)
        assert LOG.reads == [bin(t).count("1")]


def test_stored_hash_index_is_dense_and_invertible():
    assert [merkle.stored_hash_index(0, n) for n in range(8)] == [0, 1, 3, 4, 7, 8, 10, 11]
    assert [merkle.stored_hash_index(1, n) for n in range(4)] == [2, 5, 9, 12]
    assert merkle.stored_hash_index(3, 0) == 14
    for index in range(len(LOG.store)):
        level, n = merkle.split_stored_hash_index(index)
        assert merkle.stored_hash_index(level, n) == index
        assert LOG.store[index] == mth(n << level, (n + 1) << level)
    assert merkle.stored_hash_count(64) == len(LOG.store) == 127


def test_compact_range_appends_exactly_the_stored_hashes():
    compact = merkle.CompactRange()
    for n in range(64):
        created = compact.append(merkle.leaf_hash(DATA[n]))
        start = merkle.stored_hash_index(0, n)
        assert created == LOG.store[start : start + len(created)]
    assert compact == merkle.CompactRange.from_stored(64, LOG.read)


def test_compact_range_serialisation_round_trips_and_is_canonical():
    compact = merkle.CompactRange.from_stored(45, LOG.read)  # 45 = 0b101101: four subtrees
    data = compact.to_bytes()
    assert data[:8] == (45).to_bytes(8, "big") and len(data) == 8 + 4 * 32
    assert merkle.CompactRange.from_bytes(data) == compact
    assert merkle.CompactRange.from_bytes(data).root() == mth(0, 45)
    with pytest.raises(InputError, match="needs 128 bytes of hashes, has 96"):
        merkle.CompactRange.from_bytes(data[:-32])
    with pytest.raises(InputError, match="needs 128 bytes of hashes, has 129"):
        merkle.CompactRange.from_bytes(data + b"\x00")
    with pytest.raises(InputError, match="needs 96 bytes"):
        merkle.CompactRange.from_bytes((44).to_bytes(8, "big") + data[8:])


# --- refusals --------------------------------------------------------------------------------


def test_prove_record_refuses_an_index_outside_the_tree():
    with pytest.raises(InputError, match="there is no record 8 in a tree of size 8"):
        merkle.prove_record(8, 8, LOG.read)


def test_prove_tree_refuses_the_empty_tree_and_a_larger_old_size():
    with pytest.raises(InputError, match="need 0 < 0 <= 8"):
        merkle.prove_tree(8, 0, LOG.read)
    with pytest.raises(InputError, match="need 0 < 9 <= 8"):
        merkle.prove_tree(8, 9, LOG.read)


def test_reader_returning_too_few_hashes_is_a_storage_error():
    with pytest.raises(StorageError, match="returned 1 hashes for 3 indexes"):
        merkle.prove_record(8, 0, lambda indexes: [b"\x00" * 32])


def test_reader_returning_a_short_hash_is_a_storage_error():
    with pytest.raises(StorageError, match="stored hash 0 is not 32 bytes"):
        merkle.tree_hash(1, lambda indexes: [b"\x00"])


def test_inclusion_of_a_substituted_event_is_refused_naming_both_roots():
    t, n = 13, 6
    got = merkle.prove_record(t, n, LOG.read)
    with pytest.raises(VerificationFailed, match=f"leads to root .*not the tree of size 13's root {mth(0, t).hex()[:16]}"):
        merkle.check_record(got, t, mth(0, t), n, merkle.leaf_hash(event_hash(99)))


def test_inclusion_proof_of_wrong_length_is_refused_before_hashing():
    got = merkle.prove_record(13, 6, LOG.read)
    with pytest.raises(VerificationFailed, match="has 5 hashes, not 4"):
        merkle.check_record(got + [got[0]], 13, mth(0, 13), 6, mth(6, 7))


def test_a_rewritten_history_fails_consistency_naming_the_old_root():
    # A log that rewrote event 2 after a checkpoint at size 5 cannot prove it extends it.
    rewritten = Log(0)
    for n in range(9):
        rewritten.store.extend(
            merkle.stored_hashes(n, event_hash(99) if n == 2 else DATA[n], rewritten.read)
        )
    new_root = merkle.tree_hash(9, rewritten.read)
    got = merkle.prove_tree(9, 5, rewritten.read)
    with pytest.raises(VerificationFailed, match=f"gives old root .*not {mth(0, 5).hex()[:16]}"):
        merkle.check_tree(got, 9, new_root, 5, mth(0, 5))


def test_same_size_different_roots_is_reported_as_a_fork():
    with pytest.raises(VerificationFailed, match="two trees of size 7 have different roots.*forked"):
        merkle.check_tree([], 7, mth(0, 7), 7, mth(0, 6))


def test_consistency_from_the_empty_tree_is_refused():
    with pytest.raises(VerificationFailed, match="need 0 < 0 <= 4"):
        merkle.check_tree([], 4, mth(0, 4), 0, merkle.EMPTY_ROOT)
