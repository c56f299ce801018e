"""Key-file mistakes named as such, each with its own line, exit 4, nothing written, and never
the file's contents: a public key where a private one goes (it used to say "readable by
others; chmod 600" of a .pub), a private key where a public one goes, a passphrase file
given as a key and a key given as a passphrase file (which used to read as a wrong
passphrase), and the key of someone other than the one the step names."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.conftest import TEAM


def refused(cli: Cli, *args: str) -> str:
    before = cli.db_digest()
    result = cli(*args)
    assert result.exit_code == 4, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert cli.db_digest() == before
    assert "passphrase of" not in result.output and "BEGIN" not in result.output
    return lines[0]


def _handover_signed_with(cli: Cli, *signing: str) -> list[str]:
    args = cli.handover_args(team=[])
    return [*args, *signing]


def test_a_public_key_given_to_sign_is_named_not_chmod_advice(ready):
    pub = ready.key("POL-01") + ".pub"
    line = refused(ready, *_handover_signed_with(ready, "--sign", pub))
    assert line == (f"error: {pub} is a public key file; a private key file is needed here: "
                    f"give {ready.key('POL-01')}")
    assert "chmod" not in line


def test_a_passphrase_file_given_as_a_key_is_named(ready):
    secret = ready.secret("POL-01")
    line = refused(ready, *_handover_signed_with(ready, "--sign", secret))
    assert line == (f"error: {secret} holds one line of text, like a passphrase file, not a "
                    f"key file: give the key file here, and {secret} with --passphrase-file")


def test_a_key_given_as_a_passphrase_file_is_named_not_a_wrong_passphrase(ready):
    line = refused(ready, *_handover_signed_with(
        ready, "--sign", ready.key("POL-01"), "--passphrase-file", ready.key("POL-02")))
    assert line == (f"error: {ready.key('POL-02')} is a key file, not a passphrase file: give "
                    "it as the key, and the file holding its passphrase with --passphrase-file")


def test_a_public_key_given_as_a_passphrase_file_is_named_without_a_chmod_warning(ready):
    pub = ready.key("POL-02") + ".pub"
    line = refused(ready, *_handover_signed_with(
        ready, "--sign", ready.key("POL-01"), "--passphrase-file", pub))
    assert line == f"error: {pub} is a public key file, not a passphrase file"


def test_a_private_key_given_where_a_public_key_goes_is_named(ready):
    key = ready.key("POL-01")
    line = refused(ready, "person", "rotate", "POL-01", "--public-key", key, *ready.authority())
    assert line == (f"error: {key} is a private key file; a public key is needed here: "
                    f"give {key}.pub")


def test_an_authority_key_of_someone_outside_the_authority_set_is_named(ready):
    """No passphrase is asked for (none is given): the key file's header says whose it is."""
    line = refused(ready, "person", "revoke", "STF-04", "--reason", "lost",
                   "--authority-key", ready.key("STF-01"))
    assert line == (f"error: {ready.key('STF-01')} is the key of STF-01, who is not in the "
                    "authority set (AUTH-01)")


def test_signing_a_draft_with_the_key_of_someone_not_present_is_named(ready, tmp_path):
    draft = tmp_path / "step.draft"
    ready.ok("draft", "handover", "--lot", "LOT-1", "--from", "STF-01", "--to", "STF-02",
             "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30", "--location", "Room 1",
             "--occurred-at", "2026-06-06T06:10:00+08:00",
             *[a for p in TEAM for a in ("--attendee", p)], "--out", str(draft))
    before = draft.read_bytes()
    line = refused(ready, "sign", str(draft), "--key", ready.key("INS-01"), "--yes")
    assert line == (f"error: {ready.key('INS-01')} is the key of INS-01, who is not among "
                    "this step's attendees (POL-01, POL-02, STF-01, STF-02, STF-03, STF-04)")
    assert draft.read_bytes() == before
