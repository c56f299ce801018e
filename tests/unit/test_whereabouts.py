"""Impossible presence (PRESENCE_CONFLICT): where a step puts the people who signed it, which
places are apart, and when two places at once is flagged."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from ledger.core.custody import RoomState
from ledger.core.errors import InputError
from ledger.core.places import SiteState, apart, place_of, region
from ledger.core.policy import PresencePolicy
from ledger.core.whereabouts import (
    Sighting, judge_whereabouts, moment_of, place_people, seen_at, whereabouts,
)
from ledger.domain.schemas import check_policy

# Two schools, one with a registered exam room; the county exam institute with its secure
# room; a secure room registered within no site.
SITES = {"NO1": SiteState("NO1", "No. 1 Middle School"),
         "NO1-R12": SiteState("NO1-R12", "No. 1 Middle School, exam room 12", "NO1"),
         "NO2": SiteState("NO2", "No. 2 Middle School"),
         "CEI": SiteState("CEI", "County Exam Institute")}
ROOMS = {"SR-3": RoomState("SR-3", "County Secure Room 3", "BM-1", "", "", within="CEI"),
         "SR-9": RoomState("SR-9", "Secure Room 9", "BM-9", "", "")}


def is_apart(a: str, b: str) -> bool:
    return apart(a, b, ROOMS, SITES)


def body(event_type: str, location: str, stream: str = "lot:LOT-1", **fields) -> dict:
    return {"type": event_type, "stream": stream, "location": location, **fields}


def sighting(position: int, at: str, place: str, event_type: str = "lot.handed_over",
             stream: str = "lot:LOT-1") -> Sighting:
    occurred_at = f"2026-06-07T{at}:00.000000Z"
    return Sighting(position, stream, event_type, occurred_at, "detail", place,
                    moment_of(occurred_at))


@pytest.mark.parametrize("event, place", [
    (body("lot.stored", "Loading door", room="SR-3"), "room:SR-3"),
    (body("lot.retrieved", "SR-3", room="SR-3"), "room:SR-3"),
    (body("duty.started", "anywhere", stream="room:SR-3"), "room:SR-3"),
    (body("lot.handed_over", "Exam room 3", place="site:NO2"), "site:NO2"),
    (body("room.patrolled", "Discipline office", stream="room:SR-3", place="site:NO1"),
     "site:NO1"),  # a remote patrol: the inspector is where the patrol says, not in the room
    (body("room.patrolled", "Discipline office", stream="room:SR-3"), None),
    (body("lot.handed_over", "County Secure Room 3"), None),  # free text names no place
    (body("lot.handed_over", "No. 1 Middle School"), None),
])
def test_a_step_is_placed_in_its_room_or_the_place_it_names_and_free_text_is_no_place(
        event, place):
    assert place_of(event) == place


def test_a_place_lies_in_the_outermost_site_it_is_registered_within():
    assert region("site:NO1-R12", ROOMS, SITES) == "site:NO1"
    assert region("room:SR-3", ROOMS, SITES) == "site:CEI"
    assert region("room:SR-9", ROOMS, SITES) == "room:SR-9"
    assert region("site:NOPE", ROOMS, SITES) is None
    assert region("room:NOPE", ROOMS, SITES) is None


def test_places_in_one_site_are_never_apart_and_places_in_two_sites_always_are():
    assert not is_apart("site:NO1", "site:NO1-R12")  # a site and a room within it
    assert not is_apart("site:CEI", "room:SR-3")  # the institute and its secure room
    assert not is_apart("site:NO1", "site:NO1")
    assert is_apart("site:NO1", "site:NO2")
    assert is_apart("site:NO1-R12", "site:NO2")
    assert is_apart("room:SR-3", "room:SR-9")
    assert is_apart("room:SR-3", "site:NO1")
    # An unregistered place is no place: never compared.
    assert not is_apart("site:NO1", "site:NOPE")


def test_two_places_less_than_the_window_apart_conflict_and_at_the_window_do_not():
    seen = seen_at(None, sighting(10, "08:00", "site:NO1"), body("x", ""), False)
    near = judge_whereabouts("POL-01", seen, sighting(11, "08:09", "site:NO2"), 10, is_apart)
    at_window = judge_whereabouts("POL-01", seen, sighting(12, "08:10", "site:NO2"), 10,
                                  is_apart)
    same_site = judge_whereabouts("POL-01", seen, sighting(13, "08:05", "site:NO1-R12"), 10,
                                  is_apart)
    assert near is not None and near.code == "PRESENCE_CONFLICT"
    assert near.evidence["kind"] == "window" and near.evidence["minutes_apart"] == 9
    assert near.evidence["other"]["position"] == 10
    assert at_window is None and same_site is None


def test_a_step_apart_from_the_room_during_an_open_duty_shift_conflicts_until_it_ends():
    start = body("duty.started", "SR-3", stream="room:SR-3",
                 occurred_at="2026-06-07T00:00:00.000000Z")
    seen = seen_at(None, sighting(5, "00:00", "room:SR-3", "duty.started", "room:SR-3"),
                   start, True)
    away = sighting(9, "06:00", "site:NO1")
    at_the_institute = sighting(8, "05:00", "site:CEI")
    conflict = judge_whereabouts("STF-03", seen, away, 10, is_apart)
    assert conflict is not None and conflict.evidence["kind"] == "on_duty"
    assert conflict.evidence["other"]["position"] == 5
    assert judge_whereabouts("STF-03", seen, at_the_institute, 10, is_apart) is None
    end = body("duty.ended", "SR-3", stream="room:SR-3",
               occurred_at="2026-06-07T05:30:00.000000Z")
    ended = seen_at(seen, sighting(7, "05:30", "room:SR-3", "duty.ended", "room:SR-3"), end,
                    True)
    assert judge_whereabouts("STF-03", ended, away, 10, is_apart) is None


def _one_by_one(known: dict, people: list[str], here: Sighting, step: dict) -> list:
    """What ``place_people`` must equal: each person judged and placed in turn."""
    listed = {a["person"] for a in step["attendees"]}
    found = []
    for person in people:
        conflict = judge_whereabouts(person, known.get(person), here, 10, is_apart)
        found += [conflict] if conflict is not None else []
        known[person] = seen_at(known.get(person), here, step, person in listed)
    return found


def test_a_team_signing_together_shares_its_whereabouts_and_each_member_is_judged_alone():
    at_no1 = seen_at(None, sighting(1, "08:00", "site:NO1"), body("x", ""), False)
    at_no2 = seen_at(None, sighting(2, "08:00", "site:NO2"), body("x", ""), False)
    # Two pairs, each seen together (one object, as a team's is): POL-01 and STF-01 at No. 1,
    # POL-02 and STF-02 at No. 2; STF-09 nowhere yet. Both of the first pair conflict, each in
    # their own words; the second pair's STF-02, signing right after STF-01, does not.
    known = {"POL-01": at_no1, "POL-02": at_no2, "STF-01": at_no1, "STF-02": at_no2}
    people = ["POL-01", "POL-02", "STF-01", "STF-02", "STF-09"]
    step = body("lot.handed_over", "Gate", place="site:NO2", attendees=[
        {"person": p} for p in people])
    here = sighting(3, "08:05", "site:NO2")
    expected_known = dict(known)
    expected = _one_by_one(expected_known, people, here, step)
    found = place_people(known, people, here, step, 10, is_apart)
    assert [(f.evidence["person"], f.evidence["other"]["position"]) for f in found] == [
        ("POL-01", 1), ("STF-01", 1)]
    assert found == expected and known == expected_known
    assert known["POL-01"] is known["STF-01"]  # still one object: worked out once
    assert known["POL-02"] is known["STF-02"]
    assert known["POL-01"].places == frozenset({"site:NO1", "site:NO2"})
    # At the same place again, later: the one place they were seen at only is no conflict.
    later = sighting(4, "09:00", "site:NO2")
    assert place_people(known, people, later, step, 10, is_apart) == []
    assert known["STF-09"].places == frozenset({"site:NO2"})


def test_a_duty_step_puts_on_duty_only_the_people_it_lists():
    start = body("duty.started", "SR-3", stream="room:SR-3",
                 occurred_at="2026-06-07T00:00:00.000000Z",
                 attendees=[{"person": "STF-03"}])
    here = sighting(5, "00:00", "room:SR-3", "duty.started", "room:SR-3")
    known: dict = {}
    assert place_people(known, ["INS-01", "STF-03"], here, start, 10, is_apart) == []
    assert known["INS-01"].shifts == () and len(known["STF-03"].shifts) == 1
    assert known["STF-03"] == whereabouts((here,), known["STF-03"].shifts)


def _policy(name: str = "two-police-four-staff") -> dict:
    return json.loads(resources.files("schemas").joinpath(f"policies/{name}.json").read_text())


def test_a_policy_without_a_window_keeps_its_bytes_and_gets_ten_minutes():
    data = _policy()
    policy = PresencePolicy.from_data(data)
    assert policy.presence_window == 10
    assert "presence_window_minutes" not in policy.to_data()  # old signed policies unchanged
    check_policy(data, source="old")


def test_a_policy_sets_its_window_and_the_schema_bounds_it():
    data = dict(_policy(), presence_window_minutes=30)
    check_policy(data, source="new")
    policy = PresencePolicy.from_data(data)
    assert policy.presence_window == 30 and policy.to_data()["presence_window_minutes"] == 30
    for bad in (-1, 1441, "30"):
        with pytest.raises(InputError, match="presence_window_minutes"):
            check_policy(dict(data, presence_window_minutes=bad), source="bad")
