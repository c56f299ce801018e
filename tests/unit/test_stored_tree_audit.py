"""StoredTreeAudit, pure: a stored tree (hashes and leaf rows, as iterators) held against
the tree recomputed leaf by leaf; the first difference is one ROOT_MISMATCH."""

from __future__ import annotations

import hashlib

from ledger.tlog import merkle
from ledger.verify.log import StoredTreeAudit

SIZE = 13


def honest(size: int = SIZE) -> tuple[list[tuple[int, bytes]], list[tuple[int, int]],
                                      list[bytes]]:
    """(stored hashes, leaf rows at positions 1.., event hashes) of a log of ``size``."""
    events = [hashlib.sha256(bytes([n])).digest() for n in range(size)]
    tree, hashes = merkle.CompactRange(), []
    for event in events:
        start = merkle.stored_hash_index(0, tree.size)
        hashes += [(start + i, h) for i, h in enumerate(tree.append(merkle.leaf_hash(event)))]
    return hashes, [(n, n + 1) for n in range(size)], events


def audit(hashes, leaves, events, since=None, grew=False):
    check = StoredTreeAudit(iter(hashes), iter(leaves), since)
    tree = merkle.CompactRange()
    for n, event in enumerate(events):
        check.add(n, n + 1, tree.append(merkle.leaf_hash(event)))
    return check.findings(len(events), grew)


def test_the_honest_tree_has_no_finding() -> None:
    assert audit(*honest()) == []


def test_a_changed_hash_names_its_index_and_both_values() -> None:
    hashes, leaves, events = honest()
    index = merkle.stored_hash_index(2, 1)  # the node over leaves 4..7, made by leaf 7
    old = dict(hashes)[index]
    hashes = [(i, b"\x00" * 32 if i == index else h) for i, h in hashes]
    (finding,) = audit(hashes, leaves, events)
    assert finding.code == "ROOT_MISMATCH" and finding.position == 8
    assert finding.evidence == {"source": "the stored tree", "index": index, "level": 2,
                                "n": 1, "leaf": 7, "recomputed": old.hex(),
                                "stored": "00" * 32}


def test_a_rewritten_event_is_found_against_the_tree_stored_before() -> None:
    hashes, leaves, events = honest()
    events[3] = hashlib.sha256(b"rewritten").digest()
    (finding,) = audit(hashes, leaves, events)
    assert (finding.code, finding.evidence["leaf"], finding.position) == ("ROOT_MISMATCH", 3, 4)


def test_missing_and_extra_rows_and_a_moved_leaf() -> None:
    hashes, leaves, events = honest()
    (missing,) = audit(hashes[:5] + hashes[6:], leaves, events)
    assert (missing.evidence["index"], missing.evidence["stored"]) == (5, None)
    extra = merkle.stored_hash_count(SIZE)
    (more,) = audit(hashes + [(extra, b"\x01" * 32)], leaves, events)
    assert (more.evidence["index"], more.evidence["recomputed"], more.position) == (
        extra, None, None)
    (leaf,) = audit(hashes, leaves + [(SIZE, 99)], events)
    assert leaf.evidence == {"source": "the stored tree", "leaf": SIZE, "stored_position": 99,
                             "position": None}
    moved = [(n, 50 if n == 6 else p) for n, p in leaves]
    (finding,) = audit(hashes, moved, events)
    assert finding.evidence == {"source": "the stored tree", "leaf": 6, "position": 7,
                                "stored_position": 50}


def test_rows_past_the_end_are_new_events_when_the_log_grew_during_the_run() -> None:
    hashes, leaves, events = honest(SIZE + 1)
    assert audit(hashes, leaves, events[:SIZE], grew=True) == []
    assert [f.code for f in audit(hashes, leaves, events[:SIZE])] == ["ROOT_MISMATCH"]


def test_an_empty_tree_is_a_warning_and_since_hides_an_earlier_difference() -> None:
    _, _, events = honest()
    (empty,) = audit([], [], events)
    assert (empty.code, empty.severity.value) == ("TREE_NOT_BUILT", "warning")
    hashes, leaves, events = honest()
    hashes = [(i, b"\x00" * 32 if i == 4 else h) for i, h in hashes]  # leaf 3, position 4
    assert audit(hashes, leaves, events, since=5) == []
    assert len(audit(hashes, leaves, events, since=4)) == 1
