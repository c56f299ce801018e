"""Presence conflicts judged between places, not location texts, on SQLite and PostgreSQL.

An exam day with two school buildings and their exam rooms, the printing house, and the
county exam institute with its secure room inside. Walking from the institute's gate to its
secure room, or from one exam room of a school to another, minutes apart, raises nothing;
one officer co-signing at the two schools three minutes apart raises exactly one
PRESENCE_CONFLICT for that pair of steps, and the recorder warned of it when it recorded the
step; free-text locations are never compared."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from importlib import resources

import pytest

from ledger.core.errors import InputError, PolicyViolation
from ledger.core.policy import PresencePolicy
from ledger.verify import Verifier
from tests.conftest import AUTHORITY

D = datetime(2026, 6, 6, 22, 0, tzinfo=timezone.utc)  # 06:00 on 7 June in Beijing
NO1_TEAM = ["POL-01", "POL-02", "STF-01", "STF-02"]
NO2_TEAM = ["POL-01", "POL-03", "STF-05", "STF-06"]  # POL-01 again: at both schools
ROOM_TEAM = ["POL-02", "POL-03", "STF-03", "STF-04"]


def m(minutes: float) -> datetime:
    return D + timedelta(minutes=minutes)


def seals(seal: str) -> dict:
    return {"seals_checked": [seal], "count_checked": 30}


def two_buildings(world) -> dict[str, object]:
    """Record the day; return the receipts of the steps the test looks at."""
    world.clock.now = m(-60)
    data = json.loads(resources.files("schemas").joinpath(
        "policies/four-including-two-police.json").read_text())
    world.app.set_policy(PresencePolicy.from_data(dict(data, version=2)),
                         world.signers[AUTHORITY], m(-60))
    for site_id, within in (("PH", None), ("CEI", None), ("NO1", None), ("NO1-R01", "NO1"),
                            ("NO1-R02", "NO1"), ("NO2", None), ("NO2-R01", "NO2")):
        world.site(site_id, within)
    world.room("SR-3", within="CEI")
    world.clock.now = m(0)
    for lot_id, seal in (("Q-NO1-R01", "SQ-1"), ("Q-NO1-R02", "SQ-2")):
        world.register(lot_id, holder="STF-03", team=ROOM_TEAM, lot={"seals": [seal]},
                       location="Dispatch", place="site:PH")
    world.register("Q-NO2-R01", holder="STF-05", team=["POL-02", "POL-03", "STF-05", "STF-06"],
                   lot={"seals": ["SQ-3"]}, location="Dispatch", place="site:PH")

    def step(lot_id, event_type, fields, team, minutes, location, place=None):
        return world.step(f"lot:{lot_id}", event_type, fields, team, m(minutes),
                          location=location, place=place)

    # The room team drives to the institute, hands over at its gate, and is on duty in its
    # secure room ten minutes later, where the lots are stored: one site, no conflict.
    world.step("room:SR-3", "duty.started", {}, ROOM_TEAM, m(58), location="SR-3")
    receipts = {"gate": step("Q-NO1-R01", "lot.handed_over",
                             {"from": "STF-03", "to": "STF-04", **seals("SQ-1")}, ROOM_TEAM, 60,
                             "Gate", "site:CEI")}
    receipts["stored"] = step("Q-NO1-R01", "lot.stored",
                              {"from": "STF-04", "room": "SR-3", **seals("SQ-1")}, ROOM_TEAM,
                              70, "Shelf 2")
    step("Q-NO1-R01", "lot.retrieved", {"room": "SR-3", "to": "STF-01", **seals("SQ-1")},
         [*ROOM_TEAM[:2], "STF-01", "STF-02"], 100, "Shelf 2")
    world.step("room:SR-3", "duty.ended", {}, ROOM_TEAM, m(101), location="SR-3")
    # The first school: two exam rooms three minutes apart, by the same team.
    receipts["room 1"] = step("Q-NO1-R01", "lot.distributed",
                              {"from": "STF-01", "to": "site:NO1-R01", **seals("SQ-1")},
                              NO1_TEAM, 140, "Exam room 1", "site:NO1-R01")
    receipts["room 2"] = step("Q-NO1-R02", "lot.handed_over",
                              {"from": "STF-03", "to": "STF-02", **seals("SQ-2")},
                              [*NO1_TEAM, "STF-03"], 143, "Exam room 2", "site:NO1-R02")
    # POL-01, three minutes later, co-signs at the second school.
    receipts["NO2"] = step("Q-NO2-R01", "lot.handed_over",
                           {"from": "STF-05", "to": "STF-06", **seals("SQ-3")},
                           NO2_TEAM, 146, "Exam room 1", "site:NO2-R01")
    # Free text only: "No. 1 Middle School" and "No. 2 Middle School" name no place.
    receipts["free text"] = step("Q-NO2-R01", "lot.handed_over",
                                 {"from": "STF-06", "to": "STF-05", **seals("SQ-3")},
                                 NO2_TEAM, 147, "No. 1 Middle School")
    step("Q-NO2-R01", "lot.handed_over", {"from": "STF-05", "to": "STF-06", **seals("SQ-3")},
         NO2_TEAM, 148, "No. 2 Middle School")
    world.clock.now = m(150)
    return receipts


def test_one_site_minutes_apart_raises_nothing_and_two_sites_one_conflict_per_pair(
        world) -> None:
    receipts = two_buildings(world)
    report = Verifier(world.app.recorder).run()

    conflicts = [f for f in report.findings if f.code == "PRESENCE_CONFLICT"]
    assert report.intact
    assert [(f.position, f.evidence["person"]) for f in conflicts] == [
        (receipts["NO2"].position, "POL-01")]
    (conflict,) = conflicts
    assert conflict.evidence["kind"] == "window"
    assert conflict.evidence["minutes_apart"] == 3
    assert conflict.evidence["other"]["position"] == receipts["room 2"].position
    assert (conflict.evidence["other"]["place"], conflict.evidence["step"]["place"]) == (
        "site:NO1-R02", "site:NO2-R01")
    assert "site:NO2-R01 (Exam room 1)" in conflict.message
    # Nothing else anywhere: not at the institute's gate and secure room, not between the
    # school's exam rooms, not for the free-text steps.
    assert [f.code for f in report.findings] == ["PRESENCE_CONFLICT"]
    # The recorder said it when it recorded the step, and nothing at the others.
    assert [(w.code, str(w.message)) for w in receipts["NO2"].warnings] == [
        (conflict.code, str(conflict.message))]
    for name in ("gate", "stored", "room 1", "room 2", "free text"):
        assert receipts[name].warnings == (), name


def test_a_step_naming_an_unregistered_place_is_refused_and_verify_names_it(world) -> None:
    world.register("LOT-1")
    with pytest.raises(InputError, match="--place site:NOWHERE: no site NOWHERE is registered"):
        world.handover("LOT-1", "STF-01", "STF-02", place="site:NOWHERE")
    # A draft made elsewhere, naming a site this ledger does not have, is refused by a rule.
    world.site("NOWHERE")
    body = world.app.draft_step("lot:LOT-1", "lot.handed_over",
                                {"from": "STF-01", "to": "STF-02",
                                 "seals_checked": ["SEAL-1", "SEAL-2"], "count_checked": 30},
                                "Gate", ["POL-01", "POL-02", "STF-01", "STF-02", "STF-03",
                                         "STF-04"], world.clock.now, place="site:NOWHERE")
    assert body["schema"] == 2 and body["place"] == "site:NOWHERE"
    body["place"] = "site:ELSEWHERE"
    signatures = world.app._sign_here(body, world.sign("POL-01", "POL-02", "STF-01", "STF-02",
                                                       "STF-03", "STF-04"))
    with pytest.raises(PolicyViolation, match="names site:ELSEWHERE, which is not a registered"):
        world.app.submit(body, signatures)


def test_a_site_within_an_unregistered_site_is_refused(world) -> None:
    with pytest.raises(InputError, match="--within NO1: no site NO1 is registered"):
        world.site("NO1-R01", within="NO1")
    with pytest.raises(InputError, match="--within CEI: no site CEI is registered"):
        world.room("SR-3", within="CEI")


def test_a_building_and_its_loading_bay_minutes_apart_raise_nothing(world) -> None:
    """The symptom: steps typed minutes apart at "Provincial Printing House" and then
    "Loading bay" raised a PRESENCE_CONFLICT per signer. Free text names no place; the
    printing house's registered site and a step naming it both are one place."""
    world.site("PH")
    world.register("LOT-1", location="Provincial Printing House")
    for giver, receiver, location, place in (
            ("STF-01", "STF-02", "Loading bay", None),
            ("STF-02", "STF-03", "Loading bay", "site:PH"),
            ("STF-03", "STF-04", "Provincial Printing House", "site:PH")):
        world.clock.now += timedelta(minutes=3)
        receipt = world.handover("LOT-1", giver, receiver, location=location, place=place)
        assert receipt.warnings == ()
    assert Verifier(world.app.recorder).run().findings == []


def test_a_duty_start_warns_of_the_presence_conflict_verify_reports_there(world) -> None:
    """The symptom: duty start and end printed no warning, yet verify reported
    PRESENCE_CONFLICT at their positions. POL-01 signs at the printing house, then starts a
    duty shift in the secure room of an institute across town five minutes later."""
    world.site("PH")
    world.site("CEI")
    world.room("SR-3", within="CEI")
    world.register("LOT-1", place="site:PH")
    shift = world.step("room:SR-3", "duty.started", {}, ["POL-01", "POL-03"],
                       world.clock.now + timedelta(minutes=5), location="Duty desk")
    report = Verifier(world.app.recorder).run()
    at_shift = [(f.code, str(f.message)) for f in report.findings if f.position == shift.position]
    assert [code for code, _ in at_shift] == ["PRESENCE_CONFLICT"]
    assert [(w.code, str(w.message)) for w in shift.warnings] == at_shift
