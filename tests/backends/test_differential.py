"""Recorder and verifier give one verdict: a differential property test on both backends.

Hypothesis draws sequences of steps, valid ones and ones that break each rule (a giver who
does not hold the lot, a short team, wrong seals or count, time running backwards, a room
that is not registered, a revoked key, a correction naming a wrong hash), with or without
an acknowledgement. For every step:

- if the recorder accepts it, ``verify`` still reports no error;
- if the recorder refuses it by a rule, that very step appended behind the recorder's back
  makes ``verify`` report an error at its position (then the row is removed again);
- if it is refused as bad input, nothing was written.

``DUTY_UNCOVERED`` is left out of the comparison: it is about time passing with too few
people on duty in a room, not about any step, so no recorder could refuse it.
"""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ledger.application.custody import _event
from ledger.core import canonical
from ledger.core.errors import ConcurrentChange, InputError, KeyringError, PolicyViolation
from ledger.verify import Verifier
from tests.conftest import PEOPLE, SEALS, World

# Shrinking replays steps on a shared ledger, slowly on PostgreSQL; a failure's first
# example (with its steps and the finding) is what a person needs.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target)
PERSONS = sorted(p for p in PEOPLE)
BAD_INPUT: list[str] = []  # why steps were refused as bad input (for a failing run's report)
LOTS = ["LOT-1", "LOT-2"]

step = st.fixed_dictionaries({
    "kind": st.sampled_from(["handover"] * 5 + ["store", "store", "retrieve", "retrieve",
                                                 "correct", "correct", "revoke"]),
    "lot": st.sampled_from(LOTS),
    "honest_giver": st.booleans(),
    "other": st.sampled_from(PERSONS),
    "team": st.lists(st.sampled_from(PERSONS), min_size=3, max_size=8, unique=True),
    "full_team": st.booleans(),  # two police and four staff, giver and receiver among them
    "seals_ok": st.booleans(),
    "count_ok": st.booleans(),
    "minutes": st.integers(min_value=-40, max_value=90),
    "room": st.sampled_from(["SR-3", "SR-3", "SR-X"]),
    "acknowledge": st.booleans(),
    "right_hash": st.booleans(),
    "revoked": st.sampled_from(["POL-03", "STF-06", "INS-01"]),  # not the usual team
})


def errors(world: World) -> list[Any]:
    report = Verifier(world.app.recorder).run()
    return [f for f in report.errors if f.code != "DUTY_UNCOVERED"]


def attempt(world: World, raw, stream: str, event_type: str, fields: dict, team: list[str],
            when, acknowledge: bool) -> str:
    """Draft, sign and submit one step; on a rule's refusal, prove verify would object."""
    app = world.app
    before = raw.count()
    try:
        body = app.draft_step(stream, event_type, fields, "Somewhere", team, when,
                              acknowledge="on record" if acknowledge else None)
        signatures = app._sign_here(body, world.sign(*team))
        app.submit(body, signatures)
    except PolicyViolation:
        assert raw.count() == before
        state, head = app.state()
        recorded_at = canonical.parse_timestamp(app._recorded_at(state))
        app.events.put([_event(body, signatures, recorded_at)])  # behind the recorder's back
        position = raw.positions()[-1]
        found = [f for f in errors(world) if f.position == position]
        raw._query(f"DELETE FROM {raw.table} WHERE {raw.position_column} = ? RETURNING 1",
                   (position,))
        raw.retree()  # the forced row's leaf goes with it
        assert found, f"the recorder refused {event_type}, verify accepts it: {body}"
        return "refused"
    except (InputError, KeyringError, ConcurrentChange) as error:
        assert raw.count() == before
        BAD_INPUT.append(str(error))
        return "bad input"
    assert errors(world) == [], f"the recorder accepted {event_type}, verify objects: {body}"
    return "accepted"


def run_step(world: World, raw, s: dict[str, Any]) -> str:
    app = world.app
    lot = app.lot(s["lot"])
    state = lot.state
    when = max(world.clock.now, canonical.parse_timestamp(state.last_occurred_at)) \
        + timedelta(minutes=s["minutes"])
    world.clock.now = max(world.clock.now, when)
    holder = state.holder if s["honest_giver"] else s["other"]
    seals = list(state.seals) if s["seals_ok"] else ["SEAL-WRONG"]
    count = state.count if s["count_ok"] else state.count + 1
    stream = f"lot:{s['lot']}"
    if s["full_team"]:
        parties = [p for p in (holder, s["other"]) if p and ":" not in p]
        staff = [p for p in parties if PEOPLE[p] == "staff"]
        staff += [p for p in ("STF-01", "STF-02", "STF-03", "STF-04") if p not in staff]
        s = {**s, "team": sorted({"POL-01", "POL-02", *parties, *staff[:4]})}
    if s["kind"] == "handover":
        receiver = s["other"] if s["other"] != holder else "POL-03"
        fields = {"from": holder, "to": receiver, "seals_checked": sorted(seals),
                  "count_checked": count}
        return attempt(world, raw, stream, "lot.handed_over", fields, s["team"], when,
                       s["acknowledge"])
    if s["kind"] == "store":
        fields = {"from": holder, "room": s["room"], "seals_checked": sorted(seals),
                  "count_checked": count}
        return attempt(world, raw, stream, "lot.stored", fields, s["team"], when,
                       s["acknowledge"])
    if s["kind"] == "retrieve":
        room = state.holder[5:] if state.holder and state.holder.startswith("room:") else "SR-3"
        fields = {"room": room, "to": s["other"], "seals_checked": sorted(seals),
                  "count_checked": count}
        return attempt(world, raw, stream, "lot.retrieved", fields, s["team"], when,
                       s["acknowledge"])
    if s["kind"] == "correct":
        target = lot.head if s["right_hash"] else "0" * 64
        fields = {"corrects": {"seq": state.steps, "event_hash": target}, "reason": "recount",
                  "count": count}
        return attempt(world, raw, stream, "lot.corrected", fields, s["team"], when,
                       s["acknowledge"])
    # revoke: an authority event; afterwards the person's signatures no longer count
    before = raw.count()
    try:
        app.revoke_key(s["revoked"], "lost", world.signers["AUTH-01"], world.clock.now)
    except (InputError, KeyringError):
        assert raw.count() == before
        return "bad input"
    assert errors(world) == []
    return "accepted"


@settings(max_examples=12, deadline=None, derandomize=False, phases=PHASES,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_the_recorder_accepts_exactly_what_verify_finds_no_error_in(world: World, raw,
                                                                    steps) -> None:
    if world.app.lot("LOT-1") is None:  # once per test: the examples share one ledger
        for lot_id in LOTS:
            world.register(lot_id)
        world.room("SR-3")
    outcomes = [run_step(world, raw, s) for s in steps]
    assert set(outcomes) <= {"accepted", "refused", "bad input"}


def test_every_kind_of_outcome_happens(world: World, raw) -> None:
    """The property above is not vacuous: the same machinery sees all three outcomes."""
    for lot_id in LOTS:
        world.register(lot_id)
    world.room("SR-3")
    base = {"lot": "LOT-1", "honest_giver": True, "other": "STF-02",
            "team": ["POL-01", "POL-02", "STF-01", "STF-02", "STF-03", "STF-04"],
            "seals_ok": True, "count_ok": True, "minutes": 5, "room": "SR-3",
            "acknowledge": False, "right_hash": True, "full_team": False, "revoked": "POL-03"}
    assert run_step(world, raw, {**base, "kind": "handover"}) == "accepted"
    assert run_step(world, raw, {**base, "kind": "handover", "count_ok": False}) == "refused"
    assert run_step(world, raw, {**base, "kind": "handover", "count_ok": False,
                                 "acknowledge": True}) == "accepted"
    assert run_step(world, raw, {**base, "kind": "correct", "right_hash": False}) == "refused"
    assert run_step(world, raw, {**base, "kind": "store", "room": "SR-X"}) == "refused"
    assert run_step(world, raw, {**base, "kind": "handover",
                                 "team": ["POL-01", "STF-09"]}) == "bad input"
