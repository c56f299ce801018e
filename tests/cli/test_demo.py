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
    assert f"intact: {folder / 'custody.db'}: 36 events, 16 streams, 125 signatures verified" in lines
    # The log's checkpoint, the report and an evidence bundle verified offline.
    assert "gd-gaokao-2026" in lines and "36" in lines  # the checkpoint's origin and size
    assert any(line.startswith(f"wrote {folder / 'report.html'}: 3 lot(s), 1 secure room(s), "
                               "0 finding(s); the ledger is intact") for line in lines)
    assert (folder / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert any(line.startswith("checkpoint: gd-gaokao-2026, 36 events, root ") and
               line.endswith("30 of 30 inclusion proofs verified") for line in lines)
    assert (f"intact: bundle {folder / 'MATH-A-0001.bundle'}: 30 events, 14 streams, "
            "94 signatures verified") in lines
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
