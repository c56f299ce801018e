"""No terminal, no surprise: run with no controlling terminal and stdin from /dev/null (a
script, cron, CI), every prompt fails with one `error:` line naming the option that avoids
it. `sign` used to print Python's GetPassWarning and end in click's bare "Aborted!"."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ledger.application.keystore import write_key_pair
from tests.cli.test_lifecycle import HANDOVER, attendees
from tests.cli.test_subprocess import CUSTODY
from tests.conftest import TEAM, fixed_key


def without_terminal(*args: str, env: dict[str, str] | None = None, stdin: str | None = None
                     ) -> subprocess.CompletedProcess[str]:
    """``custody ARGS`` in a new session (so no controlling terminal, /dev/tty refused)."""
    return subprocess.run([CUSTODY, *args], capture_output=True, text=True, timeout=120,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                          start_new_session=True, env={**os.environ, **(env or {})})


def one_error_line(run: subprocess.CompletedProcess[str], code: int) -> str:
    assert run.returncode == code, (run.returncode, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for noise in ("Warning", "GetPassWarning", "Aborted!", "Traceback"):
        assert noise not in run.stderr
    return lines[0]


def _draft(ready, tmp_path: Path) -> Path:
    path = tmp_path / "handover.draft"
    ready.ok("draft", "handover", *HANDOVER, *attendees(*TEAM), "--out", str(path))
    return path


def test_sign_without_a_terminal_names_yes_instead_of_aborted(ready, tmp_path):
    draft = _draft(ready, tmp_path)
    before = draft.read_bytes()
    for stdin in (None, "y\n"):  # nobody to read the step: a piped "y" is no answer either
        run = without_terminal("--db", str(ready.db), "sign", str(draft), "--key",
                               ready.key("POL-01"), "--passphrase-file",
                               ready.secret("POL-01"), stdin=stdin)
        assert one_error_line(run, 2) == (
            "error: no terminal to ask 'Sign this as POL-01?': give --yes to answer yes")
    assert draft.read_bytes() == before


def test_sign_without_a_terminal_or_passphrase_file_names_passphrase_file(ready, tmp_path):
    draft = _draft(ready, tmp_path)
    run = without_terminal("--db", str(ready.db), "sign", str(draft), "--key",
                           ready.key("POL-01"), "--yes")
    assert one_error_line(run, 4) == (
        f"error: no terminal to ask 'Passphrase for {ready.key('POL-01')} (POL-01)': give "
        "--passphrase-file FILE (its first line is the passphrase)")


def test_keys_new_without_a_terminal_names_passphrase_file_and_writes_nothing(tmp_path):
    out = tmp_path / "p001.key"
    run = without_terminal("keys", "new", "P-001", "--out", str(out), stdin="typed\n")
    assert one_error_line(run, 4) == (
        "error: no terminal to ask 'New passphrase for P-001': give --passphrase-file FILE "
        "(its first line is the passphrase)")
    assert list(tmp_path.iterdir()) == []


def test_recording_without_a_terminal_names_passphrase_file_and_writes_nothing(ready):
    before = ready.db_digest()
    args = [a for a in ready.handover_args() if not a.endswith(".pass")
            and a != "--passphrase-file"]
    run = without_terminal("--db", str(ready.db), *args)
    assert "give --passphrase-file FILE" in one_error_line(run, 4)
    assert ready.db_digest() == before


def test_a_log_key_without_a_terminal_names_its_passphrase_variable(ready, tmp_path):
    log_key = tmp_path / "log.key"
    write_key_pair(log_key, "cli-ledger", fixed_key("LOG"), b"log passphrase")
    run = without_terminal("--db", str(ready.db), *ready.handover_args(),
                           env={"CUSTODY_LOG_KEY": str(log_key)})
    assert one_error_line(run, 4) == (
        f"error: no terminal to ask 'Passphrase for log key {log_key}': give "
        "CUSTODY_LOG_KEY_PASSPHRASE_FILE=FILE (its first line is the passphrase)")
    checkpoint = without_terminal("--db", str(ready.db), "checkpoint", "--key", str(log_key))
    assert "give --passphrase-file FILE" in one_error_line(checkpoint, 4)


def test_sign_with_no_answer_at_the_prompt_names_yes(ready, tmp_path):
    """At a terminal (click's runner types for it), an empty answer — Ctrl-D — is one error
    line too, not click's bare "Aborted!"."""
    draft = _draft(ready, tmp_path)
    before = draft.read_bytes()
    result = ready("sign", str(draft), "--key", ready.key("POL-01"), "--passphrase-file",
                   ready.secret("POL-01"), input="")
    assert result.exit_code == 2
    assert result.stderr == ("Sign this as POL-01? [y/N]: \nerror: no answer to 'Sign this as "
                             "POL-01?': answer y or n, or give --yes\n")
    assert draft.read_bytes() == before
