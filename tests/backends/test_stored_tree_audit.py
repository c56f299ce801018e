"""`verify` holds the stored Merkle tree (what proofs, receipts and checkpoints are read from)
against the tree it recomputes from the events, on both backends: one edited, missing or
extra row of the tree's tables is a ROOT_MISMATCH naming the stored tree and the first
differing index."""

from __future__ import annotations

import pytest

from ledger.application.custody import open_ledger
from ledger.tlog import merkle
from ledger.core.findings import Finding
from tests.backends.test_log_tamper import sql
from tests.backends.verifying import verified
from tests.conftest import World


def findings(db: str) -> list[Finding]:
    return verified(db)


def tables(raw) -> tuple[str, str]:
    prefix = "custody_" if raw.postgres else ""
    return f"{prefix}tree_hashes", f"{prefix}tree_leaves"


def closed(day: World) -> str:
    db = str(day.db)
    day.app.close()
    return db


def test_an_untouched_stored_tree_is_intact(day: World) -> None:
    assert findings(closed(day)) == []


def test_one_edited_stored_hash_is_a_root_mismatch_at_its_index(day: World, raw) -> None:
    hashes, _ = tables(raw)
    db = closed(day)
    index = merkle.stored_hash_index(1, 3)  # the node over leaves 6 and 7
    (before,) = sql(db, f"SELECT hash FROM {hashes} WHERE idx = ?", (index,))[0]
    sql(db, f"UPDATE {hashes} SET hash = ? WHERE idx = ?", (b"\x07" * 32, index))
    (finding,) = findings(db)
    assert finding.code == "ROOT_MISMATCH"
    assert "the stored tree" in finding.message and f"hash {index} " in finding.message
    assert finding.evidence["source"] == "the stored tree"
    assert finding.evidence["index"] == index
    assert (finding.evidence["level"], finding.evidence["n"]) == (1, 3)
    assert finding.evidence["stored"] == "07" * 32
    assert finding.evidence["recomputed"] == bytes(before).hex()
    assert finding.evidence["leaf"] == 7
    assert finding.position == raw.positions()[7]


def test_a_stored_hash_deleted_is_a_root_mismatch_naming_it(day: World, raw) -> None:
    hashes, _ = tables(raw)
    db = closed(day)
    sql(db, f"DELETE FROM {hashes} WHERE idx = ?", (5,))
    (finding,) = findings(db)
    assert finding.code == "ROOT_MISMATCH"
    assert "lacks hash 5" in finding.message
    assert finding.evidence["index"] == 5 and finding.evidence["stored"] is None


def test_a_stored_hash_added_past_the_log_is_a_root_mismatch(day: World, raw) -> None:
    hashes, _ = tables(raw)
    db = closed(day)
    beyond = merkle.stored_hash_count(raw.count())
    sql(db, f"INSERT INTO {hashes} (idx, hash) VALUES (?, ?)", (beyond, b"\x01" * 32))
    (finding,) = findings(db)
    assert finding.code == "ROOT_MISMATCH"
    assert finding.evidence["index"] == beyond and finding.evidence["recomputed"] is None


def test_the_last_leaf_dropped_from_the_stored_tree_is_a_root_mismatch(day: World,
                                                                        raw) -> None:
    hashes, leaves = tables(raw)
    db = closed(day)
    last = raw.count() - 1
    sql(db, f"DELETE FROM {hashes} WHERE idx >= ?", (merkle.stored_hash_index(0, last),))
    sql(db, f"DELETE FROM {leaves} WHERE leaf = ?", (last,))
    (finding,) = findings(db)
    assert finding.code == "ROOT_MISMATCH"
    assert finding.evidence["leaf"] == last and finding.evidence["stored"] is None
    assert finding.position == raw.positions()[-1]


def test_a_leaf_pointed_at_another_event_is_a_root_mismatch(day: World, raw) -> None:
    _, leaves = tables(raw)
    db = closed(day)
    positions = raw.positions()
    sql(db, f"UPDATE {leaves} SET position = ? WHERE leaf = 4", (positions[5],))
    (finding,) = findings(db)
    assert finding.code == "ROOT_MISMATCH"
    assert finding.evidence == {"source": "the stored tree", "leaf": 4,
                                "position": positions[4], "stored_position": positions[5]}


def test_an_empty_stored_tree_is_a_warning_until_the_next_write_rebuilds_it(
        day: World, raw) -> None:
    hashes, leaves = tables(raw)
    db = str(day.db)
    day.app.close()
    sql(db, f"DELETE FROM {hashes}")
    sql(db, f"DELETE FROM {leaves}")
    found = findings(db)
    assert [(f.code, f.severity.value) for f in found] == [("TREE_NOT_BUILT", "warning")]
    day.app = open_ledger(db, clock=day.clock)
    day.register("LOT-3")  # the write backfills the whole tree
    assert findings(closed(day)) == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL's types refuse it
def test_stored_tree_values_of_the_wrong_type_are_a_root_mismatch(day: World, raw) -> None:
    """SQLite keeps whatever type is written into a column: text in place of a hash or of a
    leaf's position is a difference reported with its evidence, not a crash."""
    hashes, leaves = tables(raw)
    db = closed(day)
    sql(db, f"UPDATE {hashes} SET hash = ? WHERE idx = ?", ("not a hash", 0))
    (finding,) = findings(db)
    assert (finding.code, finding.evidence["index"]) == ("ROOT_MISMATCH", 0)
    assert finding.evidence["stored"] == "'not a hash'"
    assert "'not a hash'" in finding.message
    sql(db, f"UPDATE {hashes} SET hash = ? WHERE idx = ?",
        (bytes.fromhex(finding.evidence["recomputed"]), 0))
    sql(db, f"UPDATE {leaves} SET position = ? WHERE leaf = 4", ("four",))
    (finding,) = findings(db)
    assert finding.code == "ROOT_MISMATCH"
    assert finding.evidence["stored_position"] == "'four'"
    assert finding.evidence["position"] == raw.positions()[4]
