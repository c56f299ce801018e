"""`custody verify --state DIR`: a resumable audit, end to end through the CLI.

A full run saves the state; the next run proves the log still extends it and checks only the
newer events; a history rewritten underneath, a truncated log, a damaged or foreign state file
are each reported or refused, and a run that is not intact never overwrites the saved state."""

from __future__ import annotations

import json
import sqlite3
import stat
from contextlib import closing
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from ledger.verify.saved_state import FILE
from tests.cli.conftest import Cli
from tests.tamper.attacker import Attacker


def verify(cli: Cli, state: Path, *args: str):
    return cli("verify", "--state", str(state), "--workers", "1", *args)


def report(cli: Cli, state: Path, *args: str) -> dict:
    result = verify(cli, state, "--json", *args)
    data = json.loads(result.output)
    schema = json.loads(resources.files("schemas").joinpath("report.schema.json").read_text())
    Draft202012Validator(schema).validate(data)
    return data


def handover(cli: Cli, giver: str, receiver: str, at: str) -> None:
    cli.ok(*cli.handover_args(**{"--from": giver, "--to": receiver, "--occurred-at": at}))


@pytest.fixture
def state(ready: Cli, tmp_path: Path) -> Path:
    """The ready ledger verified once with --state: its state saved."""
    directory = tmp_path / "audit"
    result = verify(ready, directory)
    assert result.exit_code == 0, result.output
    assert f"audit state saved in {directory / FILE}" in result.output
    return directory


def test_a_first_run_verifies_everything_and_saves_a_private_state(ready, state):
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / FILE).stat().st_mode) == 0o600


def test_a_run_with_nothing_new_checks_zero_events_and_is_intact(ready, state):
    result = verify(ready, state)
    assert result.exit_code == 0, result.output
    assert "intact: " in result.output
    assert "checked 0 new events" in result.output
    assert "resumed from position 12 (tree size 12)" in result.output


def test_a_resumed_run_checks_only_the_new_events(ready, state):
    handover(ready, "STF-01", "STF-02", "2026-06-06T06:10:00+08:00")
    handover(ready, "STF-02", "STF-03", "2026-06-06T06:20:00+08:00")
    data = report(ready, state)
    assert data["intact"] is True
    assert data["resumed"] == {"position": 12, "tree_size": 12, "new_events": 2}
    assert data["events"] == 2 and data["signatures"] == 12
    # ...and saved again: the next run starts after them.
    assert report(ready, state)["resumed"] == {"position": 14, "tree_size": 14,
                                               "new_events": 0}


def test_a_resumed_run_reports_a_bad_new_event_and_keeps_the_saved_state(ready, state):
    before = (state / FILE).read_bytes()
    handover(ready, "STF-01", "STF-02", "2026-06-06T06:10:00+08:00")
    attacker = Attacker(ready.db)
    attacker.rewrite(attacker.last_position(), lambda r: r["body"].update(count_checked=29))
    result = verify(ready, state)
    assert result.exit_code == 1
    assert "SIGNATURE_INVALID" in result.output
    assert "checked 1 new events" in result.output
    assert "audit state not saved (the run is not intact)" in result.output
    assert (state / FILE).read_bytes() == before


def test_history_rewritten_after_the_save_is_checkpoint_inconsistent(ready, state):
    attacker = Attacker(ready.db)
    # An enrolment changed as stored (whose name the inspector was enrolled under), every
    # hash recomputed, and the stored tree rebuilt from the rewritten rows (the next write
    # does that once its tables are emptied).
    enrolled = attacker.position("person:INS-01", 1)
    attacker.rewrite(enrolled, lambda r: r["body"]["person"].update(name="Someone Else"))
    with closing(sqlite3.connect(ready.db)) as connection, connection:
        connection.execute("DELETE FROM tree_hashes")
        connection.execute("DELETE FROM tree_leaves")
    handover(ready, "STF-01", "STF-02", "2026-06-06T06:10:00+08:00")
    data = report(ready, state)
    assert data["intact"] is False
    (finding,) = [f for f in data["findings"] if f["code"] == "CHECKPOINT_INCONSISTENT"]
    assert finding["evidence"]["saved_tree_size"] == 12
    assert finding["evidence"]["stored_root"] != finding["evidence"]["saved_root"]
    assert data["resumed"]["new_events"] == 1  # the new event itself is fine


def test_new_rows_the_stored_tree_does_not_hold_are_a_root_mismatch(ready, state):
    handover(ready, "STF-01", "STF-02", "2026-06-06T06:10:00+08:00")
    with closing(sqlite3.connect(ready.db)) as connection, connection:
        # The new leaf's stored hash replaced: the tree no longer commits to the new row.
        (size,) = connection.execute("SELECT COUNT(*) FROM tree_leaves").fetchone()
        connection.execute("UPDATE tree_hashes SET hash = ? WHERE idx = (SELECT MAX(idx) "
                           "FROM tree_hashes)", (b"\x07" * 32,))
    data = report(ready, state)
    assert size == 13
    assert [f["code"] for f in data["findings"]] == ["ROOT_MISMATCH"]
    assert data["findings"][0]["evidence"]["tree_size"] == 13


def test_a_log_truncated_after_the_save_is_log_truncated(ready, state):
    attacker = Attacker(ready.db)
    attacker.delete(attacker.last_position())
    data = report(ready, state)
    assert data["intact"] is False
    assert "LOG_TRUNCATED" in [f["code"] for f in data["findings"]]


@pytest.mark.parametrize("option", [["--lot", "LOT-1"], ["--since", "2"],
                                    ["--as-of", "2026-06-06T06:00:00+08:00"]])
def test_state_with_a_partial_run_is_a_usage_error(ready, tmp_path, option):
    directory = tmp_path / "audit"
    result = verify(ready, directory, *option)
    assert result.exit_code == 2
    assert f"--state cannot be combined with {option[0]}" in result.output
    assert not directory.exists()


def test_a_damaged_state_file_is_refused_with_nothing_written(ready, state):
    data = bytearray((state / FILE).read_bytes())
    data[len(data) // 2] ^= 0x40
    (state / FILE).write_bytes(bytes(data))
    result = verify(ready, state)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the saved audit state")
    assert f"delete {state}" in lines[0] and "run without --state" in lines[0]
    assert (state / FILE).read_bytes() == bytes(data)
    assert sorted(p.name for p in state.iterdir()) == [FILE]


def test_the_state_of_another_ledger_is_refused(ready, state, tmp_path, keyring):
    (tmp_path / "other").mkdir()
    other = Cli(tmp_path / "other", keyring)
    other.ok("init", "--ledger-id", "other-ledger", "--occurred-at",
             "2026-06-01T09:00:00+08:00", *other.authority())
    result = verify(other, state)
    assert result.exit_code == 2
    assert "it is the saved state of ledger 'cli-ledger', not of this ledger 'other-ledger'" \
        in result.output


def test_state_that_is_a_file_is_a_usage_error(ready, tmp_path):
    (tmp_path / "taken").write_text("x")
    result = verify(ready, tmp_path / "taken")
    assert result.exit_code == 2
    assert "is a file" in result.output or "is not a directory" in result.output


def test_a_resumed_run_remembers_where_people_were_before_the_save(ready, tmp_path):
    # The fold's whereabouts and registered sites are saved with it: a step 5 minutes after
    # the save, at a site apart, by the same people, is the same PRESENCE_CONFLICT a full run
    # finds.
    for site in ("PH", "CEI"):
        ready.ok("site", "register", site, "--name", site, "--occurred-at",
                 "2026-06-06T05:00:00+08:00", *ready.authority())
    ready.ok(*ready.handover_args(**{"--from": "STF-01", "--to": "STF-02", "--place": "site:PH",
                                     "--occurred-at": "2026-06-06T06:10:00+08:00"}))
    directory = tmp_path / "audit"
    assert verify(ready, directory).exit_code == 0
    ready.ok(*ready.handover_args(**{"--from": "STF-02", "--to": "STF-03",
                                     "--location": "Loading bay", "--place": "site:CEI",
                                     "--occurred-at": "2026-06-06T06:15:00+08:00"}))

    resumed = report(ready, directory)
    full = json.loads(ready("verify", "--json", "--workers", "1").output)

    assert resumed["resumed"]["new_events"] == 1
    conflicts = [(f["code"], f["position"]) for f in resumed["findings"]]
    assert conflicts and set(conflicts) == {("PRESENCE_CONFLICT", 16)}
    assert conflicts == [(f["code"], f["position"]) for f in full["findings"]]
