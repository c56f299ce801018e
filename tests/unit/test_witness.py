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


# --- c2sp.org/tlog-witness: the request, the answers, the rule -------------------------------

from ledger.core.errors import NonCanonical  # noqa: E402
from ledger.tlog.witness import (  # noqa: E402
    AddCheckpoint,
    InconsistentProof,
    StaleSize,
    check_submission,
    format_size,
    parse_cosignature_lines,
    parse_size,
)

NOTE = b"log\n3\n" + b"x" * 44 + b"\n\n\xe2\x80\x94 log AAAA\n"


def test_an_add_checkpoint_body_is_the_specs_lines_and_parses_back() -> None:
    body = AddCheckpoint(2, (L[2],), NOTE).format()
    import base64
    assert body == b"old 2\n" + base64.b64encode(L[2]) + b"\n\n" + NOTE
    assert AddCheckpoint.parse(body) == AddCheckpoint(2, (L[2],), NOTE)
    assert AddCheckpoint.parse(b"old 0\n\n" + NOTE) == AddCheckpoint(0, (), NOTE)


@pytest.mark.parametrize("body", [
    b"old 02\n\n" + NOTE,                     # leading zero
    b"old -1\n\n" + NOTE,
    b"old  2\n\n" + NOTE,
    b"Old 2\n\n" + NOTE,
    b"old 2\n" + NOTE,                        # no blank line before the checkpoint
    b"old 2\nnot base64\n\n" + NOTE,
    b"old 2\n" + b"AAAA\n\n" + NOTE,          # a proof line that is not 32 bytes
    b"old 2\n\n",                             # no checkpoint
    b"old 2\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + b"\n" + NOTE,
    b"old 18446744073709551616\n\n" + NOTE,   # 2**64
    b"old 2\xff\n\n" + NOTE,
])
def test_a_malformed_add_checkpoint_body_is_refused(body: bytes) -> None:
    with pytest.raises(InputError):
        AddCheckpoint.parse(body)


def test_the_409_body_and_the_200_body_parse_strictly() -> None:
    assert format_size(20852014) == b"20852014\n" and parse_size(b"20852014\n") == 20852014
    for bad in (b"12", b"012\n", b"12\n\n", b" 12\n", b"1" * 30 + b"\n"):
        with pytest.raises(NonCanonical):
            parse_size(bad)
    # The spec's example response: three signature lines.
    body = ("— witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVj"
            "yQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n"
            "— witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbY"
            "KA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n").encode()
    assert [s.name for s in parse_cosignature_lines(body)] == ["witness.example/w1",
                                                               "witness.example/w2"]
    for bad in (b"", body[:-1], b"hello\n", body + b"\n"):
        with pytest.raises(NonCanonical):
            parse_cosignature_lines(bad)


def test_the_submission_rule_in_the_specs_order() -> None:
    with pytest.raises(InputError, match="old size 4 is larger than the checkpoint's size 3"):
        check_submission(cp(2, ROOT2), cp(3, ROOT3), 4, [])
    with pytest.raises(StaleSize) as stale:
        check_submission(cp(2, ROOT2), cp(3, ROOT3), 1, [L[2]])
    assert stale.value.size == 2
    with pytest.raises(StaleSize) as stale:
        check_submission(None, cp(3, ROOT3), 2, [L[2]])
    assert stale.value.size == 0
    check_submission(None, cp(3, ROOT3), 0, [])       # the first one, on trust
    with pytest.raises(InconsistentProof, match="from size 0 must be empty"):
        check_submission(None, cp(3, ROOT3), 0, [L[2]])
    check_submission(cp(2, ROOT2), cp(3, ROOT3), 2, [L[2]])
    with pytest.raises(InconsistentProof, match="does not extend the one of size 2"):
        check_submission(cp(2, ROOT2), cp(3, ROOT3), 2, [L[1]])
    check_submission(cp(2, ROOT2), cp(2, ROOT2), 2, [])  # the same again: cosigned again
    with pytest.raises(Fork) as fork:
        check_submission(cp(2, ROOT2), cp(2, ROOT3), 2, [])
    assert not isinstance(fork.value, InconsistentProof)
