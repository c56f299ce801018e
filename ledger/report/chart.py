"""The duty coverage chart of one secure room, laid out as plain shapes for an inline SVG.

Three lanes on one time axis: when the room held papers, who was on duty (a bar per shift,
as tall as the number of people), and the gaps ``verify`` reports as ``DUTY_UNCOVERED``.
Computed here, drawn by the template: the report needs no script to show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from ledger.core.canonical import format_timestamp
from ledger.report.rooms import RoomCoverage, parse_moment

WIDTH = 900
LEFT = 120  # room for the lane labels
RIGHT = 16
LANE = 26
TOP = 8
TICKS = 6


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str  # what a reader sees on hover, and what a screen reader reads


@dataclass(frozen=True)
class Tick:
    x: float
    label: str
    anchor: str = "middle"  # the first and last labels stay inside the chart


@dataclass
class Chart:
    width: int = WIDTH
    height: int = 0
    lanes: list[tuple[float, str]] = field(default_factory=list)  # (y of the label, lane key)
    held: list[Bar] = field(default_factory=list)
    shifts: list[Bar] = field(default_factory=list)
    gaps: list[Bar] = field(default_factory=list)
    patrols: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    axis_y: float = 0.0


def coverage_chart(room: RoomCoverage, role: Callable[[str], str] = str,
                   when: Callable[[str], str] = str) -> Chart:
    """The shapes of ``room``'s coverage over [room.start, room.end]; ``role`` names a
    roster role in the reader's language (as stored by default), ``when`` shows a stored
    time (RFC 3339 with its offset) in the reader's zone."""
    start, end = parse_moment(room.start), parse_moment(room.end)
    span = max((end - start).total_seconds(), 1.0)
    inner = WIDTH - LEFT - RIGHT

    def x(moment: str) -> float:
        seconds = (parse_moment(moment) - start).total_seconds()
        return round(LEFT + inner * min(max(seconds / span, 0.0), 1.0), 2)

    def bar(s: str, e: str, y: float, height: float, title: str) -> Bar:
        left = x(s)
        return Bar(left, y, max(round(x(e) - left, 2), 1.0), height, title)

    held_y, duty_y, gap_y = TOP, TOP + LANE + 6, TOP + 2 * (LANE + 6)
    chart = Chart(lanes=[(held_y + LANE / 2, "held"), (duty_y + LANE / 2, "duty"),
                         (gap_y + LANE / 2, "gaps")])
    chart.held = [bar(s, e, held_y + 4, LANE - 8, f"{when(s)} – {when(e)}")
                  for s, e in room.stays]
    most = max([len(shift.on_duty) for shift in room.shifts] + [1])
    for shift in room.shifts:
        height = round((LANE - 2) * len(shift.on_duty) / most, 2)
        who = ", ".join(f"{p} ({role(r)})" if r else p for p, r in shift.on_duty) or "-"
        chart.shifts.append(bar(shift.start, shift.end, duty_y + LANE - 1 - height,
                                max(height, 1.0),
                                f"{when(shift.start)} – {when(shift.end)}: "
                                f"{len(shift.on_duty)}: {who}"))
    chart.gaps = [bar(g.start, g.end, gap_y + 2, LANE - 4, g.message) for g in room.gaps]
    chart.patrols = [Bar(x(t), duty_y, 0, LANE, f"{when(t)}: {', '.join(who)}")
                     for t, who in room.patrols]
    chart.axis_y = gap_y + LANE + 6
    step = span / TICKS
    # "06-07 06:10": month, day, hour and minute of the time as ``when`` shows it
    chart.ticks = [Tick(round(LEFT + inner * i / TICKS, 2),
                        _tick(when(format_timestamp(start + timedelta(seconds=step * i)))),
                        "start" if i == 0 else "end" if i == TICKS else "middle")
                   for i in range(TICKS + 1)]
    chart.height = int(chart.axis_y + 22)
    return chart


def _tick(shown: str) -> str:
    """``06-07 06:10`` from an RFC 3339 time ``2026-06-07T06:10:00+08:00``."""
    return shown[5:16].replace("T", " ")
