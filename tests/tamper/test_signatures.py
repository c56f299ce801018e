"""Attacks that move valid signatures to where they were never given."""

from __future__ import annotations

from tests.conftest import TEAM, World
from tests.tamper.attacker import Attacker, error_positions, located, signers_failing, verify


def test_replay_an_old_signature_on_a_new_event(attacker: Attacker, day: World) -> None:
    """POL-02 will not sign a new handover, so their signature from an earlier step is
    lifted and attached to it; the other five sign for real."""
    old = attacker.row(attacker.position("lot:LOT-1", 2))
    body = attacker.draft_handover("lot:LOT-1", "STF-03", "STF-04", day.clock())
    others = [p for p in TEAM if p != "POL-02"]
    forged = attacker.forge(body, day.sign(*others), day.clock(),
                            replayed={"POL-02": old.record["signatures"]["POL-02"]})

    report = verify(attacker.db)

    assert not report.intact
    assert signers_failing(report, forged) == {"POL-02"}
    assert ("SIGNATURE_INVALID", forged, "lot:LOT-1") in located(report)
    assert ("PRESENCE_SHORT", forged, "lot:LOT-1") in located(report)  # one police counted
    assert "CHAIN_BROKEN" not in {f.code for f in report.findings}
    assert error_positions(report) == {forged}


def test_swap_signatures_between_two_events(attacker: Attacker) -> None:
    """Two handovers with the same six people present exchange their signature maps."""
    one, other = attacker.position("lot:LOT-1", 2), attacker.position("lot:LOT-2", 2)
    first, second = attacker.row(one).record["signatures"], attacker.row(other).record["signatures"]
    assert set(first) == set(second) == set(TEAM)
    attacker.rewrite(one, lambda record: record.update(signatures=second))
    attacker.rewrite(other, lambda record: record.update(signatures=first))

    report = verify(attacker.db)

    assert not report.intact
    assert signers_failing(report, one) == set(TEAM)
    assert signers_failing(report, other) == set(TEAM)
    assert ("CHAIN_BROKEN", one + 1, "lot:LOT-1") in located(report)
    assert ("CHAIN_BROKEN", other + 1, "lot:LOT-2") in located(report)
    assert error_positions(report) == {one, one + 1, other, other + 1}


def test_add_a_signature_from_a_revoked_key(attacker: Attacker, day: World) -> None:
    """STF-04's key is revoked on record; whoever still holds it signs a new handover."""
    from ledger.application.custody import open_ledger

    app = open_ledger(str(day.db), clock=day.clock)
    app.revoke_key("STF-04", "key file reported stolen", day.signers["AUTH-01"], day.clock())
    app.close()
    body = attacker.draft_handover("lot:LOT-1", "STF-03", "STF-04", day.clock())
    forged = attacker.forge(body, day.sign(*TEAM), day.clock())

    report = verify(attacker.db)

    assert not report.intact
    assert ("KEY_REVOKED", forged, "lot:LOT-1") in located(report)
    assert ("PRESENCE_SHORT", forged, "lot:LOT-1") in located(report)  # three staff counted
    assert error_positions(report) == {forged}
