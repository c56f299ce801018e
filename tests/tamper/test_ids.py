"""Attacks on ids: a stream that is not the one its body's id names."""

from __future__ import annotations

import pytest

from ledger.application.custody import open_ledger
from ledger.core import canonical, digests
from ledger.core.errors import InputError
from ledger.verify import Verifier
from tests.conftest import TEAM, World
from tests.tamper.attacker import Attacker, error_positions, located, verify

ZWSP = "\u200b"


def _second_registration(attacker: Attacker, day: World, stream: str) -> dict:
    """LOT-1's registration again, re-dated, chained as the first event of ``stream``."""
    body = attacker.row(attacker.position("lot:LOT-1", 1)).body
    body.update(stream=stream, prev=digests.genesis_prev(body["ledger"], stream),
                occurred_at=canonical.format_timestamp(day.clock()))
    return body


def _lots(db) -> list[str]:
    app = open_ledger(str(db))
    try:
        verifier = Verifier(app.recorder)
        verifier.run()
        return sorted(state.lot_id for state in verifier.state.lots.values())
    finally:
        verifier.close()
        app.close()


def test_a_second_lot_registered_under_the_same_id_plus_a_zero_width_space(
        attacker: Attacker, day: World) -> None:
    """The people who registered LOT-1 sign a second registration of "LOT-1", stored under
    lot:LOT-1 followed by a zero-width space, and a handover of it: valid signatures,
    canonical bytes, every column matching the body. Two lots would read "LOT-1"."""
    stream = "lot:LOT-1" + ZWSP
    registered = attacker.forge(_second_registration(attacker, day, stream), day.sign(*TEAM),
                                day.clock())
    handover = attacker.row(attacker.position("lot:LOT-1", 2)).body
    handover.update(stream=stream, prev=attacker.row(registered).event_hash,
                    occurred_at=canonical.format_timestamp(day.clock()))
    handed = attacker.forge(handover, day.sign(*TEAM), day.clock())

    report = verify(attacker.db)

    assert not report.intact
    assert located(report) == {("ENVELOPE_MISMATCH", registered, stream),
                               ("ENVELOPE_MISMATCH", handed, stream)}
    first = next(f for f in report.findings if f.position == registered)
    assert "is not 'lot:LOT-1', the stream its body's id names" in first.message
    assert error_positions(report) == {registered, handed}
    assert _lots(attacker.db) == ["LOT-1", "LOT-2"]  # the second "LOT-1" is never folded


def test_a_lot_registered_under_another_lots_stream(attacker: Attacker, day: World) -> None:
    """A registration of LOT-1, signed as such, stored as the first event of lot:LOT-9."""
    registered = attacker.forge(_second_registration(attacker, day, "lot:LOT-9"),
                                day.sign(*TEAM), day.clock())

    report = verify(attacker.db)

    assert located(report) == {("ENVELOPE_MISMATCH", registered, "lot:LOT-9")}
    assert _lots(attacker.db) == ["LOT-1", "LOT-2"]


def test_the_recorder_refuses_a_registration_under_a_stream_its_id_does_not_name(
        attacker: Attacker, day: World) -> None:
    """The same body, signed, handed to the recorder (what `custody submit` does with a
    draft made by hand): refused before anything is written."""
    body = _second_registration(attacker, day, "lot:LOT-1" + ZWSP)
    signatures = {s.person_id: s.key.sign(digests.signing_digest(body)) for s in day.sign(*TEAM)}
    before = attacker.db.read_bytes()
    app = open_ledger(str(attacker.db), clock=day.clock)
    try:
        with pytest.raises(InputError, match=r"event is not valid: stream 'lot:LOT-1\\u200b' "
                                             r"is not 'lot:LOT-1'"):
            app.submit(body, signatures)
    finally:
        app.close()
    assert attacker.db.read_bytes() == before
