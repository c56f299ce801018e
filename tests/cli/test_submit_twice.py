"""Submitting a draft whose very step is already recorded says so — "already recorded at
position P (event hash H)" — exits 0 and writes nothing. It used to say the lot "changed since
this event was drafted ... re-draft and sign again": advice that records the step twice."""

from __future__ import annotations

import re

from ledger.application.drafts import format_draft, parse_draft
from tests.cli.test_errors import failing
from tests.cli.test_lifecycle import draft_and_sign
from tests.conftest import TEAM


def _receipt(output: str) -> tuple[str, str]:
    position = re.search(r"at position (\d+)", output).group(1)
    event_hash = re.search(r"event hash ([0-9a-f]{64})", output).group(1)
    return position, event_hash


def test_a_draft_submitted_twice_is_already_recorded_where_it_is(ready, tmp_path):
    path = tmp_path / "handover.draft"
    draft_and_sign(ready, path)
    position, event_hash = _receipt(ready.ok("submit", str(path)).output)
    before = ready.db_digest()

    again = ready.ok("submit", str(path))

    assert again.output == (f"already recorded: lot.handed_over lot:LOT-1 step 2 at position "
                            f"{position} (event hash {event_hash}); nothing was written\n")
    assert ready.db_digest() == before


def test_a_draft_is_recognised_after_the_lot_moved_on(ready, tmp_path):
    path = tmp_path / "handover.draft"
    draft_and_sign(ready, path)
    position, _ = _receipt(ready.ok("submit", str(path)).output)
    ready.ok("record", "handover", "--lot", "LOT-1", "--from", "STF-02", "--to", "STF-03",
             "--seal", "SEAL-1", "--seal", "SEAL-2", "--count", "30", "--location",
             "Secure room 1", "--occurred-at", "2026-06-06T06:20:00+08:00",
             *ready.signing(*TEAM))

    again = ready.ok("submit", str(path))

    assert again.output.startswith(f"already recorded: lot.handed_over lot:LOT-1 step 2 at "
                                   f"position {position} ")


def test_a_signature_not_on_record_is_not_the_same_step(ready, tmp_path):
    path = tmp_path / "handover.draft"
    draft_and_sign(ready, path)
    ready.ok("submit", str(path))
    body, signatures = parse_draft(path.read_bytes(), source=str(path))
    signatures["POL-01"] = bytes(64)  # not the signature the ledger holds
    path.write_text(format_draft(body, signatures), encoding="utf-8")

    failing(ready, 6, "lot:LOT-1 changed since this event was drafted", "submit", str(path))


def test_already_recorded_in_chinese(ready, tmp_path):
    path = tmp_path / "handover.draft"
    draft_and_sign(ready, path)
    ready.ok("submit", str(path))
    again = ready.ok("--lang", "zh", "submit", str(path))
    assert again.output.startswith("已记录过：交接 lot:LOT-1 第 2 步，位置 ")
