"""Secure-room duty coverage (24小时值守): was the room staffed whenever it held papers?

Pure: given when a room held papers (occupancy intervals) and how its on-duty roster changed
(duty timeline), return every maximal interval in which the duty policy was not met, with who
was on duty and what was missing. Times are canonical timestamp strings, which sort in time
order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence, TypeVar

from ledger.core.policy import PresencePolicy, PresenceVerdict, evaluate

DUTY_STEP = "room.duty"
T = TypeVar("T")


@dataclass(frozen=True)
class DutyGap:
    room_id: str
    start: str
    end: str
    verdict: PresenceVerdict


def merge(intervals: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Union of [start, end) intervals, sorted."""
    merged: list[tuple[str, str]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif start < end:
            merged.append((start, end))
    return merged


def uncovered(room_id: str, occupied: Sequence[tuple[str, str]],
              timeline: Sequence[tuple[str, Mapping[str, str]]],
              policies: Sequence[tuple[str, PresencePolicy]]) -> list[DutyGap]:
    """Intervals of ``occupied`` during which the people on duty fall short of the policy.

    ``timeline`` is (moment, person id -> role of everyone on duty from then on), in time
    order; before its first entry nobody is on duty. ``policies`` is (moment, the policy in
    force from then on), in time order; each stretch is judged by the policy in force then.
    """
    gaps: list[DutyGap] = []
    changes = sorted({t for t, _ in timeline} | {t for t, _ in policies[1:]})
    for start, end in merge(occupied):
        points = [start] + [t for t in changes if start < t < end] + [end]
        for seg_start, seg_end in zip(points, points[1:]):
            verdict = evaluate(_at(policies, seg_start, policies[0][1]), DUTY_STEP,
                               _at(timeline, seg_start, {}))
            if verdict.met:
                continue
            if gaps and gaps[-1].end == seg_start and gaps[-1].verdict.shortfalls == verdict.shortfalls:
                gaps[-1] = DutyGap(room_id, gaps[-1].start, seg_end, verdict)
            else:
                gaps.append(DutyGap(room_id, seg_start, seg_end, verdict))
    return gaps


def _at(timeline: Sequence[tuple[str, T]], moment: str, before: T) -> T:
    """What ``timeline`` (moment, value from then on; in time order) says at ``moment``."""
    current = before
    for t, value in timeline:
        if t > moment:
            break
        current = value
    return current
