"""Every bad input: one line naming what is wrong, a non-zero exit, the ledger unchanged."""

from __future__ import annotations

import os
import sqlite3

import pytest

from tests.conftest import TEAM


def failing(cli, exit_code: int, message: str, *args: str, input: str | None = None) -> str:
    before = cli.db_digest()
    result = cli(*args, input=input)
    assert result.exit_code == exit_code, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert cli.db_digest() == before, "a failed command must leave the ledger as it was"
    return lines[0]


def test_missing_key_file(ready):
    failing(ready, 4, "key file /nonexistent.key not found",
            *ready.handover_args(team=[]), "--sign", "/nonexistent.key")


def test_wrong_passphrase(ready):
    bad = ready.folder / "bad.pass"
    bad.write_text("not the passphrase\n")
    args = ready.handover_args()
    args[args.index(ready.secret("POL-01"))] = str(bad)
    line = failing(ready, 4, "wrong passphrase for key file", *args)
    assert "not the passphrase" not in line and "POL-01.key" in line


def test_unknown_person(ready):
    failing(ready, 2, "unknown person NOBODY (--to)", *ready.handover_args(**{"--to": "NOBODY"}))


@pytest.mark.parametrize("when", ["2026-06-06 06:10", "tomorrow", "2026-06-31T06:10:00+08:00"])
def test_malformed_time(ready, when):
    failing(ready, 2, "--occurred-at", *ready.handover_args(**{"--occurred-at": when}))


def test_duplicate_lot(ready):
    before = ready.db_digest()
    result = ready("lot", "register", "LOT-1", "--exam", "e", "--subject", "s", "--kind",
                   "question_paper", "--count", "1", "--seal", "S", "--location", "X",
                   *ready.signing(*TEAM))
    assert result.exit_code == 2 and "error: lot LOT-1 is already registered" in result.output
    assert ready.db_digest() == before


def test_five_signers_are_refused_with_exit_3(ready):
    failing(ready, 3, "needs 4 staff, has 3 (STF-01, STF-02, STF-03): 1 missing",
            *ready.handover_args(team=TEAM[:5]))


def test_staff_handing_over_a_lot_they_do_not_hold(ready):
    failing(ready, 3, "held by STF-01, not STF-02",
            *ready.handover_args(**{"--from": "STF-02", "--to": "STF-03"},
                                 team=["POL-01", "POL-02", "STF-02", "STF-03", "STF-04", "STF-05"]))


def test_count_must_be_a_positive_integer(ready):
    result = ready(*ready.handover_args(**{"--count": "thirty"}))
    assert result.exit_code == 2 and "'thirty' is not a valid integer" in result.output


def test_unknown_role_is_a_usage_error(ready):
    result = ready("person", "enrol", "X-1", "--name", "X", "--role", "chef", "--unit", "U",
                   "--public-key", ready.key("POL-01") + ".pub", *ready.authority())
    assert result.exit_code == 2 and "'chef' is not one of" in result.output


def test_public_key_of_someone_else(ready):
    failing(ready, 2, "is the public key of POL-01, not NEW-01",
            "person", "enrol", "NEW-01", "--name", "N", "--role", "staff", "--unit", "U",
            "--public-key", ready.key("POL-01") + ".pub", *ready.authority())


def test_malformed_public_key_file(ready):
    bad = ready.folder / "bad.pub"
    bad.write_text("ssh-ed25519 AAAA\n")
    failing(ready, 2, "not a custody public key", "person", "enrol", "NEW-01", "--name", "N",
            "--role", "staff", "--unit", "U", "--public-key", str(bad), *ready.authority())


def test_enrolment_signed_by_a_non_authority(ready):
    ready.ok("keys", "new", "NEW-01", "--out", str(ready.folder / "new.key"), "--no-passphrase")
    failing(ready, 3, "not signed by an authority key", "person", "enrol", "NEW-01", "--name", "N",
            "--role", "police", "--unit", "U", "--public-key", str(ready.folder / "new.key.pub"),
            "--authority-key", ready.key("STF-01"), "--passphrase-file", ready.secret("STF-01"))


def test_invalid_identifier(cli):
    failing(cli, 2, "PERSON_ID: 'bad id' is not an id", "keys", "new", "bad id", "--out",
            str(cli.folder / "x.key"), "--no-passphrase")


def test_overlong_field_is_refused(ready):
    failing(ready, 2, "location:", *ready.handover_args(**{"--location": "x" * 201}))


def test_no_database_yet(cli):
    failing(cli, 5, "no ledger at", "verify")
    failing(cli, 5, "run 'custody init' first", "history", "LOT-1")
    assert not cli.db.exists()


def test_database_that_is_not_a_ledger(cli):
    cli.db.write_bytes(b"garbage" * 1000)
    failing(cli, 5, "custody.db", "verify")


def test_mismatched_passphrase_confirmation_writes_no_key(cli):
    result = cli("keys", "new", "NEW-01", "--out", str(cli.folder / "n.key"),
                 input="first passphrase\nsecond passphrase\n")
    assert result.exit_code != 0 and not (cli.folder / "n.key").exists()


def test_more_passphrase_files_than_keys(ready):
    failing(ready, 2, "give at most one per key",
            *ready.handover_args(), "--passphrase-file", ready.secret("POL-01"))


def test_key_file_readable_by_others_is_refused(ready):
    os.chmod(ready.key("POL-01"), 0o644)
    failing(ready, 4, "chmod 600", *ready.handover_args())


def test_unknown_lot_in_history(ready):
    failing(ready, 2, "unknown lot LOT-404", "history", "LOT-404")


def test_tampered_database_fails_verify_and_names_the_event(ready):
    ready.ok(*ready.handover_args())
    with sqlite3.connect(ready.db) as conn:
        rowid, state = conn.execute(
            "SELECT rowid, state FROM stored_events WHERE originator_id='lot:LOT-1' "
            "AND originator_version=1").fetchone()
        conn.execute("UPDATE stored_events SET state=? WHERE rowid=?",
                     (state.replace(b"gaokao-2026", b"gaokao-2025"), rowid))
    result = ready("verify")
    assert result.exit_code == 1
    assert f"SIGNATURE_INVALID      position {rowid} lot:LOT-1" in result.output
    assert "CHAIN_BROKEN" in result.output and "NOT intact" in result.output


def test_signature_by_a_key_not_in_the_roster_is_a_finding(ready):
    """A row re-signed by an outsider: the verifier names the unknown signer."""
    from ledger.core import canonical, digests
    from ledger.core.keys import SigningKey

    with sqlite3.connect(ready.db) as conn:
        rowid, state = conn.execute(
            "SELECT rowid, state FROM stored_events WHERE originator_id='lot:LOT-1'").fetchone()
        record = canonical.decode(state)
        record["signatures"]["OUTSIDER"] = SigningKey.generate().sign(
            digests.signing_digest(record["body"]))
        conn.execute("UPDATE stored_events SET state=? WHERE rowid=?",
                     (canonical.encode(record), rowid))
    result = ready("verify")
    assert result.exit_code == 1
    assert f"SIGNER_UNKNOWN         position {rowid} lot:LOT-1: OUTSIDER signed" in result.output


def test_verify_without_writable_scratch_space_is_one_line(ready, monkeypatch):
    import tempfile

    from ledger.verify import verifier

    monkeypatch.setattr(verifier, "RESIDENT", 1)  # spill from the second stream on
    monkeypatch.setattr(tempfile, "tempdir", "/nonexistent-scratch")
    failing(ready, 2, "cannot write scratch space in /nonexistent-scratch", "verify",
            "--workers", "1")


def lose_the_worker(*args):
    os._exit(3)


def test_a_lost_verification_worker_is_one_line(ready, monkeypatch):
    from ledger.verify import verifier

    monkeypatch.setattr(verifier, "prepare_chunk", lose_the_worker)
    failing(ready, 2, "a verification worker process stopped unexpectedly", "verify",
            "--workers", "2")
