"""The log's key, checkpoints, proofs and receipts through the CLI."""

from __future__ import annotations

import json
from pathlib import Path


from ledger.tlog.checkpoint import Checkpoint, open_proof
from ledger.tlog.merkle import leaf_hash
from ledger.tlog.note import Ed25519Verifier, open_note, Verifiers
from tests.cli.conftest import Cli


def test_a_checkpoint_is_a_c2sp_signed_note_that_the_printed_vkey_opens(logged: Cli,
                                                                         log_key: Path) -> None:
    note = logged.ok("checkpoint", "--key", str(log_key)).output.encode()
    vkey = logged.ok("checkpoint", "--verifier-key").output.strip()
    assert vkey.startswith("cli-ledger+")
    opened = open_note(note, Verifiers(Ed25519Verifier.from_vkey(vkey)))
    checkpoint = Checkpoint.parse(opened.text)
    assert checkpoint.origin == "cli-ledger"
    assert checkpoint.size == 13  # genesis, ten enrolments, LOT-1, the log key
    proof = json.loads(logged.ok("prove", "--consistency", "1", "--json").output)
    assert proof["new_size"] == 13 and proof["new_root"] == checkpoint.root.hex()


def test_a_key_the_ledger_did_not_name_signs_no_checkpoint(ready: Cli, log_key: Path) -> None:
    before = ready.db_digest()
    result = ready("checkpoint", "--key", str(log_key))
    assert result.exit_code == 4
    assert "names no log key" in result.output
    assert ready.db_digest() == before


def test_log_enable_needs_an_authority_key(ready: Cli, log_key: Path) -> None:
    before = ready.db_digest()
    result = ready("log", "enable", "--log-key", f"{log_key}.pub",
                   "--authority-key", ready.key("POL-01"), "--passphrase-file",
                   ready.secret("POL-01"))
    assert result.exit_code == 4
    assert "is the key of POL-01, who is not in the authority set (AUTH-01)" in result.output
    assert ready.db_digest() == before


def test_with_custody_log_key_every_append_stores_a_checkpoint_and_writes_its_receipt(
        logged: Cli, log_key: Path, monkeypatch) -> None:
    monkeypatch.setenv("CUSTODY_LOG_KEY", str(log_key))
    receipt = logged.folder / "handover.proof"
    out = logged.ok(*logged.handover_args(), "--receipt", str(receipt)).output
    assert f"receipt {receipt}" in out
    vkey = logged.ok("checkpoint", "--verifier-key").output.strip()
    data = receipt.read_bytes()
    event_hash = bytes.fromhex(out.split("event hash ")[1].split()[0])
    proof, checkpoint, _ = open_proof(data, leaf_hash(event_hash), "cli-ledger",
                                      Ed25519Verifier.from_vkey(vkey))
    assert (proof.index, checkpoint.size, proof.extra) == (13, 14, event_hash)


def test_a_receipt_without_a_log_key_says_why_and_the_step_is_still_recorded(
        logged: Cli) -> None:
    receipt = logged.folder / "handover.proof"
    result = logged(*logged.handover_args(), "--receipt", str(receipt))
    assert result.exit_code == 0
    assert "no checkpoint covers position 14" in result.output
    assert not receipt.exists()


def test_prove_on_a_position_that_holds_no_event_is_a_usage_error(logged: Cli) -> None:
    result = logged("prove", "999")
    assert result.exit_code == 2
    assert "no event is stored at position 999" in result.output


def test_prove_json_matches_the_documented_schemas(logged: Cli, log_key: Path) -> None:
    import jsonschema
    from importlib import resources

    logged.ok("checkpoint", "--key", str(log_key))
    for name, args in (("inclusion-proof", ["prove", "3", "--json"]),
                       ("consistency-proof", ["prove", "--consistency", "2", "--json"])):
        schema = json.loads(resources.files("schemas").joinpath(f"{name}.schema.json").read_text())
        jsonschema.validate(json.loads(logged.ok(*args).output), schema)


def test_check_receipt_offline_and_against_the_ledger(logged: Cli, log_key: Path,
                                                      monkeypatch) -> None:
    monkeypatch.setenv("CUSTODY_LOG_KEY", str(log_key))
    receipt = logged.folder / "handover.proof"
    logged.ok(*logged.handover_args(), "--receipt", str(receipt))
    offline = logged.runner.invoke(__import__("cli.main").main.main,
                                   ["check-receipt", str(receipt), "--log-key", f"{log_key}.pub"])
    assert offline.exit_code == 0 and f"ok {receipt}" in offline.output
    assert "still in the ledger at position 14" in logged.ok("check-receipt", str(receipt)).output
    import sqlite3
    with sqlite3.connect(logged.db) as c:
        c.execute("DELETE FROM stored_events WHERE rowid = 14")
    gone = logged("check-receipt", str(receipt))
    assert gone.exit_code == 1
    assert gone.output.startswith(f"EVENT_MISSING receipt {receipt} proves event ")
    assert "at index 13, but the ledger holds no event at that index any more" in gone.output


def test_a_receipt_checked_with_another_log_key_is_one_error_line_not_a_traceback(
        logged: Cli, log_key: Path, monkeypatch) -> None:
    # Was a TypeError traceback: the refusal was rebuilt with type(error)(message), which
    # UnverifiedNote cannot be.
    monkeypatch.setenv("CUSTODY_LOG_KEY", str(log_key))
    receipt = logged.folder / "handover.proof"
    logged.ok(*logged.handover_args(), "--receipt", str(receipt))
    other = logged.keys / "POL-01.key.pub"
    result = logged.runner.invoke(__import__("cli.main").main.main,
                                  ["check-receipt", str(receipt), "--log-key", str(other)])
    assert result.exit_code == 1
    assert result.output == (f"error: receipt {receipt}: note has no verifiable signatures "
                             "(signed by: cli-ledger+" + result.output.split("cli-ledger+")[1])
    assert len(result.output.splitlines()) == 1


def test_receipt_into_a_missing_folder_is_a_warning_and_the_step_is_still_recorded(
        logged: Cli, log_key: Path, monkeypatch) -> None:
    # Was a traceback after the commit: the receipt's OSError escaped the append hook.
    monkeypatch.setenv("CUSTODY_LOG_KEY", str(log_key))
    receipt = logged.folder / "missing" / "handover.proof"
    result = logged(*logged.handover_args(), "--receipt", str(receipt))
    assert result.exit_code == 0, result.output
    assert (f"warning: no receipt written to {receipt}: cannot write receipt file {receipt}: "
            "No such file or directory") in result.output
    assert "Traceback" not in result.output
    assert "recorded lot.handed_over lot:LOT-1 step 2" in result.output
    assert not receipt.parent.exists()


def test_prove_receipt_into_a_missing_folder_is_a_usage_error_and_writes_nothing(
        logged: Cli, log_key: Path) -> None:
    logged.ok("checkpoint", "--key", str(log_key))
    receipt = logged.folder / "missing" / "one.proof"
    result = logged("prove", "1", "--receipt", str(receipt))
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"error: cannot write receipt file {receipt}: No such file or directory; check that "
        "the folder exists and is writable, or choose another path")
    assert not receipt.parent.exists()


def test_receipt_is_never_half_written_and_leaves_no_temporary_file(logged: Cli,
                                                                   log_key: Path) -> None:
    # A receipt goes to a temporary file, fsynced, then linked in under its name: a kill
    # midway leaves no half-written receipt. What is left is the whole receipt, alone.
    logged.ok("checkpoint", "--key", str(log_key))
    receipt = logged.folder / "one.proof"
    before = set(logged.folder.iterdir())
    logged.ok("prove", "1", "--receipt", str(receipt))
    new = {path for path in set(logged.folder.iterdir()) - before
           if not path.name.startswith(logged.db.name)}  # SQLite's -wal and -shm files
    assert new == {receipt}
    assert logged.ok("check-receipt", str(receipt)).output.startswith(f"ok {receipt}")
    again = logged("prove", "1", "--receipt", str(receipt))
    assert again.exit_code == 2 and f"{receipt} already exists" in again.output
