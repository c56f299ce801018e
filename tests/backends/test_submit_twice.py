"""The same signed step submitted twice is recorded once, on both backends: the second submit
returns the stored step's receipt, marked already recorded, and writes nothing."""

from __future__ import annotations

from tests.conftest import SEALS, TEAM


def test_the_same_step_submitted_twice_returns_its_receipt_and_writes_nothing(world):
    world.register("LOT-1")
    app = world.app
    fields = {"from": "STF-01", "to": "STF-02", "seals_checked": SEALS, "count_checked": 30}
    body = app.draft_step("lot:LOT-1", "lot.handed_over", fields, "Secure room 1", TEAM,
                          world.clock.now)
    signatures = {s.person_id: app.sign(body, s) for s in world.sign(*TEAM)}
    first = app.submit(body, signatures)
    head = app.last_position()

    again = app.submit(body, signatures)

    assert again.already_recorded and not first.already_recorded
    assert (again.position, again.event_hash, again.seq) == (first.position, first.event_hash, 2)
    assert app.last_position() == head
