"""The one ledger-state fold: what a stored event means, for recorder, verifier and status.

:class:`LedgerState` is a state machine that only moves forward: :meth:`LedgerState.apply`
takes the next stored event of the log (in position order) with its ``recorded_at`` and any
signature results computed elsewhere, judges it against the state as it stands at that
position (``rules.judge``), folds it in, and returns every finding. Nothing here reads a
clock, a file or a database (model: python-tuf's ``TrustedMetadataSet``).

What it holds, each as of the current position:

- the roster: every enrolled person with the key that counts for them now (a revoked,
  rotated-away or expired key no longer counts, from the position that says so on);
- the authority set (who may sign roster, room and policy events, and how many must);
- the presence policy in force, and the history of policies by the ``recorded_at`` from which
  each took effect (a backdated ``policy set`` can never re-judge the past);
- rooms with their licences and who is on duty; registered sites; lots and containers; every
  stream's head (step number, event hash, latest ``occurred_at``);
- for secure-room duty: each room's coverage (how many lots it holds, the gap open now) and
  the gaps that closed (``ledger.core.duty``).

Forged roster, room and policy events (not validly signed by the authority set) are
reported and never change who counts. Lot and room steps are folded whatever their findings:
custody records tell the truth, and the verifier reports what was wrong with them.

The recorder folds only the streams a new step's judgement reads (the ledger stream, the
people, rooms and containers it names, and whoever signed their events), in log order; as
each stream's meaning depends only on streams in that closure, its state for them is the
same as a full fold's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, MutableMapping, NamedTuple, TypeVar

from ledger.core import digests
from ledger.core.custody import (
    LOT_STEPS,
    LotState,
    RoomState,
    lot_after,
    lot_registered,
    parties,
    room_after,
    room_registered,
)
from ledger.core.duty import Coverage, Gap, described, judge_coverage
from ledger.core.findings import Finding
from ledger.core.kinds import AUTHORITY_EVENTS, KEY_CHANGES, ROOM_EVENTS, TRUST_EVENTS
from ledger.core.policy import PresencePolicy
from ledger.core.keys import PublicKey
from ledger.core.roster import WITNESS_ROLE, Member, member_after, member_from
from ledger.core.text import Message
from ledger.core.places import SiteState, place_of, site_registered
from ledger.core.whereabouts import Presence, Whereabouts
from ledger.core.rules import (
    TRUST_CODES,
    AuthoritySet,
    Context,
    Verified,
    judge,
    judge_custody,
)
from ledger.core.trust import Prejudged, Trust



P = TypeVar("P", bound=Presence)


class _once:
    """``functools.cached_property`` without the lock Python 3.11 takes on every first read:
    an ``Outcome`` is made afresh for each step and read by one thread, and the lock cost
    the view's fold more than the properties it guarded."""

    def __init__(self, work: Callable[[Any], Any]) -> None:
        self.work = work
        self.name = work.__name__

    def __get__(self, outcome: Any, owner: type | None = None) -> Any:
        if outcome is None:
            return self
        value = outcome.__dict__[self.name] = self.work(outcome)
        return value


class Event(NamedTuple):
    """One stored event as the fold needs it: its position, signed body, signatures, event hash
    and the ledger's ``recorded_at`` (canonical timestamp)."""

    position: int
    body: Mapping[str, Any]
    signatures: Mapping[str, bytes]
    event_hash: str
    recorded_at: str
    digest: bytes | None = None  # signing digest, when the caller has computed it


@dataclass(frozen=True)
class Outcome:
    """What the fold concluded about one event, worked out once for every caller (the
    recorder, the verifier, the view): every finding, and what a reader needs about the step —
    who counted toward the presence policy and in which roster role, who was listed but did
    not count and why, the parties the step moved the lot between, the lot as it stands after
    it, and the registered place it happened at. The verifier and the recorder read only the
    findings, so the rest is worked out when first asked for."""

    position: int
    findings: list[Finding]
    body: Mapping[str, Any] = field(default_factory=dict, repr=False)
    present: Mapping[str, str] = field(default_factory=dict, repr=False)  # valid signers' roles
    lot: LotState | None = None  # a lot step's lot, after the step

    @_once
    def counted(self) -> Mapping[str, str]:
        """Who counted toward the presence policy: person -> roster role."""
        return {person: self.present[person] for person in self._listed
                if person in self.present}

    @_once
    def uncounted(self) -> Mapping[str, str]:
        """Who was listed as present but did not count: person -> the finding code saying
        why (the first the step carries about them)."""
        why = {f.evidence.get("person"): f.code for f in reversed(self.findings)
               if isinstance(f.evidence, Mapping)}
        return {person: why.get(person) or "ATTENDEE_UNSIGNED"
                for person in self._listed if person not in self.counted}

    @property
    def released(self) -> str | None:
        """The party the step took the lot from."""
        return self._parties[0]

    @property
    def received(self) -> str | None:
        """The party holding the lot after the step."""
        return self._parties[1]

    @property
    def place(self) -> str | None:
        """The registered place the step happened at ("room:ID" or "site:ID"), if any."""
        return place_of(self.body)

    @_once
    def _parties(self) -> tuple[str | None, str | None]:
        return parties(self.body)

    @_once
    def _listed(self) -> list[str]:
        return [a["person"] for a in self.body.get("attendees", ())
                if type(a) is dict or isinstance(a, Mapping)]

    @property
    def short(self) -> bool:
        """Whether the step fell short of the presence policy (acknowledged or not)."""
        return bool(self._short_findings())

    @property
    def shortfalls(self) -> list[dict[str, Any]]:
        """What the presence policy still needed: one entry per requirement not met."""
        return [short for f in self._short_findings() for short in f.evidence.get("short", [])]

    def _short_findings(self) -> list[Finding]:
        return [f for f in self.findings
                if f.code == "PRESENCE_SHORT" or (f.code == "ACKNOWLEDGED_VIOLATION"
                                                  and f.evidence.get("code") == "PRESENCE_SHORT")]


class Head(NamedTuple):
    """Where a stream stands: its last step, that step's event hash, its latest occurred_at,
    and the log position its last step was stored at (0 where none is known)."""

    seq: int
    event_hash: str
    occurred_at: str = ""
    position: int = 0


class LedgerState:
    """The ledger as of one log position; see the module docstring.

    The keyed maps (``roster``, ``key_owner``, ``rooms``, ``sites``, ``lots``, ``heads``,
    ``entered``, ``coverage``, ``whereabouts``) may be given as any mutable mapping: the
    verifier passes ones that spill to disk, so memory stays flat at any ledger size, and the
    view ones that read each entry from its saved fold when first asked."""

    def __init__(self, *, roster: MutableMapping[str, Member] | None = None,
                 key_owner: MutableMapping[str, str] | None = None,
                 rooms: MutableMapping[str, RoomState] | None = None,
                 sites: MutableMapping[str, SiteState] | None = None,
                 lots: MutableMapping[str, LotState] | None = None,
                 heads: MutableMapping[str, Head] | None = None,
                 entered: MutableMapping[str, tuple[str, str]] | None = None,
                 coverage: MutableMapping[str, Coverage] | None = None,
                 whereabouts: MutableMapping[str, Whereabouts] | None = None) -> None:
        self.ledger_id: str | None = None
        self.time_zone: str | None = None  # the zone the genesis names (times are shown in)
        self.position = 0
        self.recorded_at = ""  # the recorded_at of the last event folded
        self.recorded_at_position = 0  # and that event's position
        self.latest = ""  # the latest occurred_at seen: where open duty intervals end
        self.roster: MutableMapping[str, Member] = roster if roster is not None else {}
        # key id -> the person it was enrolled for
        self.key_owner: MutableMapping[str, str] = key_owner if key_owner is not None else {}
        self.authorities = AuthoritySet(frozenset(), 1)
        self.policy: PresencePolicy | None = None
        self.policies: list[tuple[str, PresencePolicy]] = []  # (in force from, policy)
        # Every log key the authority named (hex, in order): checkpoints signed by any of them
        # count, so naming a new key does not orphan the checkpoints the old one signed.
        self.log_keys: list[str] = []
        # Witnesses the genesis names (id -> a Member with the inspector role): they may
        # cosign checkpoints like an enrolled inspector, and do nothing else.
        self.witnesses: dict[str, Member] = {}
        self.rooms: MutableMapping[str, RoomState] = rooms if rooms is not None else {}
        # registered sites (places steps name)
        self.sites: MutableMapping[str, SiteState] = sites if sites is not None else {}
        self.lots: MutableMapping[str, LotState] = lots if lots is not None else {}
        self.heads: MutableMapping[str, Head] = heads if heads is not None else {}
        self.entered: MutableMapping[str, tuple[str, str]] = (
            entered if entered is not None else {})  # lot stream -> (room, since)
        # secure room -> its duty coverage now
        self.coverage: MutableMapping[str, Coverage] = coverage if coverage is not None else {}
        self.gaps: list[Gap] = []  # duty gaps that closed, in the order they closed
        self._changed_rooms: set[str] = set()  # rooms whose coverage the event being folded moves
        # person -> where they recently signed and their duty shifts (PRESENCE_CONFLICT)
        self.whereabouts: MutableMapping[str, Whereabouts] = (
            whereabouts if whereabouts is not None else {})
        # Judges each step's signers' whereabouts, against the rooms and sites registered.
        self.presence: Presence
        self.judge_presence_with(Presence)
        # Each state of trust the fold passes through is numbered (``ledger.core.trust``):
        # the number moves with every genesis or authority event folded.
        self._trust_version = 0
        self._trust: Trust | None = None

    # -- reading ---------------------------------------------------------------------------

    def member(self, person_id: str) -> Member | None:
        """The roster's entry for a person at this position, or None."""
        return self.roster.get(person_id)

    def witness(self, name: str) -> Member | None:
        """Who cosigns checkpoints under key name ``name``: a witness the genesis named
        (role inspector), else the enrolled person of that id, whatever their role (the
        caller checks it), or None."""
        return self.witnesses.get(name) or self.roster.get(name)

    def lot(self, lot_id: str) -> LotState | None:
        return self.lots.get(f"lot:{lot_id}")

    def room(self, room_id: str) -> RoomState | None:
        return self.rooms.get(room_id)

    def head(self, stream: str) -> Head | None:
        return self.heads.get(stream)

    def context(self, recorded_at: str | None) -> Context:
        """What ``rules.judge`` needs to know of the ledger at this position."""
        return Context(self.roster.get, self.policy, self.lots.get, self.rooms.get,
                       recorded_at, self.authorities, self.key_owner.get, self.sites.get)

    @property
    def trust_version(self) -> int:
        """The number of the trust state as it stands (see :meth:`trust`)."""
        return self._trust_version

    def trust(self) -> Trust:
        """The trust state as it stands (``ledger.core.trust``), for the processes that
        decode rows ahead of the fold; made again only when it has changed."""
        if self._trust is None or self._trust.version != self._trust_version:
            self._trust = Trust(self._trust_version, dict(self.roster), self.policy,
                                dict(self.rooms), dict(self.sites))
        return self._trust

    def saw_recorded(self, recorded_at: str) -> None:
        """Note a ``recorded_at`` of the log not folded here (its last event, when only some
        streams were): the ledger's clock is never set behind it."""
        self.recorded_at = max(self.recorded_at, recorded_at)

    # -- the fold --------------------------------------------------------------------------

    def apply(self, event: Event, verified: Verified | None = None,
              prejudged: Prejudged | None = None) -> Outcome:
        """Judge ``event`` at the next position, fold it in, and return what was concluded:
        every finding, and the step's parties, counted people and place (:class:`Outcome`).

        ``verified`` may carry signature results computed ahead (keyed by the exact
        (key, digest, signature) triple); anything missing is verified here. ``prejudged``
        may carry the trust-dependent part of the step's judgement worked out ahead
        (``trust.prejudge``): it is used only if the trust state is still the one it was
        worked out against."""
        body = event.body
        findings: list[Finding] = []
        self.position = event.position
        if self.ledger_id is None:
            if body["type"] != "ledger.genesis":
                findings.append(Finding("GENESIS_MISSING", Message(
                    "position {position} comes before any genesis; the log must start with "
                    "ledger.genesis", position=event.position)))
        elif body["ledger"] != self.ledger_id:
            findings.append(Finding("LEDGER_MISMATCH", Message(
                "event names ledger {found}, this log is ledger {expected}",
                found=body["ledger"], expected=self.ledger_id),
                                    evidence={"expected": self.ledger_id,
                                              "found": body["ledger"]}))
        findings.extend(self._check_chain(body))
        findings.extend(self._check_recorded_at(event.recorded_at))
        self.recorded_at_position = event.position
        present: dict[str, str] = {}
        if self.policy is None and body["type"] not in TRUST_EVENTS:
            findings.append(Finding("GENESIS_MISSING", Message(
                "{event_type} before any policy was set", event_type=body["type"])))
        elif prejudged is not None and prejudged.version == self._trust_version:
            roster = self.roster
            present = {person: roster[person].role for person in prejudged.signers}
            findings.extend(judge_custody(body, present, list(prejudged.findings),
                                          self.context(event.recorded_at)))
        else:
            present, judged = judge(body, event.signatures, self.context(event.recorded_at),
                                    verified, event.digest)
            findings.extend(judged)
        if body["type"] in TRUST_EVENTS:
            self._trust_version += 1
        self._fold(event, findings, present)
        findings.extend(self._judge_coverage(event))
        findings.extend(self._place_people(event, present))  # last: see ``Presence``
        return self._outcome(event, findings, present)

    def judge_presence_with(self, kind: Callable[..., P]) -> P:
        """Have presence judged from now on by a ``kind`` of :class:`Presence` over this
        state's whereabouts, rooms and sites: one that notes it for another process to judge
        (``ledger.core.presence_notes``), or, that done, a plain one again."""
        self.presence = kind(self.whereabouts, self.rooms, self.sites)
        return self.presence

    def _outcome(self, event: Event, findings: list[Finding],
                 present: Mapping[str, str]) -> Outcome:
        stream = event.body.get("stream", "")
        lot = self.lots.get(stream) if isinstance(stream, str) and stream.startswith("lot:") \
            else None
        return Outcome(event.position, findings, event.body, present, lot)

    def _place_people(self, event: Event, present: Mapping[str, str]) -> list[Finding]:
        """Judge and remember where everyone who validly signed a step was (after the fold,
        so a room registered or a policy set by this very event counts). A step that names
        no registered place places nobody: free text is never compared."""
        body = event.body
        if (not present or "location" not in body or "attendees" not in body
                or body["type"] in AUTHORITY_EVENTS or self.policy is None):
            return []
        place = place_of(body)
        if place is None:
            return []
        here = (event.position, body["stream"], body["type"], body["occurred_at"],
                body["location"], place)
        return self.presence.step(sorted(present), here, body, self.policy.presence_window)

    def skip(self, stream: str, seq: int, event_hash: str, position: int) -> None:
        """Advance a stream's head past a stored row at ``position`` that could not be read (it
        has a finding of its own), so the chain goes on from the stored bytes: one bad row, one
        finding."""
        before = self.heads.get(stream)
        self.heads[stream] = Head(seq, event_hash, before.occurred_at if before else "", position)

    def _check_chain(self, body: Mapping[str, Any]) -> list[Finding]:
        stream = body["stream"]
        head = self.heads.get(stream)
        seq = head.seq if head else 0
        findings = []
        if body["seq"] != seq + 1:
            findings.append(Finding("SEQUENCE_GAP", Message(
                "{stream} goes from step {seq} to step {found}", stream=stream, seq=seq,
                found=body["seq"]),
                                    evidence={"expected": seq + 1, "found": body["seq"]}))
        expected_prev = digests.next_prev(body["ledger"], stream, head.event_hash if head else None)
        if body["prev"] != expected_prev:
            findings.append(Finding(
                "CHAIN_BROKEN",
                Message("{stream} step {found} does not follow the stored step {seq}: prev "
                        "{prev}… expected {expected}… (an event was changed, removed or "
                        "inserted before it)", stream=stream, found=body["seq"], seq=seq,
                        prev=body["prev"][:16], expected=expected_prev[:16]),
                evidence={"expected": expected_prev, "found": body["prev"],
                          "previous_position": head.position if head else None}))
        # Lots and rooms judge their own time order (a lot step may acknowledge it).
        if head and not stream.startswith(("lot:", "room:")) and body["occurred_at"] < head.occurred_at:
            findings.append(Finding("TIME_REVERSED", Message(
                "occurred_at {found} is before {stream}'s previous event at {previous}",
                found=body["occurred_at"], stream=stream, previous=head.occurred_at),
                                    evidence={"previous": head.occurred_at,
                                              "found": body["occurred_at"]}))
        return findings

    def _check_recorded_at(self, recorded_at: str) -> list[Finding]:
        # Against the event just before, not the latest so far: one event moved out of order
        # is one or two findings, not a finding on every event after it.
        if recorded_at < self.recorded_at:
            return [Finding("RECORDED_AT_REVERSED", Message(
                "recorded at {found}, before the event before it in the log (position "
                "{previous_position}, recorded at {previous})", found=recorded_at,
                previous_position=self.recorded_at_position, previous=self.recorded_at),
                            evidence={"previous": self.recorded_at, "found": recorded_at,
                                      "previous_position": self.recorded_at_position})]
        return []

    def _fold(self, event: Event, findings: Iterable[Finding], present: dict[str, str]) -> None:
        body = event.body
        event_type, stream = body["type"], body["stream"]
        trusted = not any(f.code in TRUST_CODES for f in findings)
        self.recorded_at = event.recorded_at
        self.latest = max(self.latest, body["occurred_at"])
        before = self.heads.get(stream)
        self.heads[stream] = Head(body["seq"], event.event_hash,
                                  max(before.occurred_at if before else "", body["occurred_at"]),
                                  event.position)
        if event_type == "ledger.genesis":
            if self.ledger_id is None:
                self.ledger_id = body["ledger"]
                self.time_zone = body.get("time_zone")
                self._set_policy(body, "")  # in force from the beginning
                if trusted:
                    authority = member_from(body["authority"])
                    self._enrol(authority)
                    self.authorities = AuthoritySet(frozenset({authority.person_id}), 1)
                    self.witnesses = {
                        w["id"]: Member(w["id"], w["id"], WITNESS_ROLE, "named in the genesis",
                                        PublicKey.from_hex(w["public_key"]))
                        for w in body.get("witnesses", ())}
            return
        if not trusted and (event_type in AUTHORITY_EVENTS):
            return  # a forged roster, room or policy event never counts
        if event_type == "ledger.policy_set":
            self._set_policy(body, event.recorded_at)
            self._changed_rooms.update(self.coverage)
        elif event_type == "ledger.authority_set":
            self._set_authorities(body)
        elif event_type == "ledger.log_key_set":
            if body["log_key"] not in self.log_keys:
                self.log_keys.append(body["log_key"])
        elif event_type == "person.enrolled":
            self._enrol(member_from(body["person"]))
        elif event_type in KEY_CHANGES:
            person_id = stream.split(":", 1)[1]
            if person_id in self.roster:
                member = member_after(self.roster[person_id], body)
                self.roster[person_id] = member
                self.key_owner.setdefault(member.public_key.id, person_id)
        elif event_type == "room.registered":
            self.presence.room(room_registered(body))
        elif event_type == "site.registered":
            self.presence.site(site_registered(body))
        elif event_type in ROOM_EVENTS:
            self._fold_room(body, present)
        elif event_type == "lot.registered":
            self.lots[stream] = lot_registered(body, event.event_hash)
            self._track_room(stream, None, self.lots[stream].holder, body["occurred_at"])
        elif event_type in LOT_STEPS and stream in self.lots:
            holder = self.lots[stream].holder
            self.lots[stream] = lot_after(self.lots[stream], body, event.event_hash)
            self._track_room(stream, holder, self.lots[stream].holder, body["occurred_at"])

    def _enrol(self, member: Member) -> None:
        self.roster[member.person_id] = member
        self.key_owner.setdefault(member.public_key.id, member.person_id)

    def _set_policy(self, body: Mapping[str, Any], effective: str) -> None:
        self.policy = PresencePolicy.from_data(body["policy"])
        # In force from when the ledger recorded it, never from the occurred_at an
        # authority claims, so a backdated policy cannot re-judge what came before.
        effective = max(effective, self.policies[-1][0]) if self.policies else effective
        self.policies.append((effective, self.policy))

    def _set_authorities(self, body: Mapping[str, Any]) -> None:
        """A new authority set replaces the old: its members are enrolled (or re-keyed) as
        authorities, and authorities left out of it can no longer sign anything."""
        named = [member_from(entry) for entry in body["authorities"]]
        for person_id in self.authorities.members - {m.person_id for m in named}:
            if person_id in self.roster:
                self.roster[person_id] = replace(self.roster[person_id], revoked=True)
        for member in named:
            self._enrol(member)
        self.authorities = AuthoritySet(frozenset(m.person_id for m in named),
                                        body["threshold"])

    def _fold_room(self, body: Mapping[str, Any], present: Mapping[str, str]) -> None:
        room_id = body["stream"].split(":", 1)[1]
        room = self.rooms.get(room_id)
        if room is None:
            return
        # Only people who validly signed are on duty, whatever the event lists.
        signed = dict(body, attendees=[a for a in body["attendees"] if a["person"] in present])
        self.rooms[room_id] = room_after(room, signed)
        if body["type"] != "room.patrolled":
            self._changed_rooms.add(room_id)

    def _track_room(self, stream: str, before: str | None, after: str | None,
                    moment: str) -> None:
        """A lot enters or leaves a secure room: the room holds one lot more or fewer."""
        if before == after:
            return
        if before is not None and before.startswith("room:") and stream in self.entered:
            room_id, _ = self.entered.pop(stream)
            self._hold(room_id, -1)
        if after is not None and after.startswith("room:"):
            self.entered[stream] = (after[5:], moment)
            self._hold(after[5:], +1)

    def _hold(self, room_id: str, change: int) -> None:
        coverage = self.coverage.get(room_id, Coverage())
        self.coverage[room_id] = replace(coverage, held=coverage.held + change)
        self._changed_rooms.add(room_id)

    def _judge_coverage(self, event: Event) -> list[Finding]:
        """Judge the duty coverage of every room the event changed (``ledger.core.duty``):
        the DUTY_UNCOVERED of a gap it opened, at its position."""
        rooms, self._changed_rooms = sorted(self._changed_rooms), set()
        if self.policy is None or not rooms:
            return []
        body = event.body
        moment = (event.recorded_at if body["type"] == "ledger.policy_set"
                  else body["occurred_at"])
        findings = []
        for room_id in rooms:
            room = self.rooms.get(room_id)
            on_duty = {pid: m.role for pid in (room.on_duty if room else ())
                       if (m := self.roster.get(pid))}
            coverage, closed, opened = judge_coverage(
                room_id, self.coverage.get(room_id, Coverage()), on_duty, self.policy, moment,
                event.position)
            self.coverage[room_id] = coverage
            if closed is not None:
                self.gaps.append(closed)
            if opened is not None:
                findings.append(opened)
        return findings

    # -- duty coverage ---------------------------------------------------------------------

    def duty_gaps(self, end: str | None = None) -> list[Finding]:
        """Every duty gap as an interval, by room and start: those that closed, and those
        still open judged up to ``end`` (default: the latest occurred_at). Each gap was
        reported as DUTY_UNCOVERED once, at the position of the event that opened it."""
        end = end or self.latest
        gaps = [*self.gaps, *(c.gap for c in self.coverage.values() if c.gap is not None)]
        policies = {(p.id, p.version): p for _, p in self.policies}
        return [described(gap, policies[gap.policy["id"], gap.policy["version"]], end)
                for gap in sorted(gaps, key=lambda g: (g.room, g.start, g.position))
                if (gap.policy["id"], gap.policy["version"]) in policies]
