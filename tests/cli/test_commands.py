"""The CLI end to end through CliRunner: the happy path of every command."""

from __future__ import annotations

import json
import os
import stat

from tests.conftest import TEAM


def test_keys_new_prompts_twice_hidden_and_writes_an_encrypted_0600_key(cli):
    result = cli.ok("keys", "new", "NEW-01", "--out", str(cli.folder / "new.key"),
                    input="a long passphrase\na long passphrase\n")
    assert "a long passphrase" not in result.output  # hidden input is never echoed
    assert stat.S_IMODE(os.stat(cli.folder / "new.key").st_mode) == 0o600
    assert (cli.folder / "new.key").read_bytes().count(b"ENCRYPTED PRIVATE KEY") == 2
    assert (cli.folder / "new.key.pub").read_text().endswith(" NEW-01\n")
    assert "key id " in result.output


def test_keys_new_with_no_passphrase_warns(cli):
    result = cli.ok("keys", "new", "NEW-01", "--out", str(cli.folder / "new.key"), "--no-passphrase")
    assert "UNENCRYPTED" in result.output
    assert b"ENCRYPTED" not in (cli.folder / "new.key").read_bytes()


def test_init_enrol_and_register_through_the_cli(cli):
    cli.init()
    cli.register()
    assert "lot.registered" in cli.ok("history", "LOT-1").output


def test_a_full_cycle_records_and_verifies_intact(ready):
    result = ready.ok(*ready.handover_args())
    assert "recorded lot.handed_over lot:LOT-1 step 2 at position 13" in result.output
    verify = ready.ok("verify")
    assert verify.output.startswith("intact: ")
    assert "13 events, 12 streams, 23 signatures verified" in verify.output


def test_verify_json_report_has_the_documented_shape(ready):
    result = ready.ok("verify", "--json", "--workers", "1")
    report = json.loads(result.output)
    assert report == {"log_position": 12, "intact": True, "events": 12, "streams": 12,
                      "signatures": 17, "findings": []}


def test_history_lists_steps_with_who_was_present(ready):
    ready.ok(*ready.handover_args())
    out = ready.ok("history", "LOT-1").output
    assert "  1  2026-06-06T05:30:00+08:00  lot.registered" in out  # the ledger's zone
    assert "     STF-01 -> STF-02\n     checked: count 30, seals SEAL-1, SEAL-2\n" in out
    assert "present: POL-01 (police), POL-02 (police), STF-01 (staff)" in out


def test_passphrases_can_be_typed_at_hidden_prompts(ready):
    args = ["record", "handover", "--lot", "LOT-1", "--from", "STF-01", "--to", "STF-02",
            "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30", "--location", "Room"]
    for person in TEAM:
        args += ["--sign", ready.key(person)]
    typed = "".join(f"passphrase of {p}\n" for p in TEAM)
    result = ready.ok(*args, input=typed)
    assert "recorded lot.handed_over" in result.output
    assert "passphrase of" not in result.output.replace("Passphrase for", "")


def test_help_of_every_command_shows_an_example(cli):
    for command in (["init"], ["keys", "new"], ["person", "enrol"], ["lot", "register"],
                    ["record", "handover"], ["verify"], ["history"], ["demo"]):
        result = cli.ok(*command, "--help")
        assert "Example" in result.output, command


def test_custody_db_environment_variable_selects_the_ledger(ready):
    from cli.main import main

    result = ready.runner.invoke(main, ["verify"], env={"CUSTODY_DB": str(ready.db)})
    assert result.exit_code == 0 and str(ready.db) in result.output


def test_verify_json_matches_the_documented_schema_even_with_findings(ready):
    import sqlite3
    from importlib import resources

    from jsonschema import Draft202012Validator

    with sqlite3.connect(ready.db) as conn:
        conn.execute("UPDATE stored_events SET state = CAST(state || x'00' AS BLOB) WHERE rowid = 5")
    result = ready("verify", "--json", "--workers", "1")
    assert result.exit_code == 1
    report = json.loads(result.output)
    schema = json.loads(resources.files("schemas").joinpath("report.schema.json").read_text())
    Draft202012Validator(schema).validate(report)
    assert report["intact"] is False
    assert report["findings"][0]["code"] == "NON_CANONICAL" and report["findings"][0]["position"] == 5


def test_a_listing_longer_than_a_batch_prints_every_line_once_in_order(capsys):
    from cli.context import echo_lines

    echo_lines((f"line {i}" for i in range(2_345)), batch=1000)
    assert capsys.readouterr().out == "".join(f"line {i}\n" for i in range(2_345))
    echo_lines([])
    assert capsys.readouterr().out == ""
