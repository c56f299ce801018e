"""CustodyLedger: the eventsourcing Application that records signed, hash-chained steps.

Every write follows one path — build the body, sign it, ``submit`` — and ``submit`` judges the
event against the ledger's state at the log's head (``LedgerState``, the one fold the verifier
also uses), then appends it on condition that the head has not moved. A step with error
findings is refused and nothing is written; the library's optimistic concurrency control
refuses a second writer of the same step; a writer that lost the race for the head judges
again. Nothing is cached between commands: every judgement reads the ledger as it stands.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from eventsourcing.application import Application
from eventsourcing.domain import OriginatorIDError, OriginatorVersionError
from eventsourcing.persistence import (
    IntegrityError,
    MapperDeserialisationError,
    PersistenceError,
)
from eventsourcing.utils import TopicError, get_topic

from ledger.application.foresight import foresee, preview
from ledger.application.keystore import Signer
from ledger.application.names import unknown_in_log
from ledger.core import canonical, digests
from ledger.core.custody import LotState, RoomState, is_person
from ledger.core.errors import (
    ConcurrentChange,
    InputError,
    KeyringError,
    PolicyViolation,
    StorageError,
)
from ledger.core.findings import Finding, Severity
from ledger.core.keys import PublicKey
from ledger.core.policy import PresencePolicy
from ledger.core.roster import Member, keys_named
from ledger.core.rules import ALL_VALID, AuthoritySet, Verified
from ledger.core.state import Event, Head, LedgerState
from ledger.core.text import Message, joined
from ledger.domain import events
from ledger.domain.aggregates import (
    AGGREGATE_FOR_START,
    LEDGER_STREAM,
    lot_stream,
    person_stream,
    check_event,
    room_stream,
    site_stream,
)
from ledger.domain.schemas import body_problems, schema_version
from ledger.storage.backend import (
    Backend,
    check_holds_ledger,
    check_reachable,
    select_backend,
)
from ledger.storage.recorders import HeadMoved
from ledger.domain.stored import Prepared, prepare, raw
from ledger.storage.faults import describe
from ledger.storage.tables import positions_if_stored

Clock = Callable[[], datetime]

# What rebuilding a stream from damaged rows raises: the library's mapper (bytes that do not
# decode, a record without the event's fields), its topic resolution (a class that does not
# exist), its aggregate (versions out of order, a row under another stream id, an assertion
# on the event class), and the folds reading a body that is not what its type says.
DAMAGED_ROWS = (MapperDeserialisationError, TopicError, OriginatorIDError,
                OriginatorVersionError, canonical.NonCanonical, AssertionError,
                AttributeError, KeyError, TypeError, ValueError)


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Receipt:
    """What an officer takes away: where the event sits and what it hashes to, and every
    finding ``verify`` will report at its position (``warnings``: the step was recorded
    with them)."""

    stream: str
    seq: int
    event_type: str
    event_hash: str
    position: int | None
    warnings: tuple[Finding, ...] = field(default=())
    already_recorded: bool = False  # the very step was in the ledger already: nothing written


@dataclass(frozen=True)
class LedgerView:
    """What a command needs to know of the ledger itself: its id, policy and authorities, and
    the time zone its genesis names (None: UTC)."""

    ledger_id: str
    policy: PresencePolicy
    authorities: AuthoritySet
    time_zone: str | None = None


@dataclass(frozen=True)
class LotView:
    """A lot as the ledger stands: its state and the hash of its latest step."""

    state: LotState
    head: str


Authorities = Signer | Sequence[Signer]  # who signs an authority event

# How often a step is judged again when other writers keep moving the log's head.
RETRIES = 50
# Errors a step is recorded with all the same, with a warning saying what to do: a store into
# a room with too few on duty (the papers must go somewhere; only a duty shift closes the
# gap, and ``verify`` reports it at that step for ever).
RECORDED_WITH_WARNING = frozenset({"DUTY_UNCOVERED"})


class CustodyLedger(Application[str]):
    name = "custody"

    def __init__(self, backend: Backend, clock: Clock = system_clock, *,
                 new: bool = False) -> None:
        self.backend = backend
        self.clock = clock
        # Called with the receipts of every append, after it committed (the CLI signs a
        # checkpoint and writes a tlog-proof receipt there).
        # (Given the ledger, so a hook need not hold it: no cycle keeps the database open.)
        self.after_append: Callable[[CustodyLedger, list[Receipt]], None] | None = None
        check_reachable(backend)
        if not new:  # only init makes a ledger: a database that holds none is left as it is
            check_holds_ledger(backend, postgres_table=f"{self.name}_events")
        try:
            super().__init__(env=backend.env)
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot open ledger database {backend.label}: "
                               f"{describe(exc, backend)}") from None

    # -- reading: every question is answered by the one fold, LedgerState -----------------

    def state(self, streams: Iterable[str] = (), *, roster: bool = False
              ) -> tuple[LedgerState, int]:
        """The ledger's state for ``streams`` (and everything their meaning depends on: the
        ledger stream, the people, rooms and containers they name, and whoever signed for
        them), folded in log order, and the log position it stands at.

        Read the head first, then the streams, so the state is never older than the head it
        is judged at. A stored event the fold finds an error in means a damaged ledger.

        ``roster``: fold every person's stream, for a judgement that asks who holds a key."""
        head_row = self._read(lambda: self.recorder.select_head(), "the log's head")
        head = head_row[0] if head_row else 0
        rows: dict[int, Prepared] = {}
        wanted, loaded = {LEDGER_STREAM, *streams}, set()
        first: list[Any] = []
        if roster:
            first = self._read(lambda: self.recorder.select_kind("person:"), "the roster")
            loaded |= {str(row[1]) for row in first}
        while first or wanted - loaded:
            batch = sorted(wanted - loaded)
            loaded |= set(batch)
            found = first + (self._read(lambda: self.recorder.select_streams(batch),
                                        "the ledger") if batch else [])
            first = []
            for row in found:
                if row[0] > head:
                    continue  # appended after the head this state stands at
                prepared = prepare(row)
                if prepared.problem is not None:
                    raise _damaged(row[0], row[1], prepared.problem)
                rows[row[0]] = prepared
                wanted |= referenced(prepared.body, prepared.signatures)
        state = LedgerState()
        for position in sorted(rows):
            row = rows[position]
            findings = state.apply(Event(position, row.body, row.signatures,
                                         row.event_hash.hex(), row.recorded_at, row.digest))
            errors = [f for f in findings if f.severity is Severity.ERROR
                      and f.code not in RECORDED_WITH_WARNING]
            if errors:
                raise _damaged(position, row.body["stream"], errors[0])
        if head_row is not None:  # the log's last event, not only the last one folded here
            last = prepare(head_row)
            if last.recorded_at is not None:  # a damaged last row is verify's to report
                state.recorded_at = max(state.recorded_at, last.recorded_at)
        return state, head

    def _read(self, read: Callable[[], Any], what: str) -> Any:
        try:
            return read()
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot read {what} from {self.backend.label}: "
                               f"{describe(exc, self.backend)}") from None

    def ledger(self, state: LedgerState | None = None) -> LedgerView:
        """The ledger's id, policy and authorities, or a StorageError saying there is none."""
        state = state or self.state()[0]
        if state.ledger_id is None or state.policy is None:
            if self.last_position() is not None:
                raise StorageError(f"{self.backend.label} holds events but no readable genesis: "
                                   "its ledger stream is missing or damaged; run 'custody "
                                   "verify' for details")
            raise StorageError(Message("{db} holds no ledger; run 'custody init' first",
                                       db=self.backend.label))
        return LedgerView(state.ledger_id, state.policy, state.authorities, state.time_zone)

    def member(self, person_id: str) -> Member | None:
        """The roster's entry for a person as the ledger stands, or None."""
        return self.state([person_stream(person_id)])[0].member(person_id)

    def lot(self, lot_id: str) -> LotView | None:
        """A lot as the ledger stands, or None."""
        stream = lot_stream(lot_id)
        state = self.state([stream])[0]
        lot, head = state.lots.get(stream), state.head(stream)
        return LotView(lot, head.event_hash) if lot is not None and head is not None else None

    def room(self, room_id: str) -> RoomState | None:
        return self.state([room_stream(room_id)])[0].room(room_id)

    def has_stream(self, stream: str) -> bool:
        """Whether any row is stored under ``stream`` (its rows are not decoded)."""
        try:
            return bool(self.recorder.select_events(stream, limit=1))
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot read {stream} from {self.backend.label}: "
                               f"{describe(exc, self.backend)}") from None

    def last_position(self) -> int | None:
        """The highest position stored in the log; None when it holds no row."""
        try:
            return self.recorder.max_notification_id()
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot read {self.backend.label}: {exc}") from None


    def events_at(self, steps: Sequence[tuple[int, str, str | None]]
                  ) -> list[events.Recorded]:
        """The stored events at log positions, each checked as ``stream_events`` checks a
        stream's: ``steps`` gives (position, stream, hash of the step before it or None for
        the stream's first). ``history`` reads the steps the view indexes this way, by
        primary key, instead of whole streams."""
        out = []
        for position, stream, prev in steps:
            try:
                notes = self.recorder.select_notifications(start=position, stop=position,
                                                           limit=1)
                if not notes or notes[0].id != position or notes[0].originator_id != stream:
                    raise StorageError(f"the log holds no step of {stream} at position "
                                       f"{position}, where the view says one is; run "
                                       "'custody projections rebuild', then 'custody verify'")
                # The row decoded as the verifier decodes it first: damage is named as
                # ``state`` names it (position, finding code), whichever way it was read.
                prepared = prepare(raw(notes[0]))
                if prepared.problem is not None:
                    raise _damaged(position, stream, prepared.problem)
                event = self.mapper.to_domain_event(notes[0])
                problem = _misread(stream, event, prev)
            except DAMAGED_ROWS as exc:
                raise _unreadable(stream, exc) from None
            except (sqlite3.DatabaseError, PersistenceError) as exc:
                raise StorageError(f"cannot read {stream} from {self.backend.label}: "
                                   f"{describe(exc, self.backend)}") from None
            if problem is not None:
                seq = event.originator_version
                raise StorageError(f"stored {stream} step "
                                   f"{seq if isinstance(seq, int) else repr(seq)} is "
                                   f"damaged ({problem}); run 'custody verify' for details")
            out.append(event)
        return out

    def event_hash(self, stream: str, seq: int) -> str:
        """The hash of step ``seq`` of ``stream`` (what a correction references)."""
        found = [e for e in self.stream_events(stream) if e.originator_version == seq]
        if not found:
            raise InputError(f"{stream} has no step {seq}")
        return found[0].event_hash

    def stream_events(self, stream: str) -> Iterator[events.Recorded]:
        """The events of one stream, in order, each checked to be what its row says it is.

        A reader shows these events, so a stored row that decodes to something else — a body
        breaking its schema, another stream's or step's body, one that does not follow the
        step before it — ends the reading with a StorageError that names the step. (Only
        ``custody verify`` checks signatures and rules.)"""
        head: str | None = None
        try:
            for event in self.events.get(stream):
                problem = _misread(stream, event, head)
                if problem is not None:
                    seq = event.originator_version
                    raise StorageError(f"stored {stream} step "
                                       f"{seq if isinstance(seq, int) else repr(seq)} is "
                                       f"damaged ({problem}); run 'custody verify' for details")
                head = event.event_hash
                yield event
        except DAMAGED_ROWS as exc:
            raise _unreadable(stream, exc) from None
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot read {stream} from {self.backend.label}: "
                               f"{describe(exc, self.backend)}") from None

    def lot_history(self, lot_id: str, *, _within: frozenset[str] = frozenset()
                    ) -> Iterator[tuple[events.Recorded, str | None]]:
        """The steps of a lot in order, each with the container it was taken in, if any.

        A packed lot takes no steps of its own: it moves with its container. So between the
        lot's ``lot.packed`` and ``lot.unpacked`` (or to the end, if it is still packed) come
        the container's steps that occurred after the packing, as (event, container id); the
        lot's own steps come as (event, None). Containers packed in containers nest."""
        packed: tuple[str, str] | None = None  # (container id, packed at)
        for event in self.stream_events(lot_stream(lot_id)):
            body = event.body
            if packed is not None and body["type"] == "lot.unpacked":
                yield from self._inside(*packed, body["occurred_at"], _within | {lot_id})
                packed = None
            yield event, None
            if body["type"] == "lot.packed":
                packed = (body["container"], body["occurred_at"])
        if packed is not None:
            yield from self._inside(*packed, None, _within | {lot_id})

    def _inside(self, container: str, since: str, until: str | None, within: frozenset[str]
                ) -> Iterator[tuple[events.Recorded, str]]:
        if container in within:
            return  # a container inside itself: the verifier reports it; history stops here
        for event, via in self.lot_history(container, _within=within):
            moment = event.body["occurred_at"]
            if since < moment and (until is None or moment <= until):
                yield event, via or container

    # -- writing ---------------------------------------------------------------------------

    def init(self, ledger_id: str, authority: Mapping[str, str], signer: Signer,
             policy: PresencePolicy, occurred_at: datetime,
             witnesses: Mapping[str, PublicKey] | None = None,
             time_zone: str | None = None) -> Receipt:
        """Write the genesis: the ledger id, the authority (who signs it), the policy, any
        ``witnesses`` (name -> key) whose cosignatures of checkpoints count from the start,
        and the ``time_zone`` its times are shown in (an IANA name or ``+HH:MM``)."""
        state, _ = self.state()
        if state.ledger_id is not None or state.head(LEDGER_STREAM) is not None:
            raise InputError(f"{self.backend.label} already holds ledger {state.ledger_id}; "
                             "use another --db for a new ledger")
        if signer.person_id != authority["id"]:
            raise KeyringError(
                f"the authority key file belongs to {signer.person_id}, not {authority['id']}"
            )
        person = {**authority, "role": "authority", "public_key": signer.key.public_key.hex}
        body = _envelope(ledger_id, LEDGER_STREAM, None, "ledger.genesis", occurred_at)
        body.update(authority=person, policy=policy.to_data())
        if witnesses:
            body["witnesses"] = genesis_witnesses(ledger_id, person, witnesses)
        if time_zone is not None:
            body["time_zone"] = time_zone
        body["schema"] = schema_version(body)
        return self.submit(body, _sign(body, [signer]))

    def enrol(self, person: Mapping[str, str], public_key: PublicKey, signer: Authorities,
              occurred_at: datetime) -> Receipt:
        """Enrol a person with a role, unit and public key; signed by an authority."""
        stream = person_stream(person["id"])
        if person["role"] == "authority":
            raise InputError(f"{person['id']}: the authority set is the one source of "
                             "authority, and an enrolled 'authority' could sign nothing an "
                             "authority signs; name them in a new set instead ('custody "
                             f"authority set ... {person['id']}=PUBFILE ...')")
        state = self._writable([stream, *_signer_streams(signer)], roster=True)
        if state.member(person["id"]) is not None or state.head(stream) is not None:
            raise InputError(f"person {person['id']} is already enrolled")
        if person["id"] in state.witnesses:
            raise InputError(f"{person['id']} is a witness the genesis named; enrol the "
                             "person under another id")
        owner = state.key_owner.get(public_key.id)
        if owner is not None:
            raise InputError(f"public key {public_key.id[:16]} is already enrolled for {owner}; "
                             "every person needs a key of their own ('custody keys new')")
        return self._authority_event(state, stream, "person.enrolled",
                                     {"person": {**person, "public_key": public_key.hex}},
                                     signer, occurred_at)

    def revoke_key(self, person_id: str, reason: str, signer: Authorities,
                   occurred_at: datetime) -> Receipt:
        """Revoke a person's key; signed by an authority. Nothing signed by it counts after."""
        state = self._enrolled(person_id, signer)
        return self._authority_event(state, person_stream(person_id), "person.key_revoked",
                                     {"reason": reason}, signer, occurred_at)

    def rotate_key(self, person_id: str, public_key: PublicKey, signer: Authorities,
                   occurred_at: datetime) -> Receipt:
        """Give a person a new key; signed by an authority. Only the new key counts after."""
        state = self._enrolled(person_id, signer)
        owner = state.key_owner.get(public_key.id)
        if owner is not None and owner != person_id:
            raise InputError(f"public key {public_key.id[:16]} is already enrolled for {owner}; "
                             "every person needs a key of their own ('custody keys new')")
        return self._authority_event(state, person_stream(person_id), "person.key_rotated",
                                     {"public_key": public_key.hex}, signer, occurred_at)

    def _enrolled(self, person_id: str, signer: Authorities) -> LedgerState:
        state = self._writable([person_stream(person_id), *_signer_streams(signer)],
                               roster=True)
        if person_id in state.authorities.members:
            raise InputError(f"{person_id} is in the authority set, which only a new "
                             f"authority set changes: {_rekeying(state, person_id)}")
        if state.member(person_id) is None:
            raise unknown_in_log(self, "person", person_id)
        return state

    def register_room(self, room: Mapping[str, Any], signer: Authorities,
                      occurred_at: datetime) -> Receipt:
        """Register a licensed secure room (perhaps within a registered site); signed by an
        authority."""
        stream = room_stream(room["id"])
        within = [site_stream(room["within"])] if room.get("within") else []
        state = self._writable([stream, *within, *_signer_streams(signer)])
        if state.head(stream) is not None:
            raise InputError(f"room {room['id']} is already registered")
        if room["valid_from"] > room["valid_until"]:
            raise InputError(f"room {room['id']}: the licence ends before it starts")
        _check_within(state, room)
        return self._authority_event(state, stream, "room.registered", {"room": dict(room)},
                                     signer, occurred_at)

    def register_site(self, site: Mapping[str, Any], signer: Authorities,
                      occurred_at: datetime) -> Receipt:
        """Register a site steps happen at (a printing house, an exam site or room, a marking
        or scanning centre), perhaps within another site; signed by an authority."""
        stream = site_stream(site["id"])
        within = [site_stream(site["within"])] if site.get("within") else []
        state = self._writable([stream, *within, *_signer_streams(signer)])
        if state.head(stream) is not None:
            raise InputError(f"site {site['id']} is already registered")
        _check_within(state, site)
        return self._authority_event(state, stream, "site.registered", {"site": dict(site)},
                                     signer, occurred_at)

    def set_policy(self, policy: PresencePolicy, signer: Authorities,
                   occurred_at: datetime) -> Receipt:
        """Put a new version of the presence policy in force; signed by an authority."""
        state = self._writable(_signer_streams(signer))
        return self._authority_event(state, LEDGER_STREAM, "ledger.policy_set",
                                     {"policy": policy.to_data()}, signer, occurred_at)

    def set_log_key(self, public_key: PublicKey, signer: Authorities,
                    occurred_at: datetime) -> Receipt:
        """Name the Ed25519 key that signs the log's checkpoints; signed by an authority."""
        state = self._writable(_signer_streams(signer))
        if state.log_keys and state.log_keys[-1] == public_key.hex:
            raise InputError(f"key {public_key.id[:16]} is already the log key of this ledger")
        return self._authority_event(state, LEDGER_STREAM, "ledger.log_key_set",
                                     {"log_key": public_key.hex}, signer, occurred_at)

    def set_authorities(self, authorities: Sequence[Mapping[str, str]], threshold: int,
                        signers: Sequence[Signer], occurred_at: datetime) -> Receipt:
        """Replace the authority set (as TUF rotates its root): signed by the threshold of the
        current set and by the threshold of the new one, whose keys are named in the event."""
        state = self._writable([person_stream(s.person_id) for s in signers], roster=True)
        if not 1 <= threshold <= len(authorities):
            raise InputError(f"--threshold {threshold} must be between 1 and the number of "
                             f"authorities named ({len(authorities)})")
        for entry in authorities:
            owner = state.key_owner.get(PublicKey.from_hex(entry["public_key"]).id)
            if owner is not None and owner != entry["id"]:
                raise InputError(f"the key named for {entry['id']} is already enrolled for "
                                 f"{owner}; every person needs a key of their own")
        named = {entry["id"]: entry["public_key"] for entry in authorities}
        for signer in signers:
            member = state.member(signer.person_id)
            new_key = named.get(signer.person_id)
            if member is not None and new_key not in (None, member.public_key.hex):
                if signer.key.public_key.hex != new_key:  # a member re-keyed by this set
                    raise KeyringError(
                        f"{signer.person_id} is named with a new key: sign with that key's "
                        "file (it proves you hold it); the current set's threshold signs "
                        "with the keys it holds")
            elif member is not None and signer.person_id in state.authorities.members:
                self._signer_member(state, signer)
        body = _envelope(state.ledger_id or "", LEDGER_STREAM, state.head(LEDGER_STREAM),
                         "ledger.authority_set", occurred_at)
        body.update(authorities=[{**e, "role": "authority"} for e in authorities],
                    threshold=threshold)
        return self.submit(body, _sign(body, signers))

    def _writable(self, streams: Iterable[str], *, roster: bool = False) -> LedgerState:
        """The state for ``streams``, refusing a database that holds no ledger."""
        state = self.state(streams, roster=roster)[0]
        self.ledger(state)
        return state

    def _authority_event(self, state: LedgerState, stream: str, event_type: str,
                         fields: Mapping[str, Any], signer: Authorities,
                         occurred_at: datetime) -> Receipt:
        signers = _signers(signer)
        for one in signers:
            self._signer_member(state, one)
        body = _envelope(self.ledger(state).ledger_id, stream, state.head(stream), event_type,
                         occurred_at)
        body.update(fields)
        body["schema"] = schema_version(body)
        return self.submit(body, _sign(body, signers))

    def draft_step(self, stream: str, event_type: str, fields: Mapping[str, Any],
                   location: str, attendees: Sequence[str], occurred_at: datetime, *,
                   acknowledge: str | None = None, note: str | None = None,
                   evidence: Sequence[str] = (), place: str | None = None) -> dict[str, Any]:
        """Build the unsigned body of a co-signed step, pinned to the stream's current head."""
        return self._draft(stream, event_type, fields, location, attendees, occurred_at,
                           acknowledge=acknowledge, note=note, evidence=evidence,
                           place=place)[0]

    def _draft(self, stream: str, event_type: str, fields: Mapping[str, Any],
               location: str, attendees: Sequence[str], occurred_at: datetime, *,
               acknowledge: str | None = None, note: str | None = None,
               evidence: Sequence[str] = (), place: str | None = None
               ) -> tuple[dict[str, Any], LedgerState]:
        """The drafted body, and the state it was drafted against (which holds every
        attendee's roster entry: signing on this terminal reuses it). ``place``: the
        registered ``room:ID`` or ``site:ID`` the step happens at (``location`` is then the
        detail within it)."""
        parties = [p for p in (fields.get(o) for o in ("from", "to", "holder")) if p]
        state = self._writable([stream, *(person_stream(p) for p in attendees),
                                *(_party_stream(p) for p in parties),
                                *([place] if place else [])])
        if place is not None:
            kind, _, name = place.partition(":")
            if (state.room(name) if kind == "room" else state.sites.get(name)) is None:
                what = "secure room" if kind == "room" else "site"
                raise InputError(f"--place {place}: no {what} {name} is registered; register "
                                 f"it first ('custody {kind} register'), or give only "
                                 "--location")
        ledger = self.ledger(state)
        head = state.head(stream)
        starts = event_type in ("lot.registered", "incident.reported", "zero.reported")
        if starts and head is not None:
            kind = stream.split(":", 1)[0]
            raise InputError(f"{kind} {stream.split(':', 1)[1]} is already registered"
                             if kind == "lot" else f"{stream} already exists")
        if not starts and head is None:
            kind, name = stream.split(":", 1)
            raise unknown_in_log(self, kind, name)
        for option in ("from", "to", "holder"):
            party = fields.get(option)
            if party is not None and is_person(party) and state.member(party) is None:
                raise unknown_in_log(self, "person", party, f"--{option}")
        if "from" in fields and fields.get("from") == fields.get("to"):
            raise InputError(f"--from and --to are both {fields['from']}; a step needs two parties")
        roles = []
        for person_id in attendees:
            member = state.member(person_id)
            if member is None:
                raise unknown_in_log(self, "person", person_id, "attendee")
            roles.append({"person": person_id, "role": member.role})
        if len({a["person"] for a in roles}) != len(roles):
            twice = sorted({p for p in attendees if list(attendees).count(p) > 1})
            raise InputError(f"{', '.join(twice)} signs twice; each person signs once")
        body = _envelope(ledger.ledger_id, stream, head, event_type, occurred_at)
        body.update(fields)
        body.update(location=location, attendees=sorted(roles, key=lambda a: a["person"]),
                    policy=ledger.policy.ref)
        if place is not None:
            body["place"] = place
        body["schema"] = schema_version(body)
        if acknowledge is not None:
            body["acknowledged_violation"] = {"reason": acknowledge}
        if note:
            body["note"] = note
        if evidence:
            body["evidence"] = sorted(set(evidence))
        check_event(body)
        return body, state

    def check_draft(self, body: Mapping[str, Any]) -> list[Finding]:
        """Refuse a drafted step that ``submit`` would refuse against the ledger as it stands,
        judged as if everyone listed had signed; return what ``verify`` would report at its
        position (its warnings, and a duty gap it would open).

        So nobody signs an edited or stale draft: a changed count or seal, a holder that is
        not the holder, a head that moved, an attendee whose role was changed."""
        check_event(body)
        state, head = self.state(referenced(body, {}), roster=bool(keys_named(body)))
        assumed = {a["person"]: b"" for a in body.get("attendees", [])}
        recorded_at = self._recorded_at(state)
        findings = self._judge(state, head + 1, body, assumed, recorded_at, ALL_VALID)
        foreseen = preview(self, head, recorded_at, body, assumed)
        return foreseen if foreseen is not None else _warnings(findings)

    def sign(self, body: Mapping[str, Any], signer: Signer) -> bytes:
        """One attendee's signature over a schema-valid body (drafted here, or parsed from a
        draft file), after checking the signer is who the roster says."""
        check_event(body)
        self._signer_member(self._writable([person_stream(signer.person_id)]), signer)
        if signer.person_id not in {a["person"] for a in body.get("attendees", [])}:
            raise InputError(f"{signer.person_id} is not among this step's attendees; "
                             "only people present sign")
        return signer.key.sign(digests.signing_digest(body))

    def record(self, body: dict[str, Any], signers: Sequence[Signer]) -> Receipt:
        """Sign a drafted body with every signer present and submit it."""
        return self.submit(body, self._sign_here(body, signers))

    def _sign_here(self, body: Mapping[str, Any], signers: Sequence[Signer],
                   state: LedgerState | None = None) -> dict[str, bytes]:
        """Everyone present signs on this terminal: each must be listed and hold their key
        (in ``state``, when the caller has just read it with their roster entries)."""
        listed = {a["person"] for a in body.get("attendees", [])}
        state = state or self._writable(_signer_streams(signers))
        for signer in signers:
            if signer.person_id not in listed:
                raise InputError(f"{signer.person_id} is not among this step's attendees")
            self._signer_member(state, signer)
        digest = digests.signing_digest(body)
        return {s.person_id: s.key.sign(digest) for s in signers}

    def record_step(self, stream: str, event_type: str, fields: Mapping[str, Any],
                    location: str, occurred_at: datetime, signers: Sequence[Signer],
                    **options: Any) -> Receipt:
        """Draft a step with the signers as attendees, sign it on this terminal, submit it."""
        if not signers:
            raise InputError("nobody signed: give at least one --sign KEYFILE")
        body, state = self._draft(stream, event_type, fields, location,
                                  [s.person_id for s in signers], occurred_at, **options)
        return self.submit(body, self._sign_here(body, signers, state))

    def register_lot(self, lot: Mapping[str, Any], location: str, occurred_at: datetime,
                     signers: Sequence[Signer], holder: str, **options: Any) -> Receipt:
        """Register a sealed lot (or a container) with its first holder, co-signed by the
        people present."""
        fields: dict[str, Any] = {"lot": dict(lot), "holder": holder}
        return self.record_step(lot_stream(lot["id"]), "lot.registered", fields, location,
                                occurred_at, signers, **options)

    def record_handover(self, lot_id: str, giver: str, receiver: str, location: str,
                        seals: Sequence[str], count: int, occurred_at: datetime,
                        signers: Sequence[Signer], **options: Any) -> Receipt:
        """Record custody passing from ``giver`` to ``receiver``, co-signed by all present."""
        fields = {"from": giver, "to": receiver, "seals_checked": sorted(seals),
                  "count_checked": count}
        return self.record_step(lot_stream(lot_id), "lot.handed_over", fields, location,
                                occurred_at, signers, **options)

    def pack(self, container: str, lot_ids: Sequence[str], unpack: bool, location: str,
             occurred_at: datetime, signers: Sequence[Signer], **options: Any) -> list[Receipt]:
        """Pack lots into (or unpack them from) a container, all in one transaction."""
        box = self.lot(container)
        if box is None:
            raise unknown_in_log(self, "lot", container, "container")
        if box.state.kind != "container":
            raise InputError(f"{container} is not a registered container lot")
        if len(set(lot_ids)) != len(lot_ids):
            raise InputError("a lot is named twice")
        event_type = "lot.unpacked" if unpack else "lot.packed"
        fields: dict[str, Any] = {"container": container}
        if unpack:
            fields["holder"] = box.state.holder
        attendees = [s.person_id for s in signers]
        batch = []
        for lot_id in lot_ids:
            body, state = self._draft(lot_stream(lot_id), event_type, fields, location,
                                      attendees, occurred_at, **options)
            batch.append((body, self._sign_here(body, signers, state)))
        return self.submit_all(batch)

    def submit(self, body: dict[str, Any], signatures: Mapping[str, bytes]) -> Receipt:
        """Check a signed body against schema, chain and rules; append it or refuse it whole.
        The very step already in the ledger (a draft submitted twice) is not written again:
        its receipt comes back marked ``already_recorded``."""
        try:
            return self.submit_all([(body, signatures)])[0]
        except ConcurrentChange:
            recorded = self.already_recorded(body, signatures)
            if recorded is None:
                raise
            return recorded

    def already_recorded(self, body: Mapping[str, Any], signatures: Mapping[str, bytes]
                         ) -> Receipt | None:
        """The receipt of the stored step that is this one — the same signed body, holding
        every signature given — or None. Nothing is written."""
        digest = digests.signing_digest(body)
        rows = self._read(lambda: self.recorder.select_streams([body["stream"]]), "the ledger")
        for row in rows:
            if row[2] != body["seq"]:
                continue
            stored = prepare(row)
            if (stored.body is None or stored.signatures is None
                    or digests.signing_digest(stored.body) != digest
                    or any(stored.signatures.get(p) != s for p, s in signatures.items())):
                return None
            return Receipt(stream=body["stream"], seq=body["seq"], event_type=body["type"],
                           event_hash=stored.event_hash.hex(), position=row[0],
                           already_recorded=True)
        return None

    def submit_all(self, batch: Sequence[tuple[dict[str, Any], Mapping[str, bytes]]]
                   ) -> list[Receipt]:
        """Judge every (body, signatures) against the ledger at its head and append them
        together, or refuse them all. The append is conditional on the head the judgement
        read, so when another writer appends first the batch is judged again."""
        for body, _ in batch:
            check_event(body)
            for person_id, raw_key in keys_named(body):
                try:
                    PublicKey(raw_key)  # a submitted draft has not been through a .pub file
                except InputError as exc:
                    raise InputError(f"{body['type']} of {body['stream']}: {exc}") from None
        if len({body["stream"] for body, _ in batch}) != len(batch):
            raise InputError("one transaction may hold one event per stream")
        streams = set().union(*(referenced(body, sigs) for body, sigs in batch))
        for _ in range(RETRIES):
            state, head = self.state(streams, roster=any(keys_named(b) for b, _ in batch))
            recorded_at = self._recorded_at(state)
            moment = canonical.parse_timestamp(recorded_at)
            stored, judged = [], []
            for offset, (body, signatures) in enumerate(batch, start=1):
                if body["type"] != "ledger.genesis":
                    self.ledger(state)
                event = _event(body, signatures, moment)
                findings = self._judge(state, head + offset, body, signatures, recorded_at,
                                       None, event.event_hash)
                stored.append(event)
                judged.append(findings)
            try:
                recordings = self.events.put(stored, expected_head=head)
            except (HeadMoved, IntegrityError):
                # Another writer appended first (on SQLite, perhaps this very step of the
                # same stream), or the library retried our own insert whose commit went
                # through but whose acknowledgement was lost: then it is recorded, once.
                position = self._committed_anyway(stored)
                if position is None:
                    continue  # judge again at the new head
            except (sqlite3.DatabaseError, PersistenceError) as exc:
                raise StorageError(f"cannot write to {self.backend.label}: "
                                   f"{describe(exc, self.backend, writing=True)}") from None
            else:
                position = {r.domain_event.originator_id: r.notification.id for r in recordings}
            # What verify will report at each new position, as the view (the whole ledger's
            # fold) recorded it; the recorder's own warnings if the view cannot say.
            where = [position.get(e.originator_id) for e in stored]
            foreseen = foresee(self, [p for p in where if p is not None]) \
                if None not in where else None
            receipts = [
                Receipt(stream=e.originator_id, seq=e.originator_version,
                        event_type=body["type"], event_hash=e.event_hash,
                        position=at,
                        warnings=tuple(foreseen.get(at, []) if foreseen is not None
                                       else _warnings(findings)))
                for e, findings, at, (body, _) in zip(stored, judged, where, batch)
            ]
            if self.after_append is not None:
                self.after_append(self, receipts)
            return receipts
        raise ConcurrentChange(f"the ledger kept changing while this step was judged "
                               f"({RETRIES} tries); try again")

    def _committed_anyway(self, stored: Sequence[events.Recorded]) -> dict[str, int] | None:
        """The positions of these very events if they are stored, byte for byte, else None.
        The library retries an insert whose connection failed; if the first attempt committed
        but its acknowledgement was lost (a PostgreSQL server or network failing at COMMIT),
        the retry meets our own rows."""
        try:
            return positions_if_stored(self.recorder, [
                (e.originator_id, e.originator_version, e.event_hash) for e in stored])
        except (sqlite3.DatabaseError, PersistenceError):
            return None

    def _recorded_at(self, state: LedgerState) -> str:
        """The ledger's clock, never behind the last recorded_at in the log."""
        return max(canonical.format_timestamp(self.clock()), state.recorded_at)

    def _judge(self, state: LedgerState, position: int, body: Mapping[str, Any],
               signatures: Mapping[str, bytes], recorded_at: str, verified: Verified | None,
               event_hash: str = "") -> list[Finding]:
        """Judge a new step against ``state`` (and fold it in); refuse it on any error."""
        stream = body["stream"]
        head = state.head(stream)
        expected_seq = head.seq + 1 if head else 1
        expected_prev = head.event_hash if head else digests.genesis_prev(body["ledger"], stream)
        if body["seq"] != expected_seq or body["prev"] != expected_prev:
            raise ConcurrentChange(
                f"{stream} changed since this event was drafted (it expects step {body['seq']}, "
                f"the ledger is at step {expected_seq - 1}); re-draft and sign again"
            )
        if state.ledger_id is not None and body["ledger"] != state.ledger_id:
            raise InputError(f"event is for ledger {body['ledger']}, this is {state.ledger_id}")
        findings = state.apply(Event(position, body, signatures, event_hash, recorded_at),
                               verified)
        errors = [f for f in findings if f.severity is Severity.ERROR
                  and f.code not in RECORDED_WITH_WARNING]
        if errors:
            raise PolicyViolation(Message(
                "refused {event_type} for {stream}: {problems} — nothing was written",
                event_type=body["type"], stream=stream,
                problems=joined([f.message for f in errors])))
        return findings

    # -- helpers ---------------------------------------------------------------------------

    def _signer_member(self, state: LedgerState, signer: Signer) -> Member:
        member = state.member(signer.person_id)
        if member is None:
            raise unknown_in_log(self, "person", signer.person_id, "named by a key file")
        if member.revoked:
            raise KeyringError(f"the key of {signer.person_id} was revoked; an authority must "
                               "rotate it ('custody person rotate') before they can sign")
        if member.public_key != signer.key.public_key:
            raise KeyringError(
                f"the key file for {signer.person_id} holds key {signer.key.public_key.id[:16]}, "
                f"but {signer.person_id} is enrolled with key {member.public_key.id[:16]}"
            )
        return member


def _rekeying(state: LedgerState, person_id: str) -> str:
    """The command that gives authority ``person_id`` a new key: the current set again, with
    the new key for them, signed by the threshold of the others and by them with the new key."""
    members = sorted(state.authorities.members)
    others = [m for m in members if m != person_id]
    needed = state.authorities.threshold
    named = " ".join(f"{m}=NEW.key.pub" if m == person_id else f"{m}={m}.key.pub"
                     for m in members)
    signs = " ".join([*(f"--sign {m}.key" for m in others[:needed]), "--sign NEW.key"])
    if len(others) < needed:
        return (f"the threshold ({needed}) of the current set must sign without "
                f"{person_id}'s old key, so first name a set with more members "
                f"(custody authority set {' '.join(f'{m}={m}.key.pub' for m in members)} "
                f"AUTH-NN=AUTHNN.key.pub ... --sign ...), then run: custody authority set "
                f"{named} --threshold {needed} --sign ... --sign NEW.key")
    return (f"custody authority set {named} --threshold {needed} {signs} (the current set's "
            f"threshold signs with the keys it holds; {person_id} signs with the new key)")


def _warnings(findings: Sequence[Finding]) -> list[Finding]:
    """What the recorder says of a step it records, judged by the streams it read alone."""
    return [f for f in findings
            if f.severity is Severity.WARNING or f.code in RECORDED_WITH_WARNING]


def _signers(signer: Authorities) -> list[Signer]:
    """One authority's signer, or several (when the authority set's threshold is above 1)."""
    signers = [signer] if isinstance(signer, Signer) else list(signer)
    if len({s.person_id for s in signers}) != len(signers):
        raise InputError("an authority key is given twice; each authority signs once")
    return signers


def _signer_streams(signer: Authorities) -> list[str]:
    return [person_stream(s.person_id) for s in _signers(signer)]


def referenced(body: Mapping[str, Any] | None, signatures: Mapping[str, bytes] | None
               ) -> set[str]:
    """The streams whose state judging this event reads: its own, the people who signed or
    are named in it, the rooms and containers it names."""
    if body is None:
        return set()
    streams = {body["stream"]}
    people = set(signatures or ()) | {a["person"] for a in body.get("attendees", ())}
    people |= {e["id"] for e in body.get("authorities", ())}
    streams |= {person_stream(p) for p in people}
    for option in ("from", "to", "holder"):
        if isinstance(body.get(option), str):
            streams.add(_party_stream(body[option]))
    if "room" in body and isinstance(body["room"], str):
        streams.add(room_stream(body["room"]))
    if "container" in body:
        streams.add(lot_stream(body["container"]))
    if isinstance(body.get("place"), str):
        streams.add(body["place"])  # room:ID and site:ID are the place's own stream
    for key in ("room", "site"):  # a registration within a site; a site's own chain
        entry = body.get(key)
        if isinstance(entry, Mapping) and isinstance(entry.get("within"), str):
            streams.add(site_stream(entry["within"]))
    return streams


def genesis_witnesses(ledger_id: str, authority: Mapping[str, str],
                       witnesses: Mapping[str, PublicKey]) -> list[dict[str, str]]:
    """The genesis's ``witnesses`` list, refusing (InputError) a name that is the ledger's
    or the authority's, or a key that is the authority's or another witness's."""
    entries = []
    keys = {authority["public_key"]: f"the authority {authority['id']}"}
    for name, key in witnesses.items():
        if name in (ledger_id, authority["id"]):
            whose = "the ledger id (the log key's name)" if name == ledger_id else \
                "the authority's id"
            raise InputError(f"--witness {name}: {name} is {whose}; name the witness "
                             "otherwise")
        if key.hex in keys:
            raise InputError(f"--witness {name}: its key is already {keys[key.hex]}'s; every "
                             "witness needs a key of its own ('custody keys new')")
        keys[key.hex] = f"witness {name}"
        entries.append({"id": name, "public_key": key.hex})
    return entries


def _check_within(state: LedgerState, entry: Mapping[str, Any]) -> None:
    """Refuse a room or site registered within a site that is not registered."""
    within = entry.get("within")
    if within is not None and within not in state.sites:
        raise InputError(f"--within {within}: no site {within} is registered; register it "
                         "first ('custody site register')")


def _party_stream(party: str) -> str:
    """The stream that says who a party is: a person's, a room's or a registered site's
    (vehicles have none; their own name stands for a stream nobody writes)."""
    if is_person(party):
        return person_stream(party)
    return party  # room:ID and site:ID are a room's and a site's streams; vehicle: none


def _damaged(position: int, stream: Any, finding: Finding) -> StorageError:
    return StorageError(Message("the ledger is damaged at position {position} ({stream}): "
                                "{code}: {message}; run 'custody verify' for details",
                                position=position, stream=stream, code=finding.code,
                                message=finding.message))


def _event(body: dict[str, Any], signatures: Mapping[str, bytes],
           recorded_at: datetime) -> events.Recorded:
    """The library's domain event for a signed body, recorded at ``recorded_at``."""
    event_class = events.EVENT_CLASSES[body["type"]]
    fields: dict[str, Any] = {"originator_id": body["stream"], "originator_version": body["seq"],
                              "timestamp": recorded_at, "body": body,
                              "signatures": dict(signatures)}
    if issubclass(event_class, events.Started):
        fields["originator_topic"] = get_topic(AGGREGATE_FOR_START[event_class])
    return event_class(**fields)


def _envelope(ledger_id: str, stream: str, head: Head | None, event_type: str,
              occurred_at: datetime) -> dict[str, Any]:
    return {
        "ledger": ledger_id,
        "stream": stream,
        "seq": 1 if head is None else head.seq + 1,
        "type": event_type,
        "schema": 1,
        "occurred_at": canonical.format_timestamp(occurred_at),
        "prev": digests.genesis_prev(ledger_id, stream) if head is None else head.event_hash,
    }


def _unreadable(stream: str, exc: Exception) -> StorageError:
    """The one-line error for a stream whose stored rows cannot be rebuilt."""
    why = " ".join(str(exc).split())[:200]
    why = f"{type(exc).__name__}: {why}" if why else f"they do not rebuild: {type(exc).__name__}"
    return StorageError(f"stored events of {stream} are damaged ({why}); "
                        "run 'custody verify' for details")


def _misread(stream: str, event: events.Recorded, head: str | None) -> str | None:
    """How a stored event is not the step its row says it is, if it is not."""
    body, seq = event.body, event.originator_version
    problems = body_problems(body)
    if problems:
        return problems[0]
    if (body["stream"], body["seq"], body["type"]) != (stream, seq, event.type):
        return (f"its body is {body['stream']} step {body['seq']} ({body['type']}), "
                f"stored as {event.type or type(event).__name__}")
    expected = digests.genesis_prev(body["ledger"], stream) if head is None else head
    if body["prev"] != expected:
        return f"it does not follow step {seq - 1}"
    return None


def _sign(body: Mapping[str, Any], signers: Sequence[Signer]) -> dict[str, bytes]:
    check_event(body)  # refuse bad input before anyone's key is used
    digest = digests.signing_digest(body)
    return {s.person_id: s.key.sign(digest) for s in signers}


def open_ledger(db: str | None, *, create: bool = False, read_only: bool = False,
                clock: Clock = system_clock) -> CustodyLedger:
    """Open the ledger at ``db`` (path or postgresql:// URL); refuse a missing SQLite file.

    ``read_only`` (read commands): no table is created and a SQLite file is opened
    read-only. Unless ``create`` (``init``), a database that holds no ledger's table (an
    empty file, another program's database, an empty PostgreSQL database) is refused with a
    StorageError before the library creates a table in it."""
    backend = select_backend(db, read_only=read_only)
    if not create and not backend.exists:
        raise StorageError(Message(
            "no ledger at {db}; run 'custody init' first, or pass --db / set CUSTODY_DB",
            db=backend.label))
    return CustodyLedger(backend, clock, new=create)
