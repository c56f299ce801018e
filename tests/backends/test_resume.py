"""`custody verify --state DIR` on SQLite and on PostgreSQL: the resumed audit's main path, a
history rewritten underneath it, and a truncated log."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.application.custody import open_ledger
from ledger.application.keystore import Signer
from ledger.application.log import TransparencyLog
from ledger.core import canonical
from ledger.verify import Verifier
from ledger.verify.saved_state import SavedState
from tests.backends.verifying import HELPED, opened
from tests.conftest import AUTHORITY, LEDGER_ID, World, fixed_key

LOG = Signer(LEDGER_ID, fixed_key("LOG"))


def sql(db: str, statement: str, params: tuple = ()) -> None:
    if db.startswith("postgresql://"):
        with closing(psycopg.connect(db, autocommit=True)) as c:
            c.execute(statement.replace("?", "%s"), params)
        return
    with closing(sqlite3.connect(db)) as c, c:
        c.execute(statement, params)


def verify(db: str, state: Path) -> dict:
    if (state / "state").exists():
        assert_resumed_alike(db, state)
    result = CliRunner().invoke(main, ["--db", db, "verify", "--state", str(state), "--json",
                                       "--workers", "1"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)


def assert_resumed_alike(db: str, state: Path) -> None:
    """The resumed audit reports and reaches the same in one process and with workers and
    the log audit in its helper process (``log_helper``: there it reads no stored tree)."""
    runs = []
    for options in ({}, HELPED):
        with opened(db, resume=SavedState(state, LEDGER_ID), **options) as verifier:
            findings = verifier.run().findings
            reached = verifier.reached()
            runs.append((findings, reached.tree_size, reached.root, reached.position))
    assert runs[1] == runs[0]


@pytest.fixture
def audited(day: World, tmp_path: Path) -> tuple[World, Path]:
    """The exam day with a log key and a signed checkpoint, verified once with --state."""
    day.app.set_log_key(LOG.key.public_key, day.signers[AUTHORITY], day.clock.now)
    TransparencyLog(day.app).sign_checkpoint(LOG)
    state = tmp_path / "audit"
    first = verify(str(day.db), state)
    assert first["intact"] is True and "resumed" not in first
    assert first["events"] == day.app.last_position()
    return day, state


def test_a_resumed_audit_checks_only_the_new_events(audited) -> None:
    day, state = audited
    saved = day.app.last_position()
    day.handover("LOT-1", "STF-03", "STF-04")
    TransparencyLog(day.app).sign_checkpoint(LOG)  # a checkpoint over old and new events
    day.handover("LOT-2", "STF-03", "STF-04")
    # The progress bar counts only the new events.
    reader = open_ledger(str(day.db), read_only=True)
    verifier = Verifier(reader.recorder, resume=SavedState(state, LEDGER_ID))
    assert verifier.total() == day.app.last_position() - saved == 2
    verifier.close()
    reader.close()
    data = verify(str(day.db), state)
    assert data["intact"] is True, data["findings"]
    assert data["resumed"] == {"position": saved, "tree_size": saved, "new_events": 2}
    assert data["events"] == 2
    again = verify(str(day.db), state)
    assert again["resumed"]["new_events"] == 0 and again["intact"] is True


def test_a_history_rewritten_after_the_save_is_reported(audited, raw) -> None:
    day, state = audited
    db = str(day.db)
    # An old step's bytes changed and the stored tree rebuilt over them (the next write does).
    record = canonical.decode(raw.state("person:INS-01", 1))
    record["body"]["person"]["name"] = "Someone Else"
    raw.set_state("person:INS-01", 1, canonical.encode(record))
    prefix = "custody_" if raw.postgres else ""
    for table in ("tree_hashes", "tree_leaves"):
        sql(db, f"DELETE FROM {prefix}{table}")
    day.handover("LOT-1", "STF-03", "STF-04")
    data = verify(db, state)
    assert data["intact"] is False
    assert "CHECKPOINT_INCONSISTENT" in [f["code"] for f in data["findings"]]


def test_a_log_truncated_after_the_save_is_log_truncated(audited, raw) -> None:
    day, state = audited
    db = str(day.db)
    last = raw.positions()[-1]
    sql(db, f"DELETE FROM {raw.table} WHERE {raw.position_column} = ?", (last,))
    data = verify(db, state)
    assert "LOG_TRUNCATED" in [f["code"] for f in data["findings"]]
    assert data["intact"] is False
