"""docs/trust.md lists every finding code with its severity and meaning, exactly as
``ledger/core/findings.py`` defines them, so an auditor reading the page reads what the
verifier reports."""

from __future__ import annotations

import re
from pathlib import Path

from ledger.core.findings import CODES

PAGE = Path(__file__).resolve().parents[2] / "docs/trust.md"
ROW = re.compile(r"^\| `([A-Z_]+)` \| (error|warning) \| (.+) \|$", re.M)


def test_the_findings_table_is_the_verifiers_own():
    rows = {code: (severity, meaning) for code, severity, meaning
            in ROW.findall(PAGE.read_text(encoding="utf-8"))}
    assert rows == {code: (severity.value, str(meaning))
                    for code, (severity, meaning) in CODES.items()}
