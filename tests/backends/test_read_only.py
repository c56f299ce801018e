"""Read commands check for the ledger's table the same way on SQLite and PostgreSQL, and a
database without it is left without it."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import main


def _tables(db: str) -> set[str]:
    if db.startswith("postgresql://"):
        with closing(psycopg.connect(db)) as connection:
            rows = connection.execute("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'public'").fetchall()
    else:
        with closing(sqlite3.connect(db)) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master").fetchall()
    return {name for (name,) in rows}


def _another_programs_table(db: str) -> None:
    statement = "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"
    if db.startswith("postgresql://"):
        with closing(psycopg.connect(db, autocommit=True)) as connection:
            connection.execute(statement)
    else:
        with closing(sqlite3.connect(db)) as connection, connection:
            connection.execute(statement)


@pytest.mark.parametrize("command", [["verify", "--workers", "1"], ["status", "--workers", "1"],
                                     ["history", "LOT-1"]])
def test_a_read_command_on_a_database_without_the_ledger_table_creates_none(
        backend: str, command: list[str]) -> None:
    _another_programs_table(backend)
    table = "custody_events" if backend.startswith("postgresql://") else "stored_events"

    result = CliRunner().invoke(main, ["--db", backend, *command])

    assert result.exit_code == 5, result.output
    assert result.stderr.splitlines() == [
        f"error: {_label(backend)} holds no ledger (it has no {table} table); "
        "check --db or CUSTODY_DB, or run 'custody init' to start one there"]
    assert _tables(backend) == {"notes"}


def _label(db: str) -> str:
    if db.startswith("postgresql://"):
        rest = db.split("@", 1)[1]  # postgresql://user@host:port/name -> host:port/name
        return f"postgresql://{rest}"
    return db


def test_a_damaged_step_is_one_error_line_for_history_and_a_report_for_verify(
        day, raw) -> None:
    """The same on both backends: LOT-1's first handover is overwritten with bytes that do
    not decode."""
    raw.set_state("lot:LOT-1", 2, b"\xc1 not msgpack")
    runner = CliRunner()

    history = runner.invoke(main, ["--db", str(day.db), "history", "LOT-1"])
    verified = runner.invoke(main, ["--db", str(day.db), "verify", "--json", "--workers", "1"])

    assert history.exit_code == 5, history.output
    assert history.stdout == ""
    (line,) = history.stderr.splitlines()
    assert line.startswith(f"error: the ledger is damaged at position "
                           f"{raw.position('lot:LOT-1', 2)} (lot:LOT-1): NON_CANONICAL: ")
    assert line.endswith("; run 'custody verify' for details")
    assert verified.exit_code == 1, verified.output
    assert ("NON_CANONICAL", raw.position("lot:LOT-1", 2)) in {
        (f["code"], f["position"]) for f in json.loads(verified.stdout)["findings"]}
