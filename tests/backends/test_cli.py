"""The ``custody`` command end to end through CliRunner, on SQLite and on PostgreSQL, and the
one-line errors a PostgreSQL URL that cannot be opened must give."""

from __future__ import annotations

import json
import socket
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from ledger.application.custody import open_ledger
from ledger.core.errors import StorageError

POLICE = ["POL-A", "POL-B"]
STAFF = ["STF-A", "STF-B", "STF-C", "STF-D"]
TEAM = POLICE + STAFF


class Custody:
    """``custody --db DB ...`` in-process, with key files made by ``custody keys new``."""

    def __init__(self, db: str, folder: Path) -> None:
        self.db = db
        self.folder = folder
        self.secret = folder / "passphrase"
        self.secret.write_text("correct horse battery staple\n")
        self.secret.chmod(0o600)
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(main, ["--db", self.db, *args])

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.output, result.stderr)
        return result

    def key(self, person: str) -> str:
        return str(self.folder / f"{person}.key")

    def signing(self, people: list[str]) -> list[str]:
        args: list[str] = []
        for person in people:
            args += ["--sign", self.key(person), "--passphrase-file", str(self.secret)]
        return args


@pytest.fixture
def custody(backend: str, tmp_path: Path) -> Custody:
    return Custody(backend, tmp_path)


def test_cli_records_and_verifies_an_exam_morning(custody: Custody) -> None:
    for person in ["AUTH", *TEAM]:
        made = custody.ok("keys", "new", person, "--out", custody.key(person),
                          "--passphrase-file", str(custody.secret))
        assert f"wrote {custody.key(person)}" in made.output

    started = custody.ok("init", "--ledger-id", "gd-2026", "--authority-key", custody.key("AUTH"),
                         "--passphrase-file", str(custody.secret),
                         "--occurred-at", "2026-06-06T07:00:00+08:00")
    assert "recorded ledger.genesis ledger step 1 at position 1" in started.output
    assert "ledger gd-2026 started in " in started.output

    for index, person in enumerate(TEAM, start=2):
        role = "police" if person in POLICE else "staff"
        enrolled = custody.ok("person", "enrol", person, "--name", f"Officer {person}",
                              "--role", role, "--unit", "City exam office",
                              "--public-key", custody.key(person) + ".pub",
                              "--authority-key", custody.key("AUTH"),
                              "--passphrase-file", str(custody.secret),
                              "--occurred-at", "2026-06-06T07:10:00+08:00")
        assert f"person:{person} step 1 at position {index}" in enrolled.output

    registered = custody.ok("lot", "register", "MATH-01", "--exam", "gaokao-2026",
                            "--subject", "math", "--kind", "question_paper", "--count", "30",
                            "--seal", "S-1", "--seal", "S-2", "--holder", "STF-A",
                            "--location", "Printing house",
                            "--occurred-at", "2026-06-06T07:30:00+08:00",
                            *custody.signing(TEAM))
    assert "recorded lot.registered lot:MATH-01 step 1 at position 8" in registered.output

    handed = custody.ok("record", "handover", "--lot", "MATH-01", "--from", "STF-A",
                        "--to", "STF-B", "--seal", "S-1", "--seal", "S-2", "--count", "30",
                        "--location", "Secure room 1",
                        "--occurred-at", "2026-06-06T08:00:00+08:00", *custody.signing(TEAM))
    assert "recorded lot.handed_over lot:MATH-01 step 2 at position 9" in handed.output

    history = custody.ok("history", "MATH-01")
    assert "lot.registered" in history.output and "lot.handed_over" in history.output
    assert "     STF-A -> STF-B\n     checked: count 30, seals S-1, S-2\n" in history.output
    assert "present: POL-A (police), POL-B (police), STF-A (staff)" in history.output

    verified = custody.ok("verify", "--workers", "1")
    assert verified.output.startswith("intact: ")
    assert verified.output.endswith(": 9 events, 8 streams, 19 signatures verified\n")
    as_json = json.loads(custody.ok("verify", "--json", "--workers", "1").output)
    assert as_json["intact"] is True and as_json["findings"] == []
    assert (as_json["events"], as_json["signatures"]) == (9, 7 + 2 * 6)

    # A refused step through the CLI: exit 3, one line, nothing written.
    refused = custody("record", "handover", "--lot", "MATH-01", "--from", "STF-B", "--to", "STF-C",
                      "--seal", "S-1", "--seal", "S-2", "--count", "30",
                      "--location", "Secure room 1", "--occurred-at", "2026-06-06T08:30:00+08:00",
                      *custody.signing(TEAM[:5]))
    assert refused.exit_code == 3, (refused.output, refused.stderr)
    assert refused.stderr.startswith("error: refused lot.handed_over for lot:MATH-01")
    assert refused.stderr.count("\n") == 1
    assert json.loads(custody.ok("verify", "--json", "--workers", "1").output)["events"] == 9


def _closed_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens here once the socket is closed


def _cannot_open(db: str) -> tuple[str, Result]:
    with pytest.raises(StorageError) as refused:
        open_ledger(db)
    result = CliRunner().invoke(main, ["--db", db, "verify"])
    return str(refused.value), result


@pytest.mark.postgres
def test_postgres_connection_refused_is_one_line() -> None:
    port = _closed_port()
    db = f"postgresql://postgres@127.0.0.1:{port}/custody"
    message, result = _cannot_open(db)
    assert message.startswith(f"cannot open ledger database postgresql://127.0.0.1:{port}/custody:")
    assert "Connection refused" in message and "\n" not in message
    assert result.exit_code == 5
    assert result.stderr == f"error: {message}\n"
    assert "Traceback" not in result.output


@pytest.mark.postgres
def test_postgres_unknown_database_is_one_line(postgres_server) -> None:
    db = postgres_server.url("custody_no_such_database")
    message, result = _cannot_open(db)
    assert message == (f"cannot open ledger database postgresql://{postgres_server.host}:"
                       f"{postgres_server.port}/custody_no_such_database: "
                       'database "custody_no_such_database" does not exist')
    assert result.exit_code == 5
    assert result.stderr == f"error: {message}\n"


@pytest.mark.postgres
def test_postgres_unknown_role_is_one_line(postgres_server) -> None:
    db = f"postgresql://no_such_role@{postgres_server.host}:{postgres_server.port}/postgres"
    message, result = _cannot_open(db)
    assert message.endswith('role "no_such_role" does not exist')
    assert result.exit_code == 5 and result.stderr == f"error: {message}\n"


@pytest.mark.postgres
def test_postgres_database_without_a_ledger_says_run_init(postgres_db: str) -> None:
    result = CliRunner().invoke(main, ["--db", postgres_db, "history", "LOT-1"])
    assert result.exit_code == 5
    assert result.stderr.endswith("holds no ledger (it has no custody_events table); check --db "
                                  "or CUSTODY_DB, or run 'custody init' to start one there\n")
    assert result.stderr.count("\n") == 1
