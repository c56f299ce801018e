"""Impossible presence: one person signing at two places at once (``PRESENCE_CONFLICT``).

Each person who validly signs a step that names a registered place (``ledger.core.places``)
is placed there at the step's time. Two things are impossible, and each is a warning
finding on the later-recorded step:

- a step at a place apart from the secure room where the person's duty shift is open
  (started, not yet ended, at the step's ``occurred_at``);
- two steps at places apart from each other whose ``occurred_at`` lie less than the window
  the policy in force sets (``presence_window_minutes``, default 10) apart.

Places are *apart* when no registered site holds them both. A step at a free-text location
names no place and is never compared (the text is detail, not a place). One finding per
person and step, naming the nearest conflicting step: so each pair of steps is reported once.

Pure data and functions: the fold (``LedgerState``) keeps one :class:`Whereabouts` per person
(in its :class:`Presence`),
bounded (the last few sightings and shifts), so memory does not grow with the log. They are
immutable, and the people of a team who sign step after step together share one
(:func:`place_people`), worked out once a step for all of them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, MutableMapping, NamedTuple

from datetime import datetime, timezone

from ledger.core.canonical import parse_timestamp
from ledger.core.custody import RoomState
from ledger.core.findings import Finding
from ledger.core.kinds import DUTY_SHIFTS
from ledger.core.places import SiteState, apart_in, region
from ledger.core.text import Message

KEEP_SIGHTINGS = 8  # the latest steps kept per person (by occurred_at)
KEEP_SHIFTS = 4  # the latest duty shifts kept per person
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Sighting(NamedTuple):
    """A step a person signed: where and when."""

    position: int
    stream: str
    type: str
    occurred_at: str
    location: str
    place: str  # the registered place, "room:ID" or "site:ID"
    moment: int  # occurred_at in microseconds since the epoch (parsed once)

    def to_data(self) -> dict[str, Any]:
        return {"position": self.position, "stream": self.stream, "type": self.type,
                "occurred_at": self.occurred_at, "location": self.location, "place": self.place}


class Shift(NamedTuple):
    """A duty shift a person started in a secure room, and when it ended (None: open)."""

    room: str
    started_at: str
    position: int  # of the duty.started step
    location: str = ""
    ended_at: str | None = None

    def open_at(self, moment: str) -> bool:
        return self.started_at <= moment and (self.ended_at is None or moment < self.ended_at)


class Whereabouts(NamedTuple):
    """What the fold remembers of one person's presence. Make one with :func:`whereabouts`,
    which works out ``places`` from the sightings."""

    sightings: tuple[Sighting, ...] = ()
    shifts: tuple[Shift, ...] = ()
    # The places of the sightings kept. A step at the one place a person was lately seen at
    # conflicts with none of those sightings, which spares reading them: the usual case, a
    # team signing step after step where it stands.
    places: frozenset[str] = frozenset()


def whereabouts(sightings: tuple[Sighting, ...], shifts: tuple[Shift, ...]) -> Whereabouts:
    """A person's :class:`Whereabouts`: these sightings (in time order) and duty shifts."""
    return Whereabouts(sightings, shifts, frozenset(s.place for s in sightings))


def moment_of(occurred_at: str) -> int:
    """A canonical timestamp as microseconds since the epoch, for cheap comparison."""
    delta = parse_timestamp(occurred_at) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def where(sighting: Sighting) -> str:
    """A sighting's place with its free-text detail: ``site:S02 (Exam room 3)``."""
    if sighting.location and sighting.location != sighting.place:
        return f"{sighting.place} ({sighting.location})"
    return sighting.place


def judge_whereabouts(person: str, seen: Whereabouts | None, here: Sighting, window: int,
                      apart: Callable[[str, str], bool]) -> Finding | None:
    """The PRESENCE_CONFLICT, if any, of ``person`` signing ``here`` given what is known of
    where they were; one finding per person and step (an open duty shift first, else the
    nearest step in time at a place apart). ``apart`` says whether two places are apart.
    Someone seen lately at ``here``'s place only (the usual case: a team signing step after
    step where it stands) can conflict only with a duty shift."""
    if seen is None:
        return None
    for shift in seen.shifts:
        if not shift.open_at(here.occurred_at):
            continue
        room_place = f"room:{shift.room}"
        if apart(here.place, room_place):
            return Finding(
                "PRESENCE_CONFLICT",
                Message("{person} signed {step} at {place} at {moment} while on duty in secure "
                        "room {room} (shift started at {since}, position {position}, not "
                        "ended); one person cannot be in both places", person=person,
                        step=here.type, place=where(here),
                        moment=here.occurred_at, room=shift.room, since=shift.started_at,
                        position=shift.position),
                evidence={"person": person, "kind": "on_duty", "step": here.to_data(),
                          "other": {"position": shift.position, "stream": room_place,
                                    "type": "duty.started", "occurred_at": shift.started_at,
                                    "location": shift.location, "place": room_place,
                                    "ended_at": shift.ended_at}})
    place, moment = here.place, here.moment
    if place in seen.places and len(seen.places) == 1:
        return None  # every sighting kept is at this very place
    reach = window * 60_000_000
    best: tuple[int, int, Sighting] | None = None
    # This runs for every signer of every step: the same place is never apart, times are
    # compared as integers, and the sightings (kept in time order) are read from the latest
    # back, only as far as the window reaches.
    for seen_step in reversed(seen.sightings):
        if moment - seen_step.moment >= reach:
            break  # this one and every earlier one lie outside the window
        if seen_step.place == place:
            continue
        distance = abs(seen_step.moment - moment)
        if distance < reach and (best is None or (distance, seen_step.position) < best[:2]) \
                and apart(seen_step.place, place):
            best = (distance, seen_step.position, seen_step)
    if best is None:
        return None
    distance, _, other = best
    minutes: float = distance / 60_000_000
    minutes = int(minutes) if minutes == int(minutes) else round(minutes, 2)
    return Finding(
        "PRESENCE_CONFLICT",
        Message("{person} signed {step} at {place} at {moment}, {minutes} minute(s) from "
                "{other_step} at {other_place} at {other_moment} (position {position}); no one "
                "can be at both places less than {window} minute(s) apart (the policy's window)",
                person=person, step=here.type, place=where(here), moment=here.occurred_at,
                minutes=f"{minutes:g}", other_step=other.type,
                other_place=where(other), other_moment=other.occurred_at,
                position=other.position, window=window),
        evidence={"person": person, "kind": "window", "window_minutes": window,
                  "minutes_apart": minutes, "step": here.to_data(), "other": other.to_data()})


def place_people(known: MutableMapping[str, Whereabouts], people: Iterable[str],
                 here: Sighting, body: Mapping[str, Any], window: int,
                 apart: Callable[[str, str], bool]) -> list[Finding]:
    """Judge and remember where each of ``people`` (those who validly signed the step
    ``body``, in the order given) was: ``here``, with ``known`` their whereabouts so far.
    Returns their PRESENCE_CONFLICTs, in the same order: for each person in turn,
    :func:`judge_whereabouts`, then :func:`seen_at`.

    This runs for every signer of every step, and the people of a team sign step after step
    together. Whereabouts are immutable, so people with the same ones (the same object) are
    given the same ones after: worked out once for the team, not once a person."""
    findings = []
    shifting = body["type"] in DUTY_SHIFTS
    listed = {a["person"] for a in body["attendees"]} if shifting else ()
    # id(whereabouts before), on duty -> (whereabouts before, after, whether the first person
    # with them was judged to conflict); the first item holds each object alive, so no id is
    # reused within the step and a key found is the very object.
    done: dict[tuple[int, bool], tuple[Whereabouts | None, Whereabouts, bool]] = {}
    for person in people:
        seen = known.get(person)
        on_duty = person in listed
        worked = done.get((id(seen), on_duty))
        conflict = None
        if worked is None:
            conflict = judge_whereabouts(person, seen, here, window, apart)
            after = _sighted(seen, here)
            worked = (seen, _shifted(after, here, body) if on_duty else after,
                      conflict is not None)
            done[(id(seen), on_duty)] = worked
        elif worked[2]:
            conflict = judge_whereabouts(person, seen, here, window, apart)  # their own words
        if conflict is not None:
            findings.append(conflict)
        known[person] = worked[1]
    return findings


def seen_at(seen: Whereabouts | None, here: Sighting, body: Mapping[str, Any],
            on_duty: bool) -> Whereabouts:
    """``seen`` after the person signed ``here`` (``body``); ``on_duty``: they are among the
    people the step puts on or takes off duty."""
    after = _sighted(seen, here)
    return _shifted(after, here, body) if on_duty and body["type"] in DUTY_SHIFTS else after


def _sighted(seen: Whereabouts | None, here: Sighting) -> Whereabouts:
    """``seen`` with the sighting ``here`` kept, in time order."""
    if seen is None:
        return whereabouts((here,), ())
    sightings, shifts, places = seen
    last = sightings[-1] if sightings else None
    if last is None or last.occurred_at < here.occurred_at or (
            last.occurred_at == here.occurred_at and last.position <= here.position):
        sightings = (*sightings[1 - KEEP_SIGHTINGS:], here)  # the usual case: in time order
    else:
        sightings = tuple(sorted((*sightings, here),
                                 key=lambda s: (s.occurred_at, s.position)))[-KEEP_SIGHTINGS:]
    if here.place in places and len(places) == 1:
        return Whereabouts(sightings, shifts, places)  # still seen at one place only
    return whereabouts(sightings, shifts)


def _shifted(after: Whereabouts, here: Sighting, body: Mapping[str, Any]) -> Whereabouts:
    """``after`` with the duty shift the step ``body`` (a duty shift's start or end, signed
    ``here``) starts or ends in its room."""
    room = body["stream"].split(":", 1)[1]
    duty = list(after.shifts)
    if body["type"] == "duty.started":
        if not any(s.room == room and s.ended_at is None for s in duty):
            duty.append(Shift(room, body["occurred_at"], here.position,
                              body.get("location", "")))
    else:
        duty = [s._replace(ended_at=body["occurred_at"])
                if s.room == room and s.ended_at is None else s for s in duty]
    # Open shifts are always kept; of the ended ones, the latest.
    ended = [s for s in duty if s.ended_at is not None]
    kept = [s for s in duty if s.ended_at is None or s in ended[-KEEP_SHIFTS:]]
    return after._replace(shifts=tuple(kept))


# Where a step was signed, as the fold hands it to :meth:`Presence.step`: position, stream,
# type, occurred_at, location, and the registered place.
Here = tuple[int, str, str, str, str, str]


class Presence:
    """The fold's judge of impossible presence: everyone's :class:`Whereabouts`, and the
    registered rooms and sites that say which places are apart.

    ``LedgerState`` hands it, in log order, each room and site registered and each step
    that places its signers; the mappings given are the fold's own, shared, not copied. The
    verifier may hand the same calls to one judging in another process
    (``ledger.verify.presence_helper``): nothing else in the fold reads what it concludes."""

    def __init__(self, whereabouts: MutableMapping[str, Whereabouts],
                 rooms: MutableMapping[str, RoomState],
                 sites: MutableMapping[str, SiteState]) -> None:
        self.whereabouts = whereabouts
        self.rooms = rooms
        self.sites = sites
        # place -> its outermost registered site (``places.region``), worked out once: it
        # changes only when a room or site is registered, which empties it.
        self._regions: dict[str, str | None] = {}

    def room(self, room: RoomState) -> None:
        """A room registered (or registered again)."""
        self.rooms[room.room_id] = room
        self._regions.clear()

    def site(self, site: SiteState) -> None:
        """A site registered (or registered again)."""
        self.sites[site.site_id] = site
        self._regions.clear()

    def step(self, people: list[str], here: Here, body: Mapping[str, Any],
             window: int) -> list[Finding]:
        """Judge and remember where ``people`` (who validly signed the step ``body``, sorted)
        were: ``here``, with the policy's presence ``window`` in minutes
        (:func:`place_people`)."""
        position, stream, event_type, occurred_at, location, place = here
        sighting = Sighting(position, stream, event_type, occurred_at, location, place,
                            moment_of(occurred_at))
        return place_people(self.whereabouts, people, sighting, body, window, self.apart)

    def apart(self, a: str, b: str) -> bool:
        """Whether places ``a`` and ``b`` are apart at this position (``places.apart``)."""
        return apart_in(a, b, self._region)

    def _region(self, place: str) -> str | None:
        try:
            return self._regions[place]
        except KeyError:
            found = self._regions[place] = region(place, self.rooms, self.sites)
            return found
