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
                   "--holder", "STF-01", *ready.signing(*TEAM))
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
    failing(ready, 4, "is the key of STF-01, who is not in the authority set (AUTH-01)",
            "person", "enrol", "NEW-01", "--name", "N",
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

    # Spill from the second stream on.
    monkeypatch.setattr(verifier, "resident_for", lambda available: 1)
    monkeypatch.setattr(tempfile, "tempdir", "/nonexistent-scratch")
    failing(ready, 2, "cannot write scratch space in /nonexistent-scratch", "verify",
            "--workers", "1")


def lose_the_worker(*args):
    os._exit(3)


def test_a_lost_verification_worker_is_one_line(ready, monkeypatch):
    from ledger.verify import verifier

    monkeypatch.setattr(verifier, "prepare_packed_with", lose_the_worker)
    failing(ready, 2, "a verification worker process stopped unexpectedly", "verify",
            "--workers", "2")


P = 2**255 - 19
# Public keys enrolment refuses, each with the reason the error gives.
REFUSED_PUBLIC_KEYS = {
    "identity point": ((1).to_bytes(32, "little"), "it is a point of small order"),
    "identity, x = 0 with the sign bit set": ((1 | 1 << 255).to_bytes(32, "little"),
                                              "it is a point of small order"),
    "y = p + 1, aliasing the identity": ((P + 1).to_bytes(32, "little"),
                                         "not below 2^255-19 (a non-canonical encoding)"),
}


def refused_pub(cli, name: str) -> tuple[str, str]:
    raw, why = REFUSED_PUBLIC_KEYS[name]
    path = cli.folder / "refused.pub"
    path.write_text(f"custody-ed25519 {raw.hex()}\n")
    return str(path), why


@pytest.mark.parametrize("name", REFUSED_PUBLIC_KEYS)
def test_enrolling_a_small_order_or_non_canonical_key_is_refused(ready, name):
    path, why = refused_pub(ready, name)
    line = failing(ready, 2, why, "person", "enrol", "NEW-01", "--name", "N", "--role",
                   "police", "--unit", "U", "--public-key", path, *ready.authority())
    assert f"public key file {path}: public key " in line and "custody keys new" in line


@pytest.mark.parametrize("name", REFUSED_PUBLIC_KEYS)
def test_rotating_to_a_small_order_or_non_canonical_key_is_refused(ready, name):
    path, why = refused_pub(ready, name)
    failing(ready, 2, why, "person", "rotate", "POL-01", "--public-key", path,
            *ready.authority())


def test_passphrase_file_readable_by_others_is_used_with_a_warning(ready):
    os.chmod(ready.secret("STF-02"), 0o644)
    os.chmod(ready.secret("STF-03"), 0o640)
    result = ready(*ready.handover_args())
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: passphrase file {ready.secret(p)} is readable by group or others "
        f"(mode {mode}); run: chmod 600 {ready.secret(p)}"
        for p, mode in (("STF-02", "644"), ("STF-03", "640"))]
    assert "warning" not in result.stdout


def test_passphrase_file_kept_private_gives_no_warning(ready):
    result = ready(*ready.handover_args())
    assert result.exit_code == 0 and result.stderr == "", result.output


def test_verify_a_lot_that_does_not_exist_is_a_usage_error_not_intact(ready):
    """A typo in --lot used to check nothing and say intact."""
    failing(ready, 2, "unknown lot LOT-L; did you mean LOT-1?", "verify", "--lot", "LOT-L",
            "--workers", "1")
    line = failing(ready, 2, "unknown lot NOTHING-LIKE-IT;", "verify", "--lot",
                   "NOTHING-LIKE-IT", "--workers", "1")
    assert "'custody status' lists the lots" in line
    assert ready("verify", "--lot", "LOT-L", "--json", "--workers", "1").stdout == ""
    assert ready("verify", "--lot", "LOT-1", "--workers", "1").exit_code == 0


def test_verify_since_past_the_end_of_the_log_is_a_usage_error_not_intact(ready):
    """The ready ledger's last position is 12 (genesis, ten enrolments, LOT-1)."""
    failing(ready, 2, "--since 13 is past the end of the log (its last position is 12)",
            "verify", "--since", "13", "--workers", "1")
    failing(ready, 2, "--since 99999 is past the end of the log", "verify", "--since", "99999",
            "--json", "--workers", "1")
    assert ready("verify", "--since", "12", "--workers", "1").exit_code == 0


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_outside_the_years_one_to_9999_in_utc_is_a_usage_error(ready, when):
    """It used to end in an OverflowError traceback."""
    for args in (["verify", "--as-of", when, "--workers", "1"],
                 ["record", "handover", "--lot", "LOT-1", "--from", "STF-01", "--to", "STF-02",
                  "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30", "--location", "X",
                  "--occurred-at", when, *ready.signing(*TEAM)]):
        failing(ready, 2, f"time '{when}' lies outside the years 0001-9999 in UTC", *args)
