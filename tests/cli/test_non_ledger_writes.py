"""Only `init` creates a ledger. Every other writing command pointed at a file that holds no
ledger — an empty file, another program's SQLite database, a text file — ends with one
`error:` line (exit 5) and leaves the file byte for byte as it was. `record handover`,
`lot register`, `person enrol` and `room register` used to create their tables in it first."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from tests.cli.conftest import Cli
from tests.cli.test_read_only import NOT_LEDGERS, _digest, refused_untouched
from tests.conftest import TEAM


def _writing_commands(cli: Cli) -> dict[str, list[str]]:
    return {
        "record handover": cli.handover_args(),
        "lot register": ["lot", "register", "LOT-2", "--exam", "gaokao-2026", "--subject",
                         "math", "--kind", "question_paper", "--count", "30", "--seal", "S-1",
                         "--holder", "STF-01", "--location", "Printing house",
                         *cli.signing(*TEAM)],
        "person enrol": ["person", "enrol", "STF-01", "--name", "Chen Hua", "--role", "staff",
                         "--unit", "Unit", "--public-key", cli.key("STF-01") + ".pub",
                         *cli.authority()],
        "room register": ["room", "register", "SR-3", "--name", "Room 3", "--licence", "BM-1",
                          "--valid-from", "2026-01-01T00:00:00+08:00", "--valid-until",
                          "2026-12-31T00:00:00+08:00", *cli.authority()],
        "person revoke": ["person", "revoke", "STF-01", "--reason", "lost", *cli.authority()],
        "duty start": ["duty", "start", "--room", "SR-3", "--location", "SR-3",
                       *cli.signing(*TEAM)],
        "lot pack": ["lot", "pack", "BOX-1", "--lot", "LOT-1", "--location", "x",
                     *cli.signing(*TEAM)],
        "projections rebuild": ["projections", "rebuild"],
    }


COMMANDS = ["record handover", "lot register", "person enrol", "room register",
            "person revoke", "duty start", "lot pack", "projections rebuild"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", NOT_LEDGERS)
def test_a_writing_command_on_a_file_that_holds_no_ledger_leaves_it_byte_identical(
        cli: Cli, kind: str, command: str) -> None:
    message = NOT_LEDGERS[kind](cli.db)
    before = _digest(cli.db)

    result = cli(*_writing_commands(cli)[command])

    refused_untouched(result, message, cli.db, before)
    assert not Path(f"{cli.db}-shm").exists()


def test_submit_to_a_file_that_holds_no_ledger_leaves_it_byte_identical(ready, tmp_path):
    draft = tmp_path / "step.draft"
    ready.ok("draft", "handover", "--lot", "LOT-1", "--from", "STF-01", "--to", "STF-02",
             "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30", "--location", "Room 1",
             "--occurred-at", "2026-06-06T06:10:00+08:00",
             *[a for p in TEAM for a in ("--attendee", p)], "--out", str(draft))
    other = tmp_path / "notes.db"
    NOT_LEDGERS["another program's database"](other)
    before = _digest(other)

    result = ready.runner.invoke(main, ["--db", str(other), "submit", str(draft)])

    assert result.exit_code == 5, result.output
    assert "holds no ledger (it has no stored_events table)" in result.stderr
    assert _digest(other) == before


def test_init_still_starts_a_ledger_in_an_empty_file(cli: Cli) -> None:
    cli.db.write_bytes(b"")
    cli.init()
    assert "intact" in cli.ok("verify", "--workers", "1").output
