"""The global log's Merkle tree: RFC 9162 hashing, stored hashes, proofs — pure maths.

Every event, in append order, is a leaf of one Merkle tree hashed as RFC 9162 §2.1 (the same
as Certificate Transparency, RFC 6962): a leaf's data is the event's 32-byte event hash, a
leaf hash is SHA-256(0x00 ‖ data) and an interior node is SHA-256(0x01 ‖ left ‖ right).

The functions follow Go's ``golang.org/x/mod/sumdb/tlog`` closely so that they can be read
side by side with it. Nothing here touches storage: the hashes a log keeps are addressed by
a *stored hash index* (Crosby and Wallach's ordering, §3.3 of "Efficient Data Structures for
Tamper-Evident Logging"), and every function that needs earlier hashes takes a *reader*: a
callable given a list of stored hash indexes that returns their 32-byte hashes, in order.
Proofs and roots read O(log n) stored hashes.

:class:`CompactRange` is the other way to hold a tree: only its right edge (one hash per set
bit of the size), extended leaf by leaf or a page of leaves at a time — what a verifier
streaming the whole log keeps in memory to recompute a root it can compare with a checkpoint.

Checks raise :class:`VerificationFailed` naming what did not match; they never return False.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

from ledger.core.errors import InputError, StorageError, VerificationFailed

HASH_SIZE = 32
# RFC 9162 §2.1.1: the hash of the empty tree is the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

Reader = Callable[[list[int]], Sequence[bytes]]
"""Given stored hash indexes, return their hashes in the same order (``ReadHashes`` in Go)."""


def leaf_hash(data: bytes) -> bytes:
    """Return the leaf hash SHA-256(0x00 ‖ data) of an event hash ``data`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash SHA-256(0x01 ‖ left ‖ right), RFC 9162 §2.1.1."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _trailing_zeros(x: int) -> int:
    return (x & -x).bit_length() - 1


def _maxpow2(n: int) -> tuple[int, int]:
    """Return (k, log2 k) for k the largest power of two smaller than ``n`` (n >= 2)."""
    level = (n - 1).bit_length() - 1
    return 1 << level, level


# --- stored hash index (Crosby & Wallach §3.3; tlog.StoredHashIndex) -------------------------


def stored_hash_index(level: int, n: int) -> int:
    """Map tree coordinates (level, n) — the n-th hash at that level — to its stored hash index.

    Leaf n's hash is written, followed by the hashes of the subtrees leaf n completes, so the
    hashes of a log of any size form one dense, append-only sequence.
    """
    if level < 0 or n < 0:
        raise InputError(f"no stored hash at level {level}, index {n}")
    # Level L's n-th hash is written right after level L+1's (2n+1)-th hash.
    for _ in range(level):
        n = 2 * n + 1
    # Level 0's n-th hash is written at n + n/2 + n/4 + ... (until n/2^i is zero).
    index = 0
    while n > 0:
        index += n
        n >>= 1
    return index + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """Return the (level, n) that :func:`stored_hash_index` maps to ``index``: its inverse."""
    if index < 0:
        raise InputError(f"no stored hash at index {index}")
    # stored_hash_index(0, n) < 2n, so the record we want is in [index/2, index/2 + log2 index].
    n = index // 2
    index_n = stored_hash_index(0, n)
    while True:
        # Each record n adds 1 + trailing_zeros(n+1) hashes.
        following = index_n + 1 + _trailing_zeros(n + 1)
        if following > index:
            break
        n += 1
        index_n = following
    # The hash we want was committed with record n: it is one of (0, n), (1, n/2), (2, n/4)...
    level = index - index_n
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """Return how many stored hashes a log of ``n`` records has."""
    if n == 0:
        return 0
    count = stored_hash_index(0, n - 1) + 1
    # ... plus the hashes of the subtrees completed by the last record.
    i = n - 1
    while i & 1:
        count += 1
        i >>= 1
    return count


def _read(reader: Reader, indexes: list[int]) -> list[bytes]:
    if not indexes:
        return []
    hashes = list(reader(indexes))
    if len(hashes) != len(indexes):
        raise StorageError(f"hash reader returned {len(hashes)} hashes for {len(indexes)} indexes")
    for index, value in zip(indexes, hashes):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise StorageError(f"stored hash {index} is not {HASH_SIZE} bytes")
    return hashes


def stored_hashes(n: int, data: bytes, reader: Reader) -> list[bytes]:
    """Return the hashes to store when appending record ``n`` whose leaf data is ``data``.

    ``data`` is the record itself — in this ledger the 32-byte event hash — and is hashed as a
    leaf here. The hashes go at stored indexes ``stored_hash_index(0, n)`` onwards; there are
    1 + trailing_ones(n) of them (two on average). ``reader`` supplies the up to log2(n)
    earlier hashes needed for the subtrees this record completes.
    """
    return stored_hashes_for_leaf_hash(n, leaf_hash(data), reader)


def stored_hashes_for_leaf_hash(n: int, leaf: bytes, reader: Reader) -> list[bytes]:
    """Like :func:`stored_hashes`, given the leaf hash instead of the leaf data."""
    if n < 0:
        raise InputError(f"record number {n} is negative")
    # Each trailing 1 bit of n completes a subtree whose left half is already stored.
    m = _trailing_zeros(n + 1)
    indexes = [stored_hash_index(i, (n >> i) - 1) for i in reversed(range(m))]  # ascending
    old = _read(reader, indexes)
    hashes = [leaf]
    h = leaf
    for i in range(m):
        h = node_hash(old[m - 1 - i], h)
        hashes.append(h)
    return hashes


# --- tree hash (RFC 9162 §2.1.1; tlog.TreeHash) -----------------------------------------------


def _sub_tree_index(lo: int, hi: int, need: list[int]) -> list[int]:
    """Append the stored indexes needed for the hash of leaves [lo, hi): its perfect subtrees."""
    while lo < hi:
        k, level = _maxpow2(hi - lo + 1)
        assert lo & (k - 1) == 0, "bad math in _sub_tree_index"
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _sub_tree_hash(lo: int, hi: int, hashes: list[bytes]) -> tuple[bytes, list[bytes]]:
    """Fold the perfect-subtree hashes of [lo, hi) (as :func:`_sub_tree_index` listed them)."""
    count = 0
    while lo < hi:
        k, _ = _maxpow2(hi - lo + 1)
        count += 1
        lo += k
    h = hashes[count - 1]
    for i in range(count - 2, -1, -1):
        h = node_hash(hashes[i], h)
    return h, hashes[count:]


def tree_hash(n: int, reader: Reader) -> bytes:
    """Return the root hash of the tree of the first ``n`` records, reading <= 1 + log2 n hashes."""
    if n < 0:
        raise InputError(f"tree size {n} is negative")
    if n == 0:
        return EMPTY_ROOT
    hashes = _read(reader, _sub_tree_index(0, n, []))
    root, rest = _sub_tree_hash(0, n, hashes)
    assert not rest, "bad index math in tree_hash"
    return root


# --- inclusion proofs (RFC 9162 §2.1.3; tlog.ProveRecord, CheckRecord) -----------------------


def _leaf_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    assert lo <= n < hi, "bad math in _leaf_proof_index"
    if lo + 1 == hi:
        return need
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        _leaf_proof_index(lo, lo + k, n, need)
        _sub_tree_index(lo + k, hi, need)
    else:
        _sub_tree_index(lo, lo + k, need)
        _leaf_proof_index(lo + k, hi, n, need)
    return need


def _leaf_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    assert lo <= n < hi, "bad math in _leaf_proof"
    if lo + 1 == hi:
        # The verifier knows the leaf hash, so it is not sent.
        return [], hashes
    # Walk down towards n; record the hash of the path not taken.
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        proof, hashes = _leaf_proof(lo, lo + k, n, hashes)
        other, hashes = _sub_tree_hash(lo + k, hi, hashes)
    else:
        other, hashes = _sub_tree_hash(lo, lo + k, hashes)
        proof, hashes = _leaf_proof(lo + k, hi, n, hashes)
    return proof + [other], hashes


def prove_record(t: int, n: int, reader: Reader) -> list[bytes]:
    """Return the inclusion proof that the tree of size ``t`` holds record ``n`` (RFC 9162 §2.1.3).

    The proof lists sibling hashes from the leaf's upwards, as RFC 9162 and tlog-proof order
    them.
    """
    if not 0 <= n < t:
        raise InputError(f"there is no record {n} in a tree of size {t}")
    hashes = _read(reader, _leaf_proof_index(0, t, n, []))
    proof, rest = _leaf_proof(0, t, n, hashes)
    assert not rest, "bad index math in prove_record"
    return proof


def inclusion_proof_size(t: int, n: int) -> int:
    """Return how many hashes the inclusion proof of record ``n`` in a tree of size ``t`` has."""
    inner = (n ^ (t - 1)).bit_length()
    return inner + bin(n >> inner).count("1")


def _run_record_proof(proof: list[bytes], lo: int, hi: int, n: int, leaf: bytes) -> bytes:
    """Return the root of [lo, hi) implied by ``proof`` (whose length the caller checked)."""
    if lo + 1 == hi:
        return leaf
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        return node_hash(_run_record_proof(proof[:-1], lo, lo + k, n, leaf), proof[-1])
    return node_hash(proof[-1], _run_record_proof(proof[:-1], lo + k, hi, n, leaf))


def _check_proof_hashes(kind: str, proof: Sequence[bytes]) -> list[bytes]:
    proof = list(proof)
    for i, h in enumerate(proof):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            size = len(h) if isinstance(h, bytes) else type(h).__name__
            raise VerificationFailed(f"{kind} proof hash {i} is {size} bytes, not {HASH_SIZE}")
    return proof


def check_record(proof: Sequence[bytes], t: int, root: bytes, n: int, leaf: bytes) -> None:
    """Check that ``proof`` shows the tree (``t``, ``root``) has leaf hash ``leaf`` at index ``n``.

    RFC 9162 §2.1.3.2. Raise :class:`VerificationFailed` naming what does not match.
    """
    if not 0 <= n < t:
        raise VerificationFailed(f"record {n} cannot be in a tree of size {t}")
    if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
        raise VerificationFailed(f"leaf hash is not {HASH_SIZE} bytes")
    proof = _check_proof_hashes("inclusion", proof)
    want = inclusion_proof_size(t, n)
    if len(proof) != want:
        raise VerificationFailed(
            f"inclusion proof of record {n} in a tree of size {t} has {len(proof)} hashes, "
            f"not {want}"
        )
    computed = _run_record_proof(proof, 0, t, n, leaf)
    if computed != root:
        raise VerificationFailed(
            f"inclusion proof of record {n} leads to root {computed.hex()[:16]}…, "
            f"not the tree of size {t}'s root {bytes(root).hex()[:16]}…"
        )


# --- consistency proofs (RFC 9162 §2.1.4; tlog.ProveTree, CheckTree) -------------------------


def _tree_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    assert lo < n <= hi, "bad math in _tree_proof_index"
    if n == hi:
        return need if lo == 0 else _sub_tree_index(lo, hi, need)
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        _tree_proof_index(lo, lo + k, n, need)
        _sub_tree_index(lo + k, hi, need)
    else:
        _sub_tree_index(lo, lo + k, need)
        _tree_proof_index(lo + k, hi, n, need)
    return need


def _tree_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    assert lo < n <= hi, "bad math in _tree_proof"
    if n == hi:
        if lo == 0:
            # This subtree is exactly the old tree, whose hash the verifier knows.
            return [], hashes
        h, hashes = _sub_tree_hash(lo, hi, hashes)
        return [h], hashes
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        proof, hashes = _tree_proof(lo, lo + k, n, hashes)
        other, hashes = _sub_tree_hash(lo + k, hi, hashes)
    else:
        other, hashes = _sub_tree_hash(lo, lo + k, hashes)
        proof, hashes = _tree_proof(lo + k, hi, n, hashes)
    return proof + [other], hashes


def prove_tree(t: int, n: int, reader: Reader) -> list[bytes]:
    """Return the consistency proof that the tree of size ``t`` extends the one of size ``n``.

    RFC 9162 §2.1.4; ``0 < n <= t`` (a proof from the empty tree means nothing).
    """
    if not 0 < n <= t:
        raise InputError(f"no consistency proof from size {n} to size {t}: need 0 < {n} <= {t}")
    hashes = _read(reader, _tree_proof_index(0, t, n, []))
    proof, rest = _tree_proof(0, t, n, hashes)
    assert not rest, "bad index math in prove_tree"
    return proof


def consistency_proof_size(t: int, n: int) -> int:
    """Return how many hashes the consistency proof from size ``n`` to size ``t`` has."""
    if not 0 < n <= t:
        raise InputError(f"no consistency proof from size {n} to size {t}: need 0 < {n} <= {t}")
    # One hash per level _tree_proof walks down, plus the subtree where the walk stops unless
    # that subtree is the old tree itself.
    lo, hi, size = 0, t, 0
    while n != hi:
        k, _ = _maxpow2(hi - lo)
        if n <= lo + k:
            hi = lo + k
        else:
            lo += k
        size += 1
    return size + (lo != 0)


def _run_tree_proof(
    proof: list[bytes], lo: int, hi: int, n: int, old: bytes
) -> tuple[bytes, bytes]:
    """Return the (old, new) hashes of [lo, hi) implied by ``proof`` (length checked by caller)."""
    if n == hi:
        if lo == 0:
            return old, old
        return proof[0], proof[0]
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        old_hash, new_hash = _run_tree_proof(proof[:-1], lo, lo + k, n, old)
        return old_hash, node_hash(new_hash, proof[-1])
    old_hash, new_hash = _run_tree_proof(proof[:-1], lo + k, hi, n, old)
    return node_hash(proof[-1], old_hash), node_hash(proof[-1], new_hash)


def check_tree(proof: Sequence[bytes], t: int, root_t: bytes, n: int, root_n: bytes) -> None:
    """Check that ``proof`` shows the tree (``t``, ``root_t``) extends the tree (``n``, ``root_n``).

    RFC 9162 §2.1.4.2: nothing recorded by size ``n`` was rewritten by size ``t``. Raise
    :class:`VerificationFailed` naming what does not match; two trees of one size with
    different roots are a fork.
    """
    if not 0 < n <= t:
        raise VerificationFailed(
            f"no consistency proof can go from size {n} to size {t}: need 0 < {n} <= {t}"
        )
    proof = _check_proof_hashes("consistency", proof)
    want = consistency_proof_size(t, n)
    if len(proof) != want:
        raise VerificationFailed(
            f"consistency proof from size {n} to size {t} has {len(proof)} hashes, not {want}"
        )
    if n == t:
        if root_n != root_t:
            raise VerificationFailed(
                f"two trees of size {t} have different roots "
                f"{bytes(root_n).hex()[:16]}… and {bytes(root_t).hex()[:16]}…: the log forked"
            )
        return
    old_hash, new_hash = _run_tree_proof(proof, 0, t, n, root_n)
    if old_hash != root_n:
        raise VerificationFailed(
            f"consistency proof from size {n} to size {t} gives old root {old_hash.hex()[:16]}…, "
            f"not {bytes(root_n).hex()[:16]}…"
        )
    if new_hash != root_t:
        raise VerificationFailed(
            f"consistency proof from size {n} to size {t} gives new root {new_hash.hex()[:16]}…, "
            f"not {bytes(root_t).hex()[:16]}…"
        )


# --- compact range: the right edge of a tree ---------------------------------------------------


class CompactRange:
    """The right edge of the tree of ``size`` leaves: one perfect-subtree root per set bit of size.

    Extend it leaf by leaf with :meth:`append` (or many at once with :meth:`extend`) and ask
    for :meth:`root` at any point; memory stays at most 64 hashes however large the log.
    Serialises canonically with :meth:`to_bytes` (8-byte big-endian size, then the subtree
    roots from the largest).
    """

    __slots__ = ("_size", "_hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if not 0 <= size < 1 << 64:
            raise InputError(f"compact range size {size} is out of range")
        hashes = list(hashes)
        if len(hashes) != bin(size).count("1"):
            raise InputError(
                f"a compact range of size {size} has {bin(size).count('1')} hashes, "
                f"not {len(hashes)}"
            )
        for h in hashes:
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise InputError(f"compact range hashes are {HASH_SIZE} bytes each")
        self._size = size
        self._hashes = hashes

    @classmethod
    def from_stored(cls, n: int, reader: Reader) -> "CompactRange":
        """Return the compact range of the first ``n`` records from a log's stored hashes."""
        if n < 0:
            raise InputError(f"tree size {n} is negative")
        return cls(n, _read(reader, _sub_tree_index(0, n, [])))

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect-subtree roots, left to right (largest subtree first)."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[bytes]:
        """Add the next leaf hash; return the hashes a log stores for it (:func:`stored_hashes`)."""
        return self.extend((leaf,))

    def extend(self, leaves: Sequence[bytes]) -> list[bytes]:
        """Add the next leaf hashes in order; return the hashes a log stores for them, in
        stored hash order: each leaf's own, then those of the subtrees it completes. They
        are the stored hashes from index ``stored_hash_index(0, size)`` on, with no gap."""
        if self._size + len(leaves) >= 1 << 64:
            raise InputError("compact range is full")
        hashes, n = self._hashes, self._size
        created: list[bytes] = []
        add = created.append
        try:
            for leaf in leaves:
                if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
                    raise InputError(f"a leaf hash is {HASH_SIZE} bytes")
                add(leaf)
                h, m = leaf, n
                # Each trailing 1 bit of the old size is a subtree the new leaf completes.
                while m & 1:
                    h = node_hash(hashes.pop(), h)
                    add(h)
                    m >>= 1
                hashes.append(h)
                n += 1
        finally:
            self._size = n  # a refused leaf: the range holds the leaves before it
        return created

    def root(self) -> bytes:
        """Return the root hash of the tree of ``size`` leaves (RFC 9162 §2.1.1)."""
        if not self._hashes:
            return EMPTY_ROOT
        h = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> "CompactRange":
        return CompactRange(self._size, self._hashes)

    def to_bytes(self) -> bytes:
        """Return the canonical serialisation: size as 8 bytes big-endian, then the hashes."""
        return self._size.to_bytes(8, "big") + b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> "CompactRange":
        """Parse :meth:`to_bytes` output; any other byte string is refused."""
        if len(data) < 8:
            raise InputError("compact range is shorter than its 8-byte size")
        size = int.from_bytes(data[:8], "big")
        body = data[8:]
        count = bin(size).count("1")
        if len(body) != count * HASH_SIZE:
            raise InputError(
                f"compact range of size {size} needs {count * HASH_SIZE} bytes of hashes, "
                f"has {len(body)}"
            )
        return cls(size, [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()[:16]}…)"
