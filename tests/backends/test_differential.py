"""Recorder and verifier give one verdict: a differential property test on both backends.

Hypothesis draws sequences of steps, valid ones and ones that break each rule (a giver who
does not hold the lot, a short team, wrong seals or count, time running backwards, a room
that is not registered, a revoked key, a correction naming a wrong hash), with or without
an acknowledgement, at registered places that are apart or within one site or at free text,
and duty shifts starting and ending in the room the lots are stored in. For every step:

- if the recorder accepts it, the warnings it records the step with are exactly the findings
  ``verify`` reports at the step's position, in order (a duty gap the step opens, presence
  conflicts, acknowledged violations, corrections), and ``verify`` reports no other error;
- if the recorder refuses it by a rule, that very step appended behind the recorder's back
  makes ``verify`` report an error at its position (then the row is removed again);
- if it is refused as bad input, nothing was written.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ledger.application.custody import Receipt
from ledger.application.submitting import _event
from ledger.core import canonical
from ledger.core.errors import ConcurrentChange, InputError, KeyringError, PolicyViolation
from ledger.verify import Verifier
from tests.conftest import PEOPLE, World

# Shrinking replays steps on a shared ledger, slowly on PostgreSQL; a failure's first
# example (with its steps and the finding) is what a person needs.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target)
PERSONS = sorted(p for p in PEOPLE)
BAD_INPUT: list[str] = []  # why steps were refused as bad input (for a failing run's report)
LOTS = ["LOT-1", "LOT-2"]
# Two buildings apart, a room within the first, and the institute holding the secure room;
# None: a free-text location only.
PLACES = [None, None, "site:A", "site:A-R1", "site:B", "site:CEI"]
# Findings about the log, not about a step (a PostgreSQL position skipped by a removed row).
LOG_CODES = frozenset({"POSITION_SKIPPED", "POSITION_GAP"})

step = st.fixed_dictionaries({
    "kind": st.sampled_from(["handover"] * 5 + ["store", "store", "retrieve", "retrieve",
                                                 "correct", "correct", "revoke", "duty start",
                                                 "duty start", "duty end", "duty end"]),
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
    "place": st.sampled_from(PLACES),
    "duty": st.lists(st.sampled_from(PERSONS), min_size=1, max_size=5, unique=True),
})


def setting(world: World) -> None:
    """The lots, the secure room within the institute, and the sites steps happen at."""
    for lot_id in LOTS:
        world.register(lot_id)
    for site_id, within in (("A", None), ("A-R1", "A"), ("B", None), ("CEI", None)):
        world.site(site_id, within)
    world.room("SR-3", within="CEI")


def verdict_at(world: World, position: int | None) -> tuple[list[tuple[str, str]], list[Any]]:
    """What verify reports at ``position`` (code and message, in order), and every error it
    reports that no recorder could have refused (a duty gap is recorded with a warning)."""
    report = Verifier(world.app.recorder).run()
    at = [(f.code, str(f.message)) for f in report.findings
          if f.position == position and f.code not in LOG_CODES]
    return at, [f for f in report.errors if f.code != "DUTY_UNCOVERED"]


def said(receipt: Receipt) -> list[tuple[str, str]]:
    return [(w.code, str(w.message)) for w in receipt.warnings]


def accepted(world: World, receipt: Receipt, what: str) -> str:
    at, errors = verdict_at(world, receipt.position)
    assert errors == [], f"the recorder accepted {what}, verify objects: {errors}"
    assert said(receipt) == at, f"{what}: the recorder said {said(receipt)}, verify says {at}"
    return "accepted"


def attempt(world: World, raw, stream: str, event_type: str, fields: dict, team: list[str],
            when, acknowledge: bool, place: str | None, location: str = "Somewhere") -> str:
    """Draft, sign and submit one step; on a rule's refusal, prove verify would object."""
    app = world.app
    before = raw.count()
    try:
        body = app.draft_step(stream, event_type, fields, location, team, when,
                              acknowledge="on record" if acknowledge else None, place=place)
        signatures = app._sign_here(body, world.sign(*team))
        receipt = app.submit(body, signatures)
    except PolicyViolation:
        assert raw.count() == before
        state, head = app.state()
        recorded_at = canonical.parse_timestamp(app._recorded_at(state))
        app.events.put([_event(body, signatures, recorded_at)])  # behind the recorder's back
        position = raw.positions()[-1]
        found = [f for f in Verifier(app.recorder).run().errors
                 if f.position == position and f.code != "DUTY_UNCOVERED"]
        raw._query(f"DELETE FROM {raw.table} WHERE {raw.position_column} = ? RETURNING 1",
                   (position,))
        raw.retree()  # the forced row's leaf goes with it
        assert found, f"the recorder refused {event_type}, verify accepts it: {body}"
        return "refused"
    except (InputError, KeyringError, ConcurrentChange) as error:
        assert raw.count() == before
        BAD_INPUT.append(str(error))
        return "bad input"
    return accepted(world, receipt, f"{event_type} {body}")


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
                       s["acknowledge"], s["place"])
    if s["kind"] == "store":
        fields = {"from": holder, "room": s["room"], "seals_checked": sorted(seals),
                  "count_checked": count}
        return attempt(world, raw, stream, "lot.stored", fields, s["team"], when,
                       s["acknowledge"], None)
    if s["kind"] == "retrieve":
        room = state.holder[5:] if state.holder and state.holder.startswith("room:") else "SR-3"
        fields = {"room": room, "to": s["other"], "seals_checked": sorted(seals),
                  "count_checked": count}
        return attempt(world, raw, stream, "lot.retrieved", fields, s["team"], when,
                       s["acknowledge"], None)
    if s["kind"] == "correct":
        target = lot.head if s["right_hash"] else "0" * 64
        fields = {"corrects": {"seq": state.steps, "event_hash": target}, "reason": "recount",
                  "count": count}
        return attempt(world, raw, stream, "lot.corrected", fields, s["team"], when,
                       s["acknowledge"], s["place"])
    if s["kind"] in ("duty start", "duty end"):
        event_type = "duty.started" if s["kind"] == "duty start" else "duty.ended"
        return attempt(world, raw, "room:SR-3", event_type, {}, s["duty"], when, False, None,
                       location="SR-3")
    # revoke: an authority event; afterwards the person's signatures no longer count
    before = raw.count()
    try:
        receipt = app.revoke_key(s["revoked"], "lost", world.signers["AUTH-01"],
                                 world.clock.now)
    except (InputError, KeyringError):
        assert raw.count() == before
        return "bad input"
    return accepted(world, receipt, f"revoking {s['revoked']}")


@settings(max_examples=12, deadline=None, derandomize=False, phases=PHASES,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_the_recorder_accepts_exactly_what_verify_finds_no_error_in_and_warns_what_it_reports(
        world: World, raw, steps) -> None:
    if world.app.lot("LOT-1") is None:  # once per test: the examples share one ledger
        setting(world)
    outcomes = [run_step(world, raw, s) for s in steps]
    assert set(outcomes) <= {"accepted", "refused", "bad input"}


BASE = {"lot": "LOT-1", "honest_giver": True, "other": "STF-02",
        "team": ["POL-01", "POL-02", "STF-01", "STF-02", "STF-03", "STF-04"],
        "seals_ok": True, "count_ok": True, "minutes": 5, "room": "SR-3",
        "acknowledge": False, "right_hash": True, "full_team": False, "revoked": "POL-03",
        "place": None, "duty": ["POL-01"]}


def test_every_kind_of_outcome_happens(world: World, raw) -> None:
    """The property above is not vacuous: the same machinery sees all three outcomes."""
    setting(world)
    assert run_step(world, raw, {**BASE, "kind": "handover"}) == "accepted"
    assert run_step(world, raw, {**BASE, "kind": "handover", "count_ok": False}) == "refused"
    assert run_step(world, raw, {**BASE, "kind": "handover", "count_ok": False,
                                 "acknowledge": True}) == "accepted"
    assert run_step(world, raw, {**BASE, "kind": "correct", "right_hash": False}) == "refused"
    assert run_step(world, raw, {**BASE, "kind": "store", "room": "SR-X"}) == "refused"
    assert run_step(world, raw, {**BASE, "kind": "handover",
                                 "team": ["POL-01", "STF-09"]}) == "bad input"


def test_the_warnings_compared_include_a_duty_gap_a_presence_conflict_and_its_pair_once(
        world: World, raw) -> None:
    """The comparison is not vacuous either: a store into the unstaffed room opens a duty gap,
    a second store into it opens none, a duty end leaving too few opens another, and a step
    at a site apart from the one just signed at, minutes later, is a presence conflict, once
    per person."""
    setting(world)
    app = world.app
    warned: list[list[str]] = []
    original = app.submit

    def submit(body, signatures):
        receipt = original(body, signatures)
        warned.append([w.code for w in receipt.warnings])
        return receipt

    app.submit = submit  # type: ignore[method-assign]
    full = ["POL-01", "POL-02", "STF-01", "STF-02", "STF-03", "STF-04"]
    assert run_step(world, raw, {**BASE, "kind": "store", "team": full}) == "accepted"
    assert run_step(world, raw, {**BASE, "kind": "store", "lot": "LOT-2", "team": full,
                                 "honest_giver": True}) == "accepted"
    assert run_step(world, raw, {**BASE, "kind": "duty start", "duty": full[:4]}) == "accepted"
    assert run_step(world, raw, {**BASE, "kind": "duty end", "duty": ["POL-01"]}) == "accepted"
    assert run_step(world, raw, {**BASE, "kind": "retrieve", "other": "STF-01",
                                 "team": full}) == "accepted"
    assert run_step(world, raw, {**BASE, "kind": "handover", "team": full, "honest_giver": True,
                                 "other": "STF-02", "place": "site:A",
                                 "minutes": 20}) == "accepted"
    assert run_step(world, raw, {**BASE, "kind": "handover", "team": full, "honest_giver": True,
                                 "other": "STF-03", "place": "site:B",
                                 "minutes": 3}) == "accepted"
    assert warned[0] == ["DUTY_UNCOVERED"]  # the first store: nobody on duty
    assert warned[1] == []  # the gap is open already
    assert warned[3] == ["DUTY_UNCOVERED"]  # POL-01 leaves: three on duty, one police
    assert warned[-1] == ["PRESENCE_CONFLICT"] * len(full)  # one per signer, for this pair
