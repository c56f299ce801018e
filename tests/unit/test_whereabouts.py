"""Impossible presence (PRESENCE_CONFLICT): where a step puts the people who signed it, and
when two places at once is flagged."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from ledger.core.custody import RoomState
from ledger.core.errors import InputError
from ledger.core.policy import PresencePolicy
from ledger.core.whereabouts import (
    Sighting,
    judge_whereabouts,
    moment_of,
    place_of,
    room_index,
    same_place,
    seen_at,
)
from ledger.domain.schemas import check_policy

ROOMS = room_index({"SR-3": RoomState("SR-3", "County Secure Room 3", "BM-1", "", "")})


def body(event_type: str, location: str, stream: str = "lot:LOT-1", **fields) -> dict:
    return {"type": event_type, "stream": stream, "location": location, **fields}


def sighting(position: int, at: str, location: str, event_type: str = "lot.handed_over",
             **fields) -> Sighting:
    b = body(event_type, location, **fields)
    occurred_at = f"2026-06-07T{at}:00.000000Z"
    return Sighting(position, b["stream"], event_type, occurred_at, location, place_of(b, ROOMS),
                    moment_of(occurred_at))


@pytest.mark.parametrize("event, place", [
    (body("lot.stored", "Loading door", room="SR-3"), "room:SR-3"),
    (body("duty.started", "anywhere", stream="room:SR-3"), "room:SR-3"),
    (body("lot.handed_over", "county secure room 3"), "room:SR-3"),
    (body("lot.handed_over", "SR-3"), "room:SR-3"),
    (body("lot.handed_over", "County Secure Room 3, gate"), "room:SR-3"),
    (body("room.patrolled", "City Discipline Inspection Office", stream="room:SR-3"),
     "city discipline inspection office"),  # a remote patrol: the inspector is not in the room
    (body("lot.handed_over", "  No. 1   Middle School. "), "no. 1 middle school"),
])
def test_a_step_is_placed_in_the_room_it_names_or_at_its_location(event, place):
    assert place_of(event, ROOMS) == place


def test_a_place_inside_another_is_the_same_place_and_a_similar_name_is_not():
    assert same_place("no. 1 middle school", "no. 1 middle school, exam room 12")
    assert same_place("no. 1 middle school, exam room 12", "no. 1 middle school")
    assert not same_place("exam site 1", "exam site 12")
    assert not same_place("room:SR-3", "room:SR-4")
    assert not same_place("sr-3 annex", "room:SR-3")


def test_two_places_within_the_window_conflict_and_just_outside_do_not():
    seen = seen_at(None, sighting(10, "08:00", "No. 1 Middle School"), body("x", ""), False)
    near = judge_whereabouts("POL-01", seen, sighting(11, "08:10", "No. 2 Middle School"), 10)
    far = judge_whereabouts("POL-01", seen, sighting(12, "08:11", "No. 2 Middle School"), 10)
    same = judge_whereabouts("POL-01", seen, sighting(13, "08:05", "No. 1 Middle School, room 3"),
                             10)
    assert near is not None and near.code == "PRESENCE_CONFLICT"
    assert near.evidence["kind"] == "window" and near.evidence["minutes_apart"] == 10
    assert near.evidence["other"]["position"] == 10
    assert far is None and same is None


def test_a_step_elsewhere_during_an_open_duty_shift_conflicts_until_the_shift_ends():
    start = body("duty.started", "SR-3", stream="room:SR-3", occurred_at="2026-06-07T00:00:00.000000Z")
    seen = seen_at(None, sighting(5, "00:00", "SR-3", "duty.started", stream="room:SR-3"),
                   start, True)
    away = sighting(9, "06:00", "No. 1 Middle School")
    in_room = sighting(8, "05:00", "County Secure Room 3")
    conflict = judge_whereabouts("STF-03", seen, away, 10)
    assert conflict is not None and conflict.evidence["kind"] == "on_duty"
    assert conflict.evidence["other"]["position"] == 5
    assert judge_whereabouts("STF-03", seen, in_room, 10) is None
    end = body("duty.ended", "SR-3", stream="room:SR-3", occurred_at="2026-06-07T05:30:00.000000Z")
    ended = seen_at(seen, sighting(7, "05:30", "SR-3", "duty.ended", stream="room:SR-3"), end,
                    True)
    assert judge_whereabouts("STF-03", ended, away, 10) is None


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
