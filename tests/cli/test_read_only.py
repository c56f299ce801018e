"""Read commands never write: not to a ledger, and not to a file that holds no ledger.

``verify``, ``status``, ``history``, ``draft`` and ``sign`` open the database read-only and
create no table. Pointed at an empty file, another program's SQLite database or a text file,
each ends with one ``error:`` line (exit 5) and the file stays byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Callable

import pytest

from cli.main import main
from tests.conftest import TEAM


def _empty(path: Path) -> str:
    path.write_bytes(b"")
    return "holds no ledger (an empty file)"


def _other_programs_database(path: Path) -> str:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('buy milk')")
    return "holds no ledger (it has no stored_events table)"


def _text_file(path: Path) -> str:
    path.write_text("custody.db is where the ledger goes\n" * 50)
    return "cannot open ledger database"


def _a_table_of_that_name(path: Path) -> str:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE stored_events (id INTEGER PRIMARY KEY, what TEXT)")
    return "its stored_events table lacks originator_id, originator_version, state, topic"


NOT_LEDGERS: dict[str, Callable[[Path], str]] = {
    "empty file": _empty,
    "another program's database": _other_programs_database,
    "text file": _text_file,
    "a stored_events table of another shape": _a_table_of_that_name,
}


def _read_commands(cli) -> dict[str, list[str]]:
    draft = cli.folder / "handover.draft"
    return {
        "verify": ["verify", "--workers", "1"],
        "verify --json": ["verify", "--json", "--workers", "1"],
        "status": ["status", "--workers", "1"],
        "history": ["history", "LOT-1"],
        "draft": ["draft", "handover", "--lot", "LOT-1", "--from", "STF-01", "--to", "STF-02",
                  "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30",
                  "--location", "Secure room 1", "--occurred-at", "2026-06-06T06:10:00+08:00",
                  *[arg for p in TEAM for arg in ("--attendee", p)], "--out", str(draft)],
        "sign": ["sign", str(draft), "--key", cli.key("POL-01"),
                 "--passphrase-file", cli.secret("POL-01"), "--yes"],
    }


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused_untouched(result, message: str, db: Path, before: str) -> str:
    """Assert the command stopped with one `error:` line naming ``message`` (exit 5) and
    left ``db`` byte for byte as it was, with no journal; return that line."""
    assert result.exit_code == 5, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert _digest(db) == before
    assert not Path(f"{db}-wal").exists()
    return lines[0]


@pytest.mark.parametrize("command", ["verify", "verify --json", "status", "history", "draft"])
@pytest.mark.parametrize("kind", NOT_LEDGERS)
def test_a_read_command_on_a_file_that_holds_no_ledger_leaves_it_byte_identical(
        cli, kind: str, command: str) -> None:
    message = NOT_LEDGERS[kind](cli.db)
    before = _digest(cli.db)

    result = cli(*_read_commands(cli)[command])

    # (not even a journal was started)
    assert "check --db or CUSTODY_DB" in refused_untouched(result, message, cli.db, before)
    assert result.stdout == ""


def test_sign_on_a_file_that_holds_no_ledger_leaves_it_byte_identical(ready, tmp_path) -> None:
    commands = _read_commands(ready)
    ready.ok(*commands["draft"])
    other = tmp_path / "notes.db"
    _other_programs_database(other)
    before = _digest(other)

    result = ready.runner.invoke(main, ["--db", str(other), *commands["sign"]])

    assert result.exit_code == 5, result.output
    assert "holds no ledger (it has no stored_events table)" in result.stderr
    assert _digest(other) == before


def test_read_commands_leave_a_ledger_byte_identical(ready) -> None:
    commands = _read_commands(ready)
    before = ready.db_digest()

    for name in ("verify", "verify --json", "status", "history", "draft", "sign"):
        result = ready(*commands[name])
        assert result.exit_code == 0, (name, result.output)
        assert ready.db_digest() == before, name


def test_a_ledger_in_rollback_journal_mode_is_read_without_switching_it_to_wal(ready) -> None:
    """A copy made with the sqlite3 shell (.dump | sqlite3) is not in WAL mode; the library
    switches every file it opens to WAL, which a read command must not do."""
    with closing(sqlite3.connect(ready.db)) as db:
        assert db.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    before = ready.db_digest()

    verified = ready("verify", "--workers", "1")
    history = ready("history", "LOT-1")

    assert verified.exit_code == 0, verified.output
    assert verified.stdout.rstrip().splitlines()[-1].startswith("intact")
    assert history.exit_code == 0 and "lot.registered" in history.stdout, history.output
    assert ready.db_digest() == before
    with closing(sqlite3.connect(ready.db)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_a_write_command_still_creates_the_tables(cli) -> None:
    cli.ok("init", "--ledger-id", "cli-ledger", *cli.authority())
    with closing(sqlite3.connect(cli.db)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "stored_events" in tables
