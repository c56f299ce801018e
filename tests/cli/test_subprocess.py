"""The installed command in a real subprocess: entry points, exit codes, stderr."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

CUSTODY = shutil.which("custody") or str(Path(sys.executable).parent / "custody")


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def test_console_script_and_python_dash_m_show_help():
    for command in ([CUSTODY, "--help"], [sys.executable, "-m", "cli", "--help"]):
        result = run(*command)
        assert result.returncode == 0 and "Exit codes" in result.stdout


def test_verify_in_a_subprocess_exits_0_then_1_after_tampering(ready):
    assert run(CUSTODY, "--db", str(ready.db), "verify").returncode == 0
    with sqlite3.connect(ready.db) as conn:
        conn.execute("UPDATE stored_events SET state = CAST(state || x'00' AS BLOB) WHERE rowid = 12")
    result = run(CUSTODY, "--db", str(ready.db), "verify")
    assert result.returncode == 1
    assert "NON_CANONICAL" in result.stdout and "position 12 lot:LOT-1" in result.stdout


def test_usage_error_exits_2_with_one_line_on_stderr(tmp_path):
    result = run(CUSTODY, "--db", str(tmp_path / "none.db"), "verify")
    assert result.returncode == 5
    assert result.stderr.strip().splitlines() == [
        f"error: no ledger at {tmp_path / 'none.db'}; run 'custody init' first, or pass --db / set CUSTODY_DB"]
    assert run(CUSTODY, "record", "handover").returncode == 2


def _refused(result, message):
    """Exit 2, and one line on stderr that starts with ``message``."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert result.stdout == ""


def test_invalid_utf8_in_an_argument_is_one_usage_line_and_writes_nothing(ready):
    """Linux hands undecodable argv bytes to Python as lone surrogates; they once reached the
    encoder and ended in a UnicodeEncodeError traceback."""
    before = ready.db_digest()
    db = str(ready.db).encode()
    args = [arg.encode() for arg in ready.handover_args()]
    location = args.index(b"--location") + 1
    for option, index, bad in [(b"--location", location, b"Secure room \xff1"),
                               (b"--lot", args.index(b"--lot") + 1, b"LOT-\xc3\x281")]:
        hostile = list(args)
        hostile[index] = bad
        result = run(CUSTODY.encode(), b"--db", db, *hostile)
        position = 2 + index + 1  # counted from 1, after --db DB
        _refused(result, f"error: argument {position} ({option.decode()}) is not valid UTF-8: "
                         f"{bad!r}; give every argument as UTF-8 text")
    enrol = run(CUSTODY.encode(), b"--db", db, b"person", b"enrol", b"NEW-01", b"--name", b"N",
                b"--role", b"staff", b"--unit=City \xfe PSB", b"--public-key", b"x.pub",
                b"--authority-key", b"a.key")
    _refused(enrol, "error: argument 10 (--unit) is not valid UTF-8: b'--unit=City \\xfe PSB'")
    _refused(run(CUSTODY.encode(), b"--db", db, b"history", b"LOT\xff"),
             "error: argument 4 is not valid UTF-8: b'LOT\\xff'")
    assert ready.db_digest() == before


def test_an_empty_time_is_a_usage_error_not_now(ready):
    """`status --as-of ''` was read as no time at all: the state now, not an error."""
    db = str(ready.db)
    for command in (["status"], ["verify"]):
        _refused(run(CUSTODY, "--db", db, *command, "--as-of", ""),
                 "error: --as-of: time '' is not RFC 3339 with an offset, "
                 "e.g. 2026-06-07T08:30:00+08:00")
    before = ready.db_digest()
    _refused(run(CUSTODY, "--db", db, *ready.handover_args(**{"--occurred-at": ""})),
             "error: --occurred-at: time '' is not RFC 3339 with an offset")
    _refused(run(CUSTODY, "--db", db, "person", "enrol", "STF-01", "--name", "N", "--role",
                 "staff", "--unit", "U", "--public-key", ready.key("STF-01") + ".pub",
                 "--valid-until", "", *ready.authority()),
             "error: --valid-until: time '' is not RFC 3339 with an offset")
    assert ready.db_digest() == before
