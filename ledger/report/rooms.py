"""Secure-room duty coverage for the report: when each room held papers, who was on duty,
its patrols, and the gaps ``verify`` reports as ``DUTY_UNCOVERED`` (``queries.duty_gaps``),
all from the view and clipped to the report's time window."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from ledger.projections import queries
from ledger.projections.view import ViewStore
from ledger.report.selection import Selection


@dataclass(frozen=True)
class Shift:
    """Who was on duty in a room from ``start`` until ``end`` (the next change)."""

    start: str
    end: str
    on_duty: tuple[tuple[str, str], ...]  # (person, role)


@dataclass(frozen=True)
class Gap:
    start: str
    end: str
    message: str
    on_duty: tuple[tuple[str, str], ...]


@dataclass
class RoomCoverage:
    room: str
    name: str
    licence: str
    valid_from: str
    valid_until: str
    start: str  # the chart's span
    end: str
    stays: list[tuple[str, str]] = field(default_factory=list)  # papers held (merged)
    shifts: list[Shift] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    patrols: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (time, who)


def selected_rooms(view: ViewStore, selection: Selection, lots: set[str]) -> list[str]:
    """Every room, or those active in the window; for a lot or an exam, the rooms its
    lots (and their containers) stayed in."""
    if selection.lot is None and selection.exam is None:
        rooms = [room for (room,) in view.query("SELECT room FROM view_rooms ORDER BY room")]
        if not selection.windowed:
            return rooms
        return [room for room in rooms if _active_in(view, room, selection)]
    stayed: set[str] = set()
    ids = sorted(lots)
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        stayed |= {room for (room,) in view.query(
            f"SELECT DISTINCT room FROM view_occupancy WHERE lot IN "
            f"({','.join('?' * len(part))})", part)}
    return sorted(room for room in stayed if not selection.windowed
                  or _active_in(view, room, selection))


def _active_in(view: ViewStore, room: str, selection: Selection) -> bool:
    for since, until in view.query("SELECT since, until FROM view_occupancy WHERE room = ?",
                                   [room]):
        if ((selection.until is None or since <= selection.until)
                and (until is None or selection.since is None or until >= selection.since)):
            return True
    return any(selection.within(t) for (t,) in view.query(
        "SELECT occurred_at FROM view_duty WHERE room = ?", [room]))


def span_end(selection: Selection, now: str) -> str:
    """Up to when a room still holding papers is shown and judged."""
    return min(now, selection.until) if selection.until is not None else now


def coverage(view: ViewStore, room_id: str, end: str, selection: Selection) -> RoomCoverage:
    """``room_id``'s stays, shifts, patrols and gaps, clipped to the window."""
    (name, licence, valid_from, valid_until), = view.query(
        "SELECT name, licence, valid_from, valid_until FROM view_rooms WHERE room = ?",
        [room_id]) or [("", "", "", "")]
    duty = view.query("SELECT occurred_at, type, on_duty FROM view_duty WHERE room = ? "
                      "ORDER BY position", [room_id])
    occupancy = view.query("SELECT since, until FROM view_occupancy WHERE room = ? "
                           "ORDER BY since", [room_id])
    stays = _merge([(since, until or end) for since, until in occupancy])
    still_held = any(until is None for _, until in occupancy)
    shifts_at = [(t, _people(on_duty)) for t, kind, on_duty in duty if kind != "room.patrolled"]
    patrols = [(t, tuple(person for person, _ in _people(on_duty)))
               for t, kind, on_duty in duty if kind == "room.patrolled"]
    moments = [t for t, _ in shifts_at] + [s for s, _ in stays] + [t for t, _ in patrols]
    start = min(moments) if moments else end
    # A room still holding papers is shown (and judged) up to ``end``; one that no longer
    # does, up to the last thing that happened in it.
    last = max([u for _, u in stays] + moments + ([end] if still_held or not moments else []))
    if selection.until is not None:
        last = min(last, selection.until)
    if selection.since is not None:
        start = max(start, selection.since)
    start = min(start, last)
    shifts = [Shift(t, (shifts_at[i + 1][0] if i + 1 < len(shifts_at) else last), people)
              for i, (t, people) in enumerate(shifts_at)]
    gaps = [Gap(g.evidence["start"], g.evidence["end"], g.message,
                tuple(sorted(g.evidence["on_duty"].items())))
            for g in queries.duty_gaps(view, end, room_id)]
    return RoomCoverage(
        room_id, name or "", licence or "", valid_from or "", valid_until or "", start, last,
        stays=[(s, u) for s, u in (_clip(s, u, start, last) for s, u in stays) if s < u],
        shifts=[sh for sh in (Shift(*_clip(sh.start, sh.end, start, last), sh.on_duty)
                              for sh in shifts) if sh.start < sh.end],
        gaps=[g for g in (Gap(*_clip(g.start, g.end, start, last), g.message, g.on_duty)
                          for g in gaps) if g.start < g.end],
        patrols=[(t, who) for t, who in patrols if start <= t <= last])


def _people(on_duty: str) -> tuple[tuple[str, str], ...]:
    data = json.loads(on_duty) if on_duty else {}
    if isinstance(data, dict):
        return tuple(sorted((str(p), str(r)) for p, r in data.items()))
    return tuple(sorted((str(p), "") for p in data))


def _merge(intervals: list[tuple[str, str]]) -> list[tuple[str, str]]:
    merged: list[tuple[str, str]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _clip(start: str, end: str, low: str, high: str) -> tuple[str, str]:
    return max(start, low), min(end, high)


def parse_moment(value: str) -> datetime:
    """A canonical timestamp as an aware datetime (for the chart's scale)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
