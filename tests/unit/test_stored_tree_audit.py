"""StoredTreeAudit, pure: a stored tree (hashes and leaf rows, as iterators) held against
the tree recomputed leaf by leaf; the first difference is one ROOT_MISMATCH."""

from __future__ import annotations

import hashlib

import pytest

from ledger.tlog import merkle
from ledger.verify.log import LogAudit, StoredTreeAudit

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


def audit_by(page):
    """The audit of a log's ``events`` against a stored tree, fed leaf by leaf (``add``:
    ``page`` None) or ``page`` leaves at a time (``add_page``, as the verifier feeds it)."""
    def audit(hashes, leaves, events, since=None, grew=False):
        check = StoredTreeAudit(iter(hashes), iter(leaves), since)
        tree = merkle.CompactRange()
        if page is None:
            for n, event in enumerate(events):
                check.add(n, n + 1, tree.append(merkle.leaf_hash(event)))
            return check.findings(len(events), grew)
        for at in range(0, len(events), page):
            chunk = events[at:at + page]
            check.add_page(at, [n + 1 for n in range(at, at + len(chunk))],
                           tree.extend([merkle.leaf_hash(event) for event in chunk]))
        return check.findings(len(events), grew)
    return audit


@pytest.fixture(params=[None, 1, 3, 4, 64], ids=lambda p: f"page={p}")
def audit(request):
    """Every test runs leaf by leaf and in pages: a difference at a page's start, in its
    middle, at its end, and a page longer than the log, all give the same one finding."""
    return audit_by(request.param)


def test_the_honest_tree_has_no_finding(audit) -> None:
    assert audit(*honest()) == []


def test_a_changed_hash_names_its_index_and_both_values(audit) -> None:
    hashes, leaves, events = honest()
    index = merkle.stored_hash_index(2, 1)  # the node over leaves 4..7, made by leaf 7
    old = dict(hashes)[index]
    hashes = [(i, b"\x00" * 32 if i == index else h) for i, h in hashes]
    (finding,) = audit(hashes, leaves, events)
    assert finding.code == "ROOT_MISMATCH" and finding.position == 8
    assert finding.evidence == {"source": "the stored tree", "index": index, "level": 2,
                                "n": 1, "leaf": 7, "recomputed": old.hex(),
                                "stored": "00" * 32}


def test_a_rewritten_event_is_found_against_the_tree_stored_before(audit) -> None:
    hashes, leaves, events = honest()
    events[3] = hashlib.sha256(b"rewritten").digest()
    (finding,) = audit(hashes, leaves, events)
    assert (finding.code, finding.evidence["leaf"], finding.position) == ("ROOT_MISMATCH", 3, 4)


def test_missing_and_extra_rows_and_a_moved_leaf(audit) -> None:
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


def test_rows_past_the_end_are_new_events_when_the_log_grew_during_the_run(audit) -> None:
    hashes, leaves, events = honest(SIZE + 1)
    assert audit(hashes, leaves, events[:SIZE], grew=True) == []
    assert [f.code for f in audit(hashes, leaves, events[:SIZE])] == ["ROOT_MISMATCH"]


def test_an_empty_tree_is_a_warning_and_since_hides_an_earlier_difference(audit) -> None:
    _, _, events = honest()
    (empty,) = audit([], [], events)
    assert (empty.code, empty.severity.value) == ("TREE_NOT_BUILT", "warning")
    hashes, leaves, events = honest()
    hashes = [(i, b"\x00" * 32 if i == 4 else h) for i, h in hashes]  # leaf 3, position 4
    assert audit(hashes, leaves, events, since=5) == []
    assert len(audit(hashes, leaves, events, since=4)) == 1


def tree_head(events: list[bytes]) -> bytes:
    """RFC 9162's MTH, by its recursive definition: a reference for the roots noted."""
    if len(events) == 1:
        return merkle.leaf_hash(events[0])
    k = 1 << (len(events) - 1).bit_length() - 1
    return merkle.node_hash(tree_head(events[:k]), tree_head(events[k:]))


@pytest.mark.parametrize("page", [1, 3, 4, 64])
def test_a_page_notes_the_roots_and_event_hashes_the_evidence_asks_for_within_it(page):
    """LogAudit fed in pages notes the root at every size a checkpoint names and the event
    hash at every index a receipt names, wherever they fall in a page."""
    _, _, events = honest()
    log = LogAudit()
    log.want_roots |= {1, 4, 5, 8, SIZE}
    log.want_leaves |= {0, 3, 4, 12}
    for at in range(0, SIZE, page):
        chunk = events[at:at + page]
        log.add_page(chunk, [None] * len(chunk), list(range(at + 1, at + 1 + len(chunk))),
                     ["lot:A"] * len(chunk))
    assert log.roots == {0: merkle.EMPTY_ROOT, **{size: tree_head(events[:size])
                                                   for size in (1, 4, 5, 8, SIZE)}}
    assert log.leaves == {index: events[index] for index in (0, 3, 4, 12)}
    assert log.size == SIZE and log.root() == tree_head(events)
