"""The trust state a step is judged against, as a snapshot another process can hold.

Judging a step (an event its attendees sign, ``rules.judge``) has two parts. The first reads
only the row and the trust state: the roster, the presence policy in force, the rooms and
sites registered (``rules.judge_signed``: time, signatures, attendance, presence, place). The
second reads the lot's or the room's own state (``rules.judge_custody``). The trust state
changes only with the genesis and the authority's events (``kinds.TRUST_EVENTS``): a few
thousand times in a province's season, while steps come by the million.

So the fold numbers each state of trust it passes through (``LedgerState.trust``)
and hands the current one (:class:`Trust`) to the processes that decode rows ahead of it:
verify's workers, a rebuild's helper. They work the first part out beside the decoding
(:func:`prejudge`). The fold takes that result only while its trust state is still the one
the result was worked out against; otherwise it judges the step itself, as it always could.
A stale snapshot costs time, never a different verdict.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from ledger.core.custody import RoomState
from ledger.core.findings import Finding
from ledger.core.kinds import STEPS
from ledger.core.places import SiteState
from ledger.core.policy import PresencePolicy
from ledger.core.roster import Member
from ledger.core.rules import Context, Verified, judge_signed


class Trust(NamedTuple):
    """The trust state at one point of the fold, numbered by ``version``."""

    version: int
    members: Mapping[str, Member]  # the roster: person id -> member, as it stands
    policy: PresencePolicy | None  # the presence policy in force
    # The secure rooms and sites registered. A step's judgement reads only whether a place
    # is registered, which only a trust event changes; a room's duty state here may be old.
    rooms: Mapping[str, RoomState]
    sites: Mapping[str, SiteState]


class Prejudged(NamedTuple):
    """``rules.judge_signed`` of one step, worked out against the trust state ``version``:
    who validly signed (in signer order; their roles are the roster's at that version) and
    what it found."""

    version: int
    signers: tuple[str, ...]
    findings: list[Finding]


def prejudge(body: Mapping[str, Any], signatures: Mapping[str, bytes], digest: bytes,
             recorded_at: str, trust: Trust, verified: Verified) -> Prejudged | None:
    """The trust-dependent part of judging a step against ``trust``, or None for an event
    that is not a step, or a step before any policy (the fold judges those itself)."""
    if body["type"] not in STEPS or trust.policy is None:
        return None
    ctx = Context(trust.members.get, trust.policy, rooms=trust.rooms.get,
                  recorded_at=recorded_at, sites=trust.sites.get)
    present, findings = judge_signed(body, signatures, ctx, verified, digest)
    return Prejudged(trust.version, tuple(present), findings)
