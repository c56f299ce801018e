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
