"""The README's first command: the demo records a whole exam day and ends intact."""

from __future__ import annotations

import sqlite3
import subprocess
import sys


def test_the_demo_records_an_exam_day_that_verifies_intact_and_fails_once_tampered(tmp_path):
    folder = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "cli", "demo", "--dir", str(folder)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("refused, as it should be (exit 3)") for line in lines)
    assert f"intact: {folder / 'custody.db'}: 35 events, 16 streams, 124 signatures verified" in lines
    assert "PRESENCE_CONFLICT" not in result.stdout  # shifts end before people leave the room
    assert "3 lot(s); the ledger is intact" in lines
    with sqlite3.connect(folder / "custody.db") as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = 20")
    again = subprocess.run([sys.executable, "-m", "cli", "--db", str(folder / "custody.db"),
                            "verify"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "POSITION_GAP" in again.stdout


def test_the_demo_refuses_a_folder_that_already_holds_a_ledger(tmp_path):
    (tmp_path / "custody.db").write_bytes(b"")
    result = subprocess.run([sys.executable, "-m", "cli", "demo", "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "already exists; give --dir an empty folder" in result.stderr
