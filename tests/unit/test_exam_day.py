"""A full exam day through the public API, and one test per lifecycle rule.

Printing house -> police escort -> secure room (duty shifts across the night) -> retrieval ->
distribution to exam sites -> unsealing -> collection of answer sheets -> return for scanning.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ledger.core.errors import InputError, PolicyViolation
from ledger.verify import Verifier

DAY = datetime(2026, 6, 6, 21, 0, tzinfo=timezone.utc)  # 05:00 on 7 June, Beijing time
POLICE = ["POL-01", "POL-02"]


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def team(*staff: str) -> list[str]:
    """Two police and four staff, always including the staff named."""
    others = [s for s in ("STF-01", "STF-02", "STF-03", "STF-04", "STF-05", "STF-06") if s not in staff]
    return POLICE + list(staff) + others[: 4 - len(staff)]


def checked(seals, count):
    return {"seals_checked": list(seals), "count_checked": count}


LOTS = {  # lot -> (kind, seals, count, site)
    "Q-S01": ("question_paper", ["SQ-1"], 30, "site:S01-R01"),
    "A-S01": ("answer_sheet", ["SA-1"], 30, "site:S01-R01"),
    "Q-S02": ("question_paper", ["SQ-2"], 25, "site:S02-R01"),
    "A-S02": ("answer_sheet", ["SA-2"], 25, "site:S02-R01"),
}


def exam_day(world, night_shift=("POL-02", "POL-03", "STF-05", "STF-06")):
    """Record the whole day; returns the world with the clock after the last step."""
    world.clock.now = at(-1)
    world.room("SR-3")
    for lot_id, (kind, seals, count, _) in LOTS.items():
        world.register(lot_id, holder="STF-01", team=team("STF-01", "STF-02"),
                       lot={"kind": kind, "seals": seals, "count": count},
                       location="Printing house")
    world.register("BOX-1", holder="STF-01", team=team("STF-01"),
                   lot={"kind": "container", "seals": ["SB-1"], "count": 4},
                   location="Printing house")
    world.clock.now = at(1)
    world.app.pack("BOX-1", list(LOTS), False, "Printing house", at(1), world.sign(*team("STF-01")))
    box = checked(["SB-1"], 4)
    world.step("lot:BOX-1", "lot.transport_departed",
               {"from": "STF-01", "vehicle": "YUE-A12345", "escort": POLICE,
                "destination": "County secure room 3", **box}, team("STF-01"), at(1.5))
    world.step("lot:BOX-1", "lot.transport_arrived", {"vehicle": "YUE-A12345", "to": "STF-03", **box},
               team("STF-03"), at(3))
    # The escort stays as the day shift (no one is on duty elsewhere: PRESENCE_CONFLICT).
    world.step("room:SR-3", "duty.started", {}, ["POL-01", "POL-02", "STF-03", "STF-04"],
               at(3.25), location="SR-3")
    world.step("lot:BOX-1", "lot.stored", {"from": "STF-03", "room": "SR-3", **box},
               team("STF-03"), at(3.5), location="SR-3")
    # The day shift hands over to the night shift; the room is never left short.
    world.step("room:SR-3", "duty.started", {}, list(night_shift), at(14.9), location="SR-3")
    world.step("room:SR-3", "duty.ended", {}, ["POL-01", "STF-03", "STF-04"], at(15),
               location="SR-3")  # POL-02 stays on into the night
    world.step("lot:BOX-1", "lot.retrieved", {"room": "SR-3", "to": "STF-05", **box},
               team("STF-05"), at(25), location="SR-3")
    # The room is empty: the night shift ends before its people go to the exam sites.
    world.step("room:SR-3", "duty.ended", {}, list(night_shift), at(25.1), location="SR-3")
    world.clock.now = at(25.2)
    world.app.pack("BOX-1", list(LOTS), True, "SR-3", at(25.2), world.sign(*team("STF-05")))
    for lot_id, (kind, seals, count, site) in LOTS.items():
        later = 0.5 if site == "site:S02-R01" else 0  # the team drives from one site to the other
        world.step(f"lot:{lot_id}", "lot.distributed", {"from": "STF-05", "to": site,
                                                        **checked(seals, count)},
                   team("STF-05"), at(26 + later), location=site)
        if kind == "question_paper":
            world.step(f"lot:{lot_id}", "lot.unsealed", checked(seals, count), team(),
                       at(27 + later), location=site)
        else:
            world.step(f"lot:{lot_id}", "lot.collected",
                       {"from": site, "to": "STF-06", "count_checked": count,
                        "seals_applied": [seals[0] + "-R"]}, team("STF-06"), at(29 + later),
                       location=site)
            world.step(f"lot:{lot_id}", "lot.returned",
                       {"from": "STF-06", "to": "site:SCAN-01", **checked([seals[0] + "-R"], count)},
                       team("STF-06"), at(31), location="Scanning centre")
    world.clock.now = at(32)
    return world


def position_of(world, event_type: str, when: datetime) -> int:
    """The log position of the one event of ``event_type`` that occurred at ``when``."""
    from ledger.core import canonical

    (position,) = [n.id for n in world.app.recorder.select_notifications(start=1, limit=10_000)
                   if (e := world.app.mapper.to_domain_event(n)).body["type"] == event_type
                   and e.body["occurred_at"] == canonical.format_timestamp(when)]
    return position


def test_a_full_exam_day_verifies_intact_and_every_lot_is_where_it_should_be(world):
    exam_day(world)
    report = Verifier(world.app.recorder).run()
    assert report.findings == [] and report.intact
    spilled = Verifier(world.app.recorder, resident=1)
    assert spilled.run().findings == []
    assert {s: lot.holder for s, lot in spilled.state.lots.items()}["lot:Q-S01"] == "site:S01-R01"
    assert world.app.lot("Q-S01").state.holder == "site:S01-R01"
    assert world.app.lot("Q-S01").state.unsealed
    assert world.app.lot("A-S02").state.holder == "site:SCAN-01"
    assert world.app.lot("A-S02").state.closed
    assert world.app.lot("A-S02").state.seals == ("SA-2-R",)
    assert world.app.lot("BOX-1").state.holder == "STF-05"


def test_a_backdated_policy_set_cannot_erase_a_duty_gap(world):
    """A milder duty policy that claims to have occurred at 17:00Z, during the understaffed
    night, but was recorded the next day, takes effect from when it was recorded: the gap
    stays whole (policy versions take effect in log order, from their recorded_at)."""
    import json
    from importlib import resources

    from ledger.core.policy import PresencePolicy
    from tests.conftest import AUTHORITY

    exam_day(world, night_shift=("POL-02", "POL-03", "STF-05"))
    data = json.loads(resources.files("schemas").joinpath(
        "policies/two-police-four-staff.json").read_text())
    data["version"] = 2
    data["steps"]["room.duty"]["require"][0]["at_least"] = 3
    world.app.set_policy(PresencePolicy.from_data(data), world.signers[AUTHORITY], at(20))
    verifier = Verifier(world.app.recorder)
    (gap,) = verifier.run().errors
    assert gap.code == "DUTY_UNCOVERED"
    assert gap.position == position_of(world, "duty.ended", at(15))
    (interval,) = verifier.state.duty_gaps()
    assert (interval.evidence["start"], interval.evidence["end"]) == (
        "2026-06-07T12:00:00.000000Z", "2026-06-07T22:00:00.000000Z")


@pytest.mark.parametrize("resident", [8192, 1], ids=["in memory", "spilled to disk"])
def test_a_night_with_three_people_on_duty_is_a_gap_with_its_exact_interval(world, resident):
    exam_day(world, night_shift=("POL-02", "POL-03", "STF-05"))
    verifier = Verifier(world.app.recorder, resident=resident)
    (gap,) = verifier.run().errors
    assert gap.code == "DUTY_UNCOVERED" and gap.stream == "room:SR-3"
    # Reported once, at the day shift's end (15h), which left three on duty ...
    assert gap.position == position_of(world, "duty.ended", at(15))
    assert gap.evidence["start"] == "2026-06-07T12:00:00.000000Z"
    assert "needs 4 police or staff, has 3" in gap.message
    # ... and lasting until the box is retrieved (25h).
    (interval,) = verifier.state.duty_gaps()
    assert interval.evidence["start"] == "2026-06-07T12:00:00.000000Z"
    assert interval.evidence["end"] == "2026-06-07T22:00:00.000000Z"
    assert interval.position == gap.position


def test_storing_in_an_unregistered_room_is_refused(world):
    world.register()
    with pytest.raises(PolicyViolation, match="room:SR-9 is not a registered secure room"):
        world.step("lot:LOT-1", "lot.stored",
                   {"from": "STF-01", "room": "SR-9", **checked(["SEAL-1", "SEAL-2"], 30)}, team("STF-01"))


def test_storing_after_the_licence_lapsed_is_refused(world):
    world.room("SR-3", valid_until="2026-06-01T00:00:00.000000Z")
    world.register()
    with pytest.raises(PolicyViolation, match=r"secure room SR-3 \(licence BM-SR-3\) is licensed from"):
        world.step("lot:LOT-1", "lot.stored",
                   {"from": "STF-01", "room": "SR-3", **checked(["SEAL-1", "SEAL-2"], 30)}, team("STF-01"))


def test_nothing_may_follow_a_return(world):
    world.register()
    world.step("lot:LOT-1", "lot.returned",
               {"from": "STF-01", "to": "site:SCAN-01", **checked(["SEAL-1", "SEAL-2"], 30)},
               team("STF-01"))
    with pytest.raises(PolicyViolation, match="lot LOT-1 was returned; no step may follow it"):
        world.step("lot:LOT-1", "lot.distributed",
                   {"from": "site:SCAN-01", "to": "site:S01", **checked(["SEAL-1", "SEAL-2"], 30)},
                   team())


def test_a_packed_lot_takes_no_step_of_its_own(world):
    world.register()
    world.register("BOX-1", lot={"kind": "container"})
    world.app.pack("BOX-1", ["LOT-1"], False, "Printing house", world.clock.now, world.sign(*team("STF-01")))
    with pytest.raises(PolicyViolation, match="lot LOT-1 is packed in BOX-1"):
        world.handover()


def test_packing_needs_the_lot_and_the_container_with_the_same_party(world):
    world.register(holder="STF-01")
    world.register("BOX-1", holder="STF-02", lot={"kind": "container"})
    with pytest.raises(PolicyViolation, match="held by STF-01 but container BOX-1 by STF-02"):
        world.app.pack("BOX-1", ["LOT-1"], False, "Printing house", world.clock.now,
                       world.sign(*team("STF-01")))


def test_answer_sheets_cannot_be_unsealed(world):
    world.register(lot={"kind": "answer_sheet"})
    with pytest.raises(PolicyViolation, match="lot.unsealed does not apply to a answer_sheet lot"):
        world.step("lot:LOT-1", "lot.unsealed", checked(["SEAL-1", "SEAL-2"], 30), team())


def test_a_step_in_the_future_is_refused(world):
    world.register()
    with pytest.raises(PolicyViolation, match="is after it was recorded"):
        world.handover(at=world.clock.now + timedelta(hours=1))


def test_the_vehicle_must_hold_the_lot_when_it_arrives(world):
    world.register()
    with pytest.raises(PolicyViolation, match="held by STF-01, not vehicle:V-9"):
        world.step("lot:LOT-1", "lot.transport_arrived",
                   {"vehicle": "V-9", "to": "STF-02", **checked(["SEAL-1", "SEAL-2"], 30)},
                   team("STF-02"))


def test_a_correction_restates_the_count_and_references_the_step(world):
    world.register()
    world.handover(count=29, acknowledge="one bag torn; see incident INC-1")
    first = world.app.event_hash("lot:LOT-1", 2)
    world.step("lot:LOT-1", "lot.corrected",
               {"corrects": {"seq": 2, "event_hash": first}, "reason": "recount: 30", "count": 30},
               team("STF-02"))
    assert world.app.lot("LOT-1").state.count == 30
    world.handover(giver="STF-02", receiver="STF-03", team=team("STF-02", "STF-03"))
    report = Verifier(world.app.recorder).run()
    assert report.intact and [f.code for f in report.findings] == [
        "ACKNOWLEDGED_VIOLATION", "CORRECTION"]


def test_an_inspector_can_be_required_at_unsealing(world):
    from ledger.core.policy import PresencePolicy

    current = world.app.ledger().policy.to_data()
    current["version"] = 2
    current["steps"]["lot.unsealed"] = {"require": current["steps"]["*"]["require"]
                                        + [{"roles": ["inspector"], "at_least": 1}]}
    world.app.set_policy(PresencePolicy.from_data(current), world.signers["AUTH-01"], world.clock.now)
    world.register()
    with pytest.raises(PolicyViolation, match="needs 1 inspector, has 0"):
        world.step("lot:LOT-1", "lot.unsealed", checked(["SEAL-1", "SEAL-2"], 30), team())
    world.step("lot:LOT-1", "lot.unsealed", checked(["SEAL-1", "SEAL-2"], 30), team() + ["INS-01"])
    assert world.app.lot("LOT-1").state.unsealed


def test_a_policy_version_must_increase(world):
    with pytest.raises(PolicyViolation, match="does not follow the version in force"):
        world.app.set_policy(world.app.ledger().policy, world.signers["AUTH-01"], world.clock.now)


def test_incident_and_zero_reports_are_signed_events_of_their_own(world):
    world.register()
    world.step("incident:INC-1", "incident.reported",
               {"incident": {"id": "INC-1", "what": "seal SEAL-2 scuffed", "lots": ["LOT-1"]}},
               ["STF-01"], evidence=["ab" * 32])
    world.step("zero:ZR-1", "zero.reported",
               {"report": {"id": "ZR-1", "scope": "Site 1", "period": {
                   "start": "2026-06-06T00:00:00.000000Z", "end": "2026-06-06T04:00:00.000000Z"}}},
               ["INS-01"])
    with pytest.raises(InputError, match="incident:INC-1 already exists"):
        world.step("incident:INC-1", "incident.reported",
                   {"incident": {"id": "INC-1", "what": "again"}}, ["STF-01"])
    assert Verifier(world.app.recorder).run().intact


def test_a_patrol_is_signed_by_an_inspector(world):
    world.room("SR-3")
    with pytest.raises(PolicyViolation, match="needs 1 inspector, has 0"):
        world.step("room:SR-3", "room.patrolled", {"observed": "4 on duty"}, ["STF-01"])
    world.step("room:SR-3", "room.patrolled", {"observed": "4 on duty"}, ["INS-01"])
