"""Secure-room duty coverage (24小时值守), judged event by event: where a duty gap opens.

Each secure room's coverage moves forward with the log. Every event that changes what a room
holds (a lot stored in it or taken out), who is on duty in it (a duty shift starting or
ending) or what the duty policy asks (a new policy version) is judged where it stands:

- it takes effect at its ``occurred_at`` (a policy at its ``recorded_at``, when it came into
  force) — or, if the room's coverage last changed at a later moment, at that moment: a step
  dated back cannot rewrite a room's past, as a backdated policy cannot;
- if the room then holds papers while those on duty fall short of the policy's ``room.duty``
  requirement, and no gap is open, a gap opens at that moment, and that event carries the
  ``DUTY_UNCOVERED`` finding (an error; its stream the room's): the store into an unstaffed
  room, the end of a shift that leaves too few, the stricter policy;
- once the room holds no papers, or enough are on duty, the open gap closes there.

So a gap is reported exactly once, at the position of the step that opened it, and the
recorder, judging a new step against the whole ledger at its head, says there exactly what
``custody verify`` will report at that position. Pure data and functions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from ledger.core.findings import Finding
from ledger.core.policy import PresencePolicy, PresenceVerdict, evaluate
from ledger.core.text import Message

DUTY_STEP = "room.duty"


@dataclass(frozen=True)
class Gap:
    """A stretch in which a secure room held papers with too few on duty: from ``start``
    (opened by the event at ``position``) to ``end`` (None: still open)."""

    room: str
    start: str
    position: int
    on_duty: Mapping[str, str]  # person id -> role, when it opened
    policy: Mapping[str, Any]  # the policy's {"id", "version"} it fell short of
    end: str | None = None


@dataclass(frozen=True)
class Coverage:
    """One secure room's coverage as the log stands: how many lots it holds, the latest
    moment its coverage changed (it never moves back), and the gap open now, if any."""

    held: int = 0
    clock: str = ""
    gap: Gap | None = None


def judge_coverage(room: str, coverage: Coverage, on_duty: Mapping[str, str],
                   policy: PresencePolicy, moment: str, position: int
                   ) -> tuple[Coverage, Gap | None, Finding | None]:
    """``coverage`` after an event at ``position`` changed the room at ``moment``: the new
    coverage, the gap it closed (if any) and the DUTY_UNCOVERED finding of a gap it opened
    (if any). ``on_duty`` is who is on duty after the event, with their roster roles."""
    at = max(moment, coverage.clock)
    verdict = evaluate(policy, DUTY_STEP, on_duty)
    short = coverage.held > 0 and not verdict.met
    if short and coverage.gap is None:
        gap = Gap(room, at, position, dict(sorted(on_duty.items())), policy.ref)
        return replace(coverage, clock=at, gap=gap), None, uncovered(gap, verdict)
    if not short and coverage.gap is not None:
        closed = replace(coverage.gap, end=at)
        return replace(coverage, clock=at, gap=None), closed, None
    return replace(coverage, clock=at), None, None


def uncovered(gap: Gap, verdict: PresenceVerdict) -> Finding:
    """The finding a gap's opening carries: the room, from when, who was on duty and what
    was missing."""
    return Finding(
        "DUTY_UNCOVERED",
        Message("secure room {room} holds papers from {start} with too few on duty: {verdict}",
                room=gap.room, start=gap.start, verdict=verdict.describe()),
        stream=f"room:{gap.room}",
        evidence={"room": gap.room, "start": gap.start, "on_duty": dict(gap.on_duty),
                  "policy": dict(gap.policy)})


def described(gap: Gap, policy: PresencePolicy, end: str) -> Finding:
    """A gap as an interval (``presence --room``, the timelines, the report): from its start
    to its end, or to ``end`` while it is open."""
    until = gap.end if gap.end is not None else max(gap.start, end)
    verdict = evaluate(policy, DUTY_STEP, gap.on_duty)
    return Finding(
        "DUTY_UNCOVERED",
        Message("secure room {room} held papers from {start} to {end} with too few on duty: "
                "{verdict}", room=gap.room, start=gap.start, end=until,
                verdict=verdict.describe()),
        position=gap.position, stream=f"room:{gap.room}",
        evidence={"room": gap.room, "start": gap.start, "end": until,
                  "on_duty": dict(gap.on_duty), "policy": dict(gap.policy),
                  "position": gap.position})
