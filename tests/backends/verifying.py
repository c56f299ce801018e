"""The auditor's verifier over a ledger file, run both ways the log audit can run: in the
verifying process, and with two workers and the log audit in its helper process
(``ledger/verify/log_helper.py``) on pages of three rows. Both must report the same."""

from __future__ import annotations

from typing import Sequence

from ledger.application.custody import open_ledger
from ledger.core.findings import Finding
from ledger.verify import Verifier
from ledger.verify.log import Evidence


def verified(db: str, evidence: Sequence[Evidence] = ()) -> list[Finding]:
    """Every finding of ``custody verify`` over ``db``, the same both ways."""
    runs = []
    for options in ({}, {"workers": 2, "page_size": 3, "helper_from": 0}):
        reader = open_ledger(db, read_only=True)
        verifier = Verifier(reader.recorder, evidence=list(evidence), **options)
        try:
            runs.append(verifier.run().findings)
        finally:
            verifier.close()
            reader.close()
    in_process, helped = runs
    assert helped == in_process
    return in_process
