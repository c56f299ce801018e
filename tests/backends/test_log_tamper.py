"""Completeness: checkpoints and receipts catch what per-lot hash chains cannot, on both
backends — a whole lot deleted and the rows renumbered, a rewritten history, a flipped bit."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from ledger.application.keystore import Signer
from ledger.application.log import TransparencyLog
from ledger.tlog.merkle import stored_hash_index
from ledger.verify.log import Evidence
from tests.backends.verifying import verified
from tests.conftest import AUTHORITY, LEDGER_ID, World, fixed_key

LOG = Signer(LEDGER_ID, fixed_key("LOG"))


def sql(db: str, statement: str, params: tuple = ()) -> list[tuple]:
    if db.startswith("postgresql://"):
        with closing(psycopg.connect(db, autocommit=True)) as c:
            cur = c.execute(statement.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []
    with closing(sqlite3.connect(db)) as c, c:
        return c.execute(statement, params).fetchall()


def codes(db: str, evidence=()) -> list[str]:
    return sorted({f.code for f in verified(db, evidence)})


@pytest.fixture
def logged(day: World) -> World:
    day.app.set_log_key(LOG.key.public_key, day.signers[AUTHORITY], day.clock.now)
    return day


def test_a_checkpointed_ledger_is_intact(logged: World) -> None:
    TransparencyLog(logged.app).sign_checkpoint(LOG)
    assert codes(str(logged.db)) == []


def test_a_whole_lot_deleted_and_the_rows_renumbered_is_log_truncated(logged: World,
                                                                      raw) -> None:
    TransparencyLog(logged.app).sign_checkpoint(LOG)
    db = str(logged.db)
    logged.app.close()
    # The attack the per-lot chains miss: LOT-2's every step goes, the later rows close up.
    doomed = [p for p, stream, _ in raw.rows() if stream == "lot:LOT-2"]
    sql(db, f"DELETE FROM {raw.table} WHERE originator_id = 'lot:LOT-2'")
    for position in [p for p in raw.positions() if p > doomed[0]]:
        sql(db, f"UPDATE {raw.table} SET {raw.position_column} = ? "
                f"WHERE {raw.position_column} = ?", (position - len(doomed), position))
    assert raw.positions() == list(range(1, raw.count() + 1))  # no gap left to see
    assert "LOG_TRUNCATED" in codes(db)


def test_a_flipped_bit_in_a_stored_checkpoint_is_checkpoint_signature_invalid(
        logged: World, raw) -> None:
    note = TransparencyLog(logged.app).sign_checkpoint(LOG)
    db = str(logged.db)
    logged.app.close()
    flipped = bytearray(note)
    flipped[note.index(b"\n\n") - 3] ^= 0x01  # inside the base64 root
    table = "custody_checkpoints" if raw.postgres else "checkpoints"
    sql(db, f"UPDATE {table} SET note = ?", (bytes(flipped),))
    assert codes(db) == ["CHECKPOINT_SIGNATURE_INVALID"]


def test_a_receipt_taken_before_its_event_was_deleted_proves_the_deletion(
        logged: World, raw, tmp_path: Path) -> None:
    tlog = TransparencyLog(logged.app)
    receipt = logged.handover("LOT-1", "STF-03", "STF-04")
    note = tlog.sign_checkpoint(LOG)
    proof = tlog.tlog_proof(receipt.position, note)
    db = str(logged.db)
    logged.app.close()
    sql(db, f"DELETE FROM {raw.table} WHERE {raw.position_column} = ?", (receipt.position,))
    prefix = "custody_" if raw.postgres else ""
    sql(db, f"DELETE FROM {prefix}checkpoints")
    # The stored tree still holds the event's leaf: verify sees the tree reach past the log.
    assert codes(db) == ["ROOT_MISMATCH"]
    # A thorough attacker trims the tree too (its last leaf and the hashes that leaf made).
    last = raw.count()  # the deleted event was leaf `last`, the log's newest
    sql(db, f"DELETE FROM {prefix}tree_hashes WHERE idx >= ?", (stored_hash_index(0, last),))
    sql(db, f"DELETE FROM {prefix}tree_leaves WHERE leaf >= ?", (last,))
    # The newest step of a lot, gone with its checkpoint: nothing in the database says so...
    assert codes(db) == []
    # ...but the officer's receipt does.
    found = codes(db, [Evidence("officer.proof", proof, receipt=True)])
    assert "EVENT_MISSING" in found and "LOG_TRUNCATED" in found


def test_history_rewritten_after_a_checkpoint_is_a_fork_with_the_next_checkpoint(
        logged: World, raw) -> None:
    tlog = TransparencyLog(logged.app)
    tlog.sign_checkpoint(LOG)
    db = str(logged.db)
    # Whoever holds the database and the log key rewrites LOT-1's registration as stored
    # (here: swaps in LOT-2's bytes) and signs a fresh checkpoint over the result.
    sql(db, f"UPDATE {raw.table} SET state = ? WHERE originator_id = 'lot:LOT-1' AND "
            "originator_version = 3", (raw.state("lot:LOT-2", 3),))
    prefix = "custody_" if raw.postgres else ""
    for table in ("tree_hashes", "tree_leaves"):
        sql(db, f"DELETE FROM {prefix}{table}")  # the next write rebuilds the tree from it
    logged.register("LOT-3")
    tlog.sign_checkpoint(LOG)
    logged.app.close()
    found = codes(db)
    assert "ROOT_MISMATCH" in found and "CHECKPOINT_INCONSISTENT" in found
