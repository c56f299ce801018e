"""The witness's pure checks: advancing from the last cosigned checkpoint, and the windows."""

from __future__ import annotations

import hashlib

import pytest

from ledger.tlog.checkpoint import Checkpoint
from ledger.core.errors import InputError
from ledger.tlog.merkle import leaf_hash, node_hash
from ledger.tlog.witness import Fork, WitnessWindows, check_advance, parse_consistency

L = [leaf_hash(hashlib.sha256(bytes([i])).digest()) for i in range(3)]
ROOT1 = L[0]
ROOT2 = node_hash(L[0], L[1])
ROOT3 = node_hash(ROOT2, L[2])


def cp(size: int, root: bytes) -> Checkpoint:
    return Checkpoint("log", size, root)


def test_a_consistent_advance_passes_and_a_rewritten_one_is_a_fork() -> None:
    check_advance(cp(2, ROOT2), cp(3, ROOT3), (2, 3, [L[2]]))
    with pytest.raises(Fork, match="does not extend the one of size 2"):
        check_advance(cp(2, ROOT2), cp(3, ROOT3), (2, 3, [L[1]]))


def test_the_same_size_with_another_root_is_a_fork_without_any_proof() -> None:
    check_advance(cp(2, ROOT2), cp(2, ROOT2), None)
    with pytest.raises(Fork, match="the one cosigned at that size has root"):
        check_advance(cp(2, ROOT2), cp(2, ROOT3), None)


def test_an_older_checkpoint_or_a_proof_for_other_sizes_is_a_usage_error() -> None:
    with pytest.raises(InputError, match="is older than the one of size 3"):
        check_advance(cp(3, ROOT3), cp(2, ROOT2), None)
    with pytest.raises(InputError, match="goes from size 1 to 3, not from 2 to 3"):
        check_advance(cp(2, ROOT2), cp(3, ROOT3), (1, 3, [L[2]]))
    with pytest.raises(InputError, match="needs a consistency proof"):
        check_advance(cp(2, ROOT2), cp(3, ROOT3), None)


def test_a_proof_file_that_is_not_prove_consistency_json_is_refused() -> None:
    good = {"old_size": 2, "new_size": 3, "old_root": ROOT2.hex(), "new_root": ROOT3.hex(),
            "proof": [L[2].hex()]}
    assert parse_consistency(good) == (2, 3, [L[2]])
    for bad in ({**good, "extra": 1}, {**good, "old_size": True}, {**good, "proof": ["zz"]},
                {**good, "proof": [L[2].hex().upper()]}):
        with pytest.raises(InputError):
            parse_consistency(bad)


def test_windows_bound_each_leaf_by_the_checkpoints_before_and_after_it() -> None:
    windows = WitnessWindows([(2, 100, "A"), (5, 200, "B")])
    assert windows.outside(0, 100) is None            # held by size 2, cosigned at 100
    assert windows.outside(1, 101) == ("after", 2, 100, "A")
    assert windows.outside(2, 99) == ("before", 2, 100, "A")
    assert windows.outside(3, 150) is None
    assert windows.outside(4, 201) == ("after", 5, 200, "B")
    assert windows.outside(5, 199) == ("before", 5, 200, "B")
    assert windows.outside(9, 10**10) is None         # after every cosigned checkpoint
    assert not WitnessWindows([])
