"""``LedgerState.apply`` returns an Outcome: the findings and what every reader needs about
the step, worked out once (who counted and in which role, who did not and why, the parties,
the lot after it, the place), so that no caller works it out again."""

from __future__ import annotations

from ledger.core import canonical
from ledger.core.state import Event
from tests.conftest import SEALS, TEAM
from tests.unit.test_state_codec import events_of, fold


def test_the_outcome_names_who_counted_who_did_not_and_why_the_parties_and_the_lot(world):
    world.register("LOT-1")
    events = events_of(world)
    state, _ = fold(events)
    body = world.app.draft_step(
        "lot:LOT-1", "lot.handed_over", {"from": "STF-01", "to": "STF-02",
                                         "seals_checked": SEALS, "count_checked": 30},
        "Secure room 1", [*TEAM, "STF-05"], world.clock.now)
    signatures = {s.person_id: world.app.sign(body, s) for s in world.sign(*TEAM)}
    outcome = state.apply(Event(events[-1].position + 1, body, signatures, "",
                                canonical.format_timestamp(world.clock.now)))
    assert outcome.counted == {"POL-01": "police", "POL-02": "police", "STF-01": "staff",
                               "STF-02": "staff", "STF-03": "staff", "STF-04": "staff"}
    assert outcome.uncounted == {"STF-05": "ATTENDEE_UNSIGNED"}
    assert [f.code for f in outcome.findings] == ["ATTENDEE_UNSIGNED"]
    assert (outcome.released, outcome.received) == ("STF-01", "STF-02")
    assert outcome.lot is not None and (outcome.lot.holder, outcome.lot.steps) == ("STF-02", 2)  # registered, handed over
    assert outcome.place is None and not outcome.short and outcome.shortfalls == []


def test_a_step_short_of_the_policy_says_what_was_missing(world):
    world.register("LOT-1")
    events = events_of(world)
    state, _ = fold(events)
    team = TEAM[:5]  # one staff member short
    body = world.app.draft_step(
        "lot:LOT-1", "lot.handed_over", {"from": "STF-01", "to": "STF-02",
                                         "seals_checked": SEALS, "count_checked": 30},
        "Secure room 1", team, world.clock.now)
    signatures = {s.person_id: world.app.sign(body, s) for s in world.sign(*team)}
    outcome = state.apply(Event(events[-1].position + 1, body, signatures, "",
                                canonical.format_timestamp(world.clock.now)))
    assert outcome.short and outcome.uncounted == {}
    (shortfall,) = outcome.shortfalls
    assert shortfall["needed"] - len(shortfall["counted"]) == 1


def test_a_registration_names_its_first_holder_as_the_party_who_received_the_lot(world):
    world.register("LOT-1", holder="STF-03")
    state, _ = fold(events_of(world)[:-1])
    outcome = state.apply(events_of(world)[-1])
    assert (outcome.released, outcome.received) == (None, "STF-03")
    assert outcome.lot is not None and outcome.lot.holder == "STF-03"
