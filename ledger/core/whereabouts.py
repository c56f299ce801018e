"""Impossible presence: one person signing at two places at once (``PRESENCE_CONFLICT``).

Each person who validly signs a step is placed at that step's place and time. Two things
are impossible, and each is a warning finding on the later-recorded step:

- a step elsewhere while the person's duty shift in a secure room is open (started, not yet
  ended, at the step's ``occurred_at``);
- two steps at different places whose ``occurred_at`` lie within the window the policy in
  force sets (``presence_window_minutes``, default 10).

A step's *place* is a secure room when the step names one (a room's duty shifts, ``lot.stored``
and ``lot.retrieved`` with their ``room``) or when its location is a room's id or name, or
lies inside it ("County Secure Room 3, gate"); otherwise it is its location, compared
without regard to case, spacing or trailing punctuation, and a location inside another
("No. 1 Middle School, exam room 12" inside "No. 1 Middle School") is the same place. A
remote video patrol is placed where the inspector was (its location), never in the room.

Pure data and functions: the fold (``LedgerState``) keeps one :class:`Whereabouts` per person,
bounded (the last few sightings and shifts), so memory does not grow with the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from datetime import datetime, timezone

from ledger.core.canonical import parse_timestamp
from ledger.core.custody import RoomState
from ledger.core.findings import Finding
from ledger.core.text import Message

KEEP_SIGHTINGS = 8  # the latest steps kept per person (by occurred_at)
KEEP_SHIFTS = 4  # the latest duty shifts kept per person
_SEPARATORS = ",;/(-:"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Sighting:
    """A step a person signed: where and when."""

    position: int
    stream: str
    type: str
    occurred_at: str
    location: str
    place: str  # "room:ID" or a normalised location
    moment: int = 0  # occurred_at in microseconds since the epoch (parsed once)

    def to_data(self) -> dict[str, Any]:
        return {"position": self.position, "stream": self.stream, "type": self.type,
                "occurred_at": self.occurred_at, "location": self.location, "place": self.place}


@dataclass(frozen=True)
class Shift:
    """A duty shift a person started in a secure room, and when it ended (None: open)."""

    room: str
    started_at: str
    position: int  # of the duty.started step
    location: str = ""
    ended_at: str | None = None

    def open_at(self, moment: str) -> bool:
        return self.started_at <= moment and (self.ended_at is None or moment < self.ended_at)


@dataclass(frozen=True)
class Whereabouts:
    """What the fold remembers of one person's presence."""

    sightings: tuple[Sighting, ...] = ()
    shifts: tuple[Shift, ...] = ()


def normalise(location: str) -> str:
    """A location compared without regard to case, spacing or trailing punctuation."""
    return re.sub(r"\s+", " ", location).strip().strip(".,;:").casefold()


def room_index(rooms: Mapping[str, RoomState]) -> dict[str, str]:
    """Normalised room id and name -> room id (a name two rooms share counts for neither)."""
    index: dict[str, str] = {}
    shared: set[str] = set()
    for room_id, room in sorted(rooms.items()):
        for key in {normalise(room_id), normalise(room.name)} - {""}:
            if key in index and index[key] != room_id:
                shared.add(key)
            index[key] = room_id
    return {k: v for k, v in index.items() if k not in shared}


_SEPARATOR = re.compile(r"[,;/(\-: ]")


def _prefixes(place: str) -> Iterable[str]:
    """The place itself, then each part of it before a separator, longest first."""
    yield place
    for match in reversed(list(_SEPARATOR.finditer(place))):
        head = place[:match.start()].rstrip(" " + _SEPARATORS)
        if head:
            yield head


def place_of(body: Mapping[str, Any], rooms: Mapping[str, str]) -> str:
    """Where the people who signed ``body`` were (see the module docstring); ``rooms`` is
    :func:`room_index`'s map."""
    event_type = body["type"]
    if event_type in ("duty.started", "duty.ended"):
        return body["stream"]  # "room:ID"
    if event_type in ("lot.stored", "lot.retrieved") and body.get("room"):
        return f"room:{body['room']}"
    location = normalise(body.get("location", ""))
    if rooms:
        for part in _prefixes(location):
            if part in rooms:
                return f"room:{rooms[part]}"
    return location


def same_place(a: str, b: str) -> bool:
    """Whether two places are one: equal, or one inside the other ("X, room 12" in "X")."""
    if a == b:
        return True
    if a.startswith("room:") or b.startswith("room:"):
        return False
    short, long = sorted((a, b), key=len)
    return bool(short) and long.startswith(short) and long[len(short)] in _SEPARATORS + " "


def moment_of(occurred_at: str) -> int:
    """A canonical timestamp as microseconds since the epoch, for cheap comparison."""
    delta = parse_timestamp(occurred_at) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def judge_whereabouts(person: str, seen: Whereabouts | None, here: Sighting,
                      window: int) -> Finding | None:
    """The PRESENCE_CONFLICT, if any, of ``person`` signing ``here`` given what is known of
    where they were; one finding per person and step (an open duty shift first, else the
    nearest step in time at another place)."""
    if seen is None:
        return None
    for shift in seen.shifts:
        room_place = f"room:{shift.room}"
        if shift.open_at(here.occurred_at) and here.place != room_place:
            return Finding(
                "PRESENCE_CONFLICT",
                Message("{person} signed {step} at {place} at {moment} while on duty in secure "
                        "room {room} (shift started at {since}, position {position}, not "
                        "ended); one person cannot be in both places", person=person,
                        step=here.type, place=here.location or here.place,
                        moment=here.occurred_at, room=shift.room, since=shift.started_at,
                        position=shift.position),
                evidence={"person": person, "kind": "on_duty", "step": here.to_data(),
                          "other": {"position": shift.position, "stream": room_place,
                                    "type": "duty.started", "occurred_at": shift.started_at,
                                    "location": shift.location, "place": room_place,
                                    "ended_at": shift.ended_at}})
    reach = window * 60_000_000
    best: tuple[int, int, Sighting] | None = None
    for seen_step in seen.sightings:
        apart = abs(seen_step.moment - here.moment)  # integers: this runs for every signer
        if apart <= reach and (best is None or (apart, seen_step.position) < best[:2]) \
                and not same_place(seen_step.place, here.place):
            best = (apart, seen_step.position, seen_step)
    if best is None:
        return None
    apart, _, other = best
    minutes: float = apart / 60_000_000
    minutes = int(minutes) if minutes == int(minutes) else round(minutes, 2)
    return Finding(
        "PRESENCE_CONFLICT",
        Message("{person} signed {step} at {place} at {moment}, {minutes} minute(s) from "
                "{other_step} at {other_place} at {other_moment} (position {position}); the "
                "policy allows no two places within {window} minute(s)", person=person,
                step=here.type, place=here.location or here.place, moment=here.occurred_at,
                minutes=f"{minutes:g}", other_step=other.type,
                other_place=other.location or other.place, other_moment=other.occurred_at,
                position=other.position, window=window),
        evidence={"person": person, "kind": "window", "window_minutes": window,
                  "minutes_apart": minutes, "step": here.to_data(), "other": other.to_data()})


def seen_at(seen: Whereabouts | None, here: Sighting, body: Mapping[str, Any],
            on_duty: bool) -> Whereabouts:
    """``seen`` after the person signed ``here`` (``body``); ``on_duty``: they are among the
    people the step puts on or takes off duty."""
    seen = seen or Whereabouts()
    sightings = seen.sightings
    if not sightings or (sightings[-1].occurred_at, sightings[-1].position) <= (
            here.occurred_at, here.position):
        sightings = (*sightings[1 - KEEP_SIGHTINGS:], here)  # the usual case: in time order
    else:
        sightings = tuple(sorted((*sightings, here), key=lambda s: (s.occurred_at, s.position))
                          )[-KEEP_SIGHTINGS:]
    if not on_duty or body["type"] not in ("duty.started", "duty.ended"):
        return Whereabouts(sightings, seen.shifts)
    shifts = list(seen.shifts)
    room = body["stream"].split(":", 1)[1]
    if body["type"] == "duty.started":
        if not any(s.room == room and s.ended_at is None for s in shifts):
            shifts.append(Shift(room, body["occurred_at"], here.position,
                                body.get("location", "")))
    else:
        shifts = [replace(s, ended_at=body["occurred_at"])
                  if s.room == room and s.ended_at is None else s for s in shifts]
    # Open shifts are always kept; of the ended ones, the latest.
    ended = [s for s in shifts if s.ended_at is not None]
    kept = [s for s in shifts if s.ended_at is None or s in ended[-KEEP_SHIFTS:]]
    return Whereabouts(sightings, tuple(kept))
