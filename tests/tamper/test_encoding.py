"""Attacks on the stored bytes and the library's columns around them."""

from __future__ import annotations

import msgpack
import pytest

from ledger.core import canonical
from ledger.core.errors import NonCanonical
from tests.tamper.attacker import Attacker, error_positions, located, verify
from tests.tamper.test_edits import COUNT_30


def assert_same_value_other_bytes(original: bytes, tampered: bytes) -> None:
    assert tampered != original
    assert msgpack.unpackb(tampered) == msgpack.unpackb(original)
    with pytest.raises(NonCanonical):
        canonical.decode(tampered)


def test_store_an_event_with_unsorted_keys(attacker: Attacker) -> None:
    step = attacker.position("lot:LOT-1", 2)
    original = attacker.row(step).state
    value = msgpack.unpackb(original)
    value["body"] = dict(reversed(value["body"].items()))
    tampered = msgpack.packb(value)
    assert_same_value_other_bytes(original, tampered)
    attacker.set_state(step, tampered)

    report = verify(attacker.db)

    assert not report.intact
    assert ("NON_CANONICAL", step, "lot:LOT-1") in located(report)
    # The event hash is over the stored bytes, so the next step no longer follows it; the
    # chain went on from the unreadable row, which the finding names.
    assert ("CHAIN_BROKEN", step + 1, "lot:LOT-1") in located(report)
    (broken,) = [f for f in report.findings if f.code == "CHAIN_BROKEN"]
    assert broken.evidence["previous_position"] == step
    assert error_positions(report) == {step, step + 1}


def test_store_an_event_with_a_non_minimal_integer(attacker: Attacker) -> None:
    """The count 30 is spelled as a uint8 (0xcc 0x1e) instead of a positive fixint."""
    step = attacker.position("lot:LOT-1", 2)
    original = attacker.row(step).state
    tampered = original.replace(COUNT_30, b"\xadcount_checked\xcc\x1e")
    assert_same_value_other_bytes(original, tampered)
    attacker.set_state(step, tampered)

    report = verify(attacker.db)

    assert not report.intact
    (finding,) = [f for f in report.findings if f.position == step]
    assert (finding.code, finding.stream) == ("NON_CANONICAL", "lot:LOT-1")
    assert ("CHAIN_BROKEN", step + 1, "lot:LOT-1") in located(report)


def test_store_an_event_under_another_topic(attacker: Attacker) -> None:
    """A handover's topic column is changed to the registration class."""
    step = attacker.position("lot:LOT-1", 2)
    attacker.set_column(step, "topic", attacker.row(attacker.position("lot:LOT-1", 1)).topic)

    report = verify(attacker.db)

    assert not report.intact
    (finding,) = [f for f in report.findings if f.position == step]
    assert (finding.code, finding.stream) == ("ENVELOPE_MISMATCH", "lot:LOT-1")
    assert "lot.handed_over" in finding.message
    assert min(error_positions(report)) == step
    assert "CHAIN_BROKEN" not in {f.code for f in report.findings}  # the bytes are untouched


def test_store_an_event_under_another_stream(attacker: Attacker) -> None:
    """LOT-1's last handover is moved, by its originator_id column, to a lot that never was."""
    step = attacker.position("lot:LOT-1", 3)
    attacker.set_column(step, "originator_id", "lot:LOT-9")

    report = verify(attacker.db)

    assert not report.intact
    (finding,) = report.findings
    assert (finding.code, finding.position, finding.stream) == (
        "ENVELOPE_MISMATCH", step, "lot:LOT-9")
    assert "lot:LOT-1" in finding.message


@pytest.mark.parametrize(
    "garbage",
    [b"\xc1 not msgpack at all", "typed into sqlite3 as text", None],
    ids=["bytes", "text", "null"],
)
def test_replace_a_stored_state_with_garbage(attacker: Attacker, garbage: object) -> None:
    step = attacker.position("lot:LOT-1", 2)
    attacker.set_state(step, garbage)

    report = verify(attacker.db)

    assert not report.intact
    (finding,) = [f for f in report.findings if f.position == step]
    assert (finding.code, finding.stream) == ("NON_CANONICAL", "lot:LOT-1")
    assert ("CHAIN_BROKEN", step + 1, "lot:LOT-1") in located(report)
    assert "lot:LOT-2" not in {f.stream for f in report.findings}
