"""The auditor's view of an attack: ``custody verify`` exits 1 and names what it found."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from tests.tamper.attacker import Attacker
from tests.tamper.test_edits import COUNT_30

CUSTODY = Path(sys.executable).parent / "custody"


def reported(output: str, code: str, position: int, stream: str = "") -> bool:
    """Whether the text report has an error line for ``code`` at ``position`` (and stream)."""
    line = rf"^ERROR\s+{code}\s+position {position} {re.escape(stream)}\s*:"
    return re.search(line, output, re.MULTILINE) is not None


def test_edit_one_field_is_reported_by_custody_verify(attacker: Attacker) -> None:
    step = attacker.position("lot:LOT-1", 2)
    attacker.set_state(step, attacker.row(step).state.replace(COUNT_30, b"\xadcount_checked\x1d"))
    runner = CliRunner()

    text = runner.invoke(main, ["--db", str(attacker.db), "verify", "--workers", "1"])
    as_json = runner.invoke(main, ["--db", str(attacker.db), "verify", "--json", "--workers", "1"])

    assert text.exit_code == 1, text.output
    assert reported(text.stdout, "SIGNATURE_INVALID", step, "lot:LOT-1")
    assert reported(text.stdout, "CHAIN_BROKEN", step + 1, "lot:LOT-1")
    assert text.stdout.rstrip().splitlines()[-1].startswith("NOT intact:")
    assert as_json.exit_code == 1, as_json.output
    data = json.loads(as_json.stdout)
    assert data["intact"] is False
    found = {(f["code"], f["position"], f["stream"]) for f in data["findings"]}
    assert ("SIGNATURE_INVALID", step, "lot:LOT-1") in found
    assert ("CHAIN_BROKEN", step + 1, "lot:LOT-1") in found


def test_delete_an_event_is_reported_by_the_custody_command(attacker: Attacker) -> None:
    """The installed console script, in its own process, with its default options."""
    step = attacker.position("lot:LOT-1", 2)
    attacker.delete(step)

    done = subprocess.run([str(CUSTODY), "--db", str(attacker.db), "verify"],
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 1, done.stderr
    assert reported(done.stdout, "POSITION_GAP", step + 1)
    assert f"log jumps from position {step - 1} to {step + 1}" in done.stdout
    assert reported(done.stdout, "CHAIN_BROKEN", step + 1, "lot:LOT-1")
    assert done.stdout.rstrip().splitlines()[-1].startswith("NOT intact:")
