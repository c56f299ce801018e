"""The Merkle tree is stored with the events, in the same transaction, on both backends."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing

import psycopg
import pytest

from ledger.application.custody import open_ledger
from ledger.application.submitting import _event
from ledger.tlog import merkle
from ledger.core.digests import event_hash_of_bytes
from ledger.storage.recorders import HeadMoved
from tests.conftest import World


def rfc9162_root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1, written out recursively, independent of ledger.core."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc9162_root(leaves[:k]) + rfc9162_root(leaves[k:])).digest()


def event_hashes(raw) -> list[bytes]:
    rows = raw._query(f"SELECT state FROM {raw.table} ORDER BY {raw.position_column}")
    return [event_hash_of_bytes(bytes(r[0])) for r in rows]


def stored_root(app) -> tuple[int, bytes]:
    size = app.recorder.tree_size()
    return size, merkle.tree_hash(size, app.recorder.tree_hashes)


def drop_tree(db: str) -> None:
    names = ["tree_hashes", "tree_leaves", "checkpoints"]
    if db.startswith("postgresql://"):
        with closing(psycopg.connect(db, autocommit=True)) as c:
            for n in names:
                c.execute(f"DROP TABLE custody_{n}")
    else:
        with closing(sqlite3.connect(db)) as c, c:
            for n in names:
                c.execute(f"DROP TABLE {n}")


def test_every_event_is_a_leaf_in_log_order_with_the_rfc9162_root(day: World, raw) -> None:
    size, root = stored_root(day.app)
    assert size == raw.count() == 17
    assert root == rfc9162_root(event_hashes(raw))
    recorder = day.app.recorder
    assert [recorder.leaf_position(i) for i in range(size)] == raw.positions()
    assert recorder.position_leaf(raw.positions()[5]) == 5
    assert recorder.position_leaf(10_000) is None


def test_an_append_refused_for_a_moved_head_leaves_the_tree_as_it_was(day: World, raw) -> None:
    before = stored_root(day.app)
    state, head = day.app.state(["lot:LOT-1"])
    with pytest.raises(HeadMoved):
        # Another writer's step, judged against an older head: nothing of it is written.
        body = day.app.draft_step("lot:LOT-9", "lot.registered", {
            "lot": {"id": "LOT-9", "exam": "e", "subject": "s", "kind": "question_paper",
                    "count": 1, "seals": ["S-1"]}, "holder": "STF-01"}, "here",
            ["STF-01"], day.clock.now)
        event = _event(body, {}, day.clock.now)
        day.app.events.put([event], expected_head=head - 1)
    assert stored_root(day.app) == before
    assert raw.count() == 17


def test_a_ledger_without_the_tree_is_backfilled_on_its_next_write(day: World, raw) -> None:
    db = str(day.db)
    day.app.close()
    drop_tree(db)
    reader = open_ledger(db, read_only=True)
    assert not reader.recorder.has_tree()  # a read command never creates it
    reader.close()
    assert not open_ledger(db, read_only=True).recorder.has_tree()
    day.app = open_ledger(db, clock=day.clock)
    day.register("LOT-3")
    size, root = stored_root(day.app)
    assert size == raw.count() == 18
    assert root == rfc9162_root(event_hashes(raw))


def test_proofs_from_the_stored_tree_check_against_its_root(day: World, raw) -> None:
    day_raw = raw
    recorder = day.app.recorder
    size, root = stored_root(day.app)
    for n in range(size):
        proof = merkle.prove_record(size, n, recorder.tree_hashes)
        leaf = merkle.leaf_hash(event_hashes(day_raw)[n])
        merkle.check_record(proof, size, root, n, leaf)
    for old in range(1, size + 1):
        proof = merkle.prove_tree(size, old, recorder.tree_hashes)
        merkle.check_tree(proof, size, root, old, merkle.tree_hash(old, recorder.tree_hashes))
