"""Registered places: where a step happened, and which places lie within which.

A place is a registered secure room (``room:ID``) or a registered site (``site:ID``: a
printing house, an exam site, a marking or scanning centre, an exam room). A site may lie
within another (``site register S01-R12 --within S01``), and a room within a site. Free-text
locations are only the detail of a step (where inside its place); they name no place and are
never compared.

A step's place (event schema 2) is the room of a duty shift, of ``lot.stored`` and of
``lot.retrieved``; for any other step it is the ``place`` the step names, if any. A remote
video patrol places the inspector where the patrol names (their office), never in the room.

Two places are *apart* when both are registered, they differ, and no site holds them both:
one person can be anywhere inside one site (a school's exam rooms, an institute and its
secure room) within the presence window, so only places in different outermost sites can
put someone in two places at once. Pure data and functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ledger.core.custody import RoomState
from ledger.core.findings import Finding
from ledger.core.kinds import DUTY_SHIFTS, ROOM_PLACED
from ledger.core.text import Message


@dataclass(frozen=True)
class SiteState:
    """A registered site: its name and the site it lies within, if any."""

    site_id: str
    name: str
    within: str | None = None


def site_registered(body: Mapping[str, Any]) -> SiteState:
    """A site's state from its ``site.registered`` body."""
    site = body["site"]
    return SiteState(site["id"], site["name"], site.get("within"))


def place_of(body: Mapping[str, Any]) -> str | None:
    """The registered place a step names (``room:ID`` or ``site:ID``), or None: a step at a
    free-text location only, or an event that is no step."""
    event_type = body["type"]
    if event_type in DUTY_SHIFTS:  # on the room's own stream
        return str(body["stream"])
    if event_type in ROOM_PLACED:  # a lot step naming its room
        return f"room:{body['room']}"
    place = body.get("place")
    return place if isinstance(place, str) else None


def region(place: str, rooms: Mapping[str, RoomState],
           sites: Mapping[str, SiteState]) -> str | None:
    """The outermost registered site ``place`` lies within (the place itself when it lies
    within none), or None when ``place`` is not registered."""
    kind, _, name = place.partition(":")
    if kind == "room":
        room = rooms.get(name)
        if room is None:
            return None
        if room.within is None:
            return place
        kind, name = "site", room.within
    if kind != "site" or name not in sites:
        return None
    # Each site lies within one registered before it, so the chain ends; the bound guards
    # a forged registration all the same.
    for _ in range(len(sites)):
        within = sites[name].within
        if within is None or within not in sites:
            break
        name = within
    return f"site:{name}"


def apart(a: str | None, b: str | None, rooms: Mapping[str, RoomState],
          sites: Mapping[str, SiteState]) -> bool:
    """Whether one person cannot be at ``a`` and ``b`` within the presence window: both are
    registered places, different, and no site holds them both."""
    return apart_in(a, b, lambda place: region(place, rooms, sites))


def apart_in(a: str | None, b: str | None, region_of: Callable[[str], str | None]) -> bool:
    """``apart``, with each place's outermost site found by ``region_of`` (the fold keeps
    them, as they change only when a room or site is registered)."""
    if a is None or b is None or a == b:
        return False
    first, second = region_of(a), region_of(b)
    return first is not None and second is not None and first != second


def judge_place(body: Mapping[str, Any], rooms: Callable[[str], RoomState | None],
                sites: Callable[[str], SiteState | None]) -> Iterator[Finding]:
    """``PLACE_UNKNOWN`` when a step names a place, or a registration a site to lie within,
    that is not registered at this position. ``rooms`` and ``sites`` look ids up."""
    named: list[tuple[str, str]] = []
    if isinstance(body.get("place"), str) and body["type"] not in ROOM_PLACED:
        named.append(("place", body["place"]))
    for key in ("room", "site"):
        entry = body.get(key)
        if isinstance(entry, Mapping) and entry.get("within") is not None:
            named.append(("within", f"site:{entry['within']}"))
    for field, place in named:
        kind, _, name = place.partition(":")
        if (rooms(name) if kind == "room" else sites(name)) is None:
            yield Finding("PLACE_UNKNOWN", Message(
                "{field} names {place}, which is not a registered {kind} at this position; "
                "register it first, or give only a --location", field=field, place=place,
                kind=Message("secure room") if kind == "room" else Message("site")),
                          evidence={"field": field, "place": place})
