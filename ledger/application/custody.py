"""CustodyLedger: the eventsourcing Application that records signed, hash-chained steps.

Every write follows one path — build the body, sign it, ``submit`` — and ``submit`` judges the
event with the same core rules the verifier uses. A step with error findings is refused and
nothing is written; the library's optimistic concurrency control serialises writers per stream.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    IntegrityError,
    MapperDeserialisationError,
    PersistenceError,
)

from ledger.application.keystore import Signer
from ledger.core import canonical, digests
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
from ledger.core.roster import Member
from ledger.core.custody import LotState, RoomState, is_person
from ledger.core.rules import Context, judge
from ledger.domain import events
from ledger.domain.aggregates import (
    AGGREGATE_FOR_START,
    LEDGER_STREAM,
    Ledger,
    Lot,
    Person,
    Room,
    Stream,
    lot_stream,
    person_stream,
    room_stream,
)
from ledger.domain.schemas import check_body
from ledger.storage.backend import Backend, check_reachable, select_backend
from ledger.storage.faults import describe
from ledger.storage.tables import positions_if_stored

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Receipt:
    """What an officer takes away: where the event sits and what it hashes to."""

    stream: str
    seq: int
    event_type: str
    event_hash: str
    position: int | None
    warnings: tuple[Finding, ...] = field(default=())


class CustodyLedger(Application[str]):
    name = "custody"

    def __init__(self, backend: Backend, clock: Clock = system_clock) -> None:
        self.backend = backend
        self.clock = clock
        self._genesis_checked = False
        self._members: dict[str, Member] = {}  # enrolments already checked
        self._checking: set[str] = set()
        check_reachable(backend)
        try:
            super().__init__(env=backend.env)
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot open ledger database {backend.label}: "
                               f"{describe(exc, backend)}") from None

    # -- reading ---------------------------------------------------------------------------

    def _get(self, stream: str, *, for_update: bool = False) -> Stream | None:
        """The stream's aggregate. Only one taken ``for_update`` may be changed: it is the
        library cache's deep copy. The others are the cached aggregate itself, to be read."""
        try:
            return self.repository.get(stream, deepcopy_from_cache=for_update)
        except AggregateNotFoundError:
            return None
        except (MapperDeserialisationError, canonical.NonCanonical, KeyError, TypeError) as exc:
            raise StorageError(
                f"stored events of {stream} are damaged ({exc}); run 'custody verify' for details"
            ) from None
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot read {stream} from {self.backend.label}: "
                               f"{describe(exc, self.backend)}") from None

    def ledger(self) -> Ledger:
        """The genesis stream, or a StorageError saying the database holds no ledger."""
        ledger = self._get(LEDGER_STREAM)
        if not isinstance(ledger, Ledger):
            raise StorageError(f"{self.backend.label} holds no ledger; run 'custody init' first")
        if not self._genesis_checked:
            self._check_signed(ledger.genesis, LEDGER_STREAM, Context(lambda pid: None, None))
            self._genesis_checked = True
        return ledger

    def member(self, person_id: str) -> Member | None:
        """A roster member, counted only if their enrolment is signed by an authority."""
        if person_id in self._members:
            return self._members[person_id]
        authority = self.ledger().authority
        if person_id == authority.person_id:
            return authority  # enrolled by the genesis itself, checked in ledger()
        person = self._get(person_stream(person_id))
        if not isinstance(person, Person):
            return None
        if person_id in self._checking:
            raise StorageError(f"the enrolment of {person_id} vouches for itself; "
                               "run 'custody verify' for details")
        self._checking.add(person_id)
        try:
            for signed in person.signed:
                self._check_signed(signed, person.id, Context(self.member, None))
        finally:
            self._checking.discard(person_id)
        self._members[person_id] = person.member
        return person.member

    def _check_signed(self, signed: tuple[dict[str, Any], dict[str, bytes]], stream: str,
                      ctx: Context) -> None:
        """Refuse to rely on a stored roster event that the rules would not accept."""
        _, findings = judge(signed[0], signed[1], ctx)
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            raise StorageError(f"the stored {signed[0]['type']} of {stream} does not verify "
                               f"({errors[0].message}); run 'custody verify' for details")

    def lot(self, lot_id: str) -> Lot | None:
        """The lot as stored, to be read, not changed (see ``_get``)."""
        lot = self._get(lot_stream(lot_id))
        return lot if isinstance(lot, Lot) else None

    def event_hash(self, stream: str, seq: int) -> str:
        """The hash of step ``seq`` of ``stream`` (what a correction references)."""
        found = [e for e in self.stream_events(stream) if e.originator_version == seq]
        if not found:
            raise InputError(f"{stream} has no step {seq}")
        return found[0].event_hash

    def stream_events(self, stream: str) -> Iterator[events.Recorded]:
        """The events of one stream, in order."""
        try:
            yield from self.events.get(stream)  # type: ignore[misc]
        except (MapperDeserialisationError, canonical.NonCanonical) as exc:
            raise StorageError(
                f"stored events of {stream} are damaged ({exc}); run 'custody verify' for details"
            ) from None
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

    def room(self, room_id: str) -> Room | None:
        room = self._get(room_stream(room_id))
        return room if isinstance(room, Room) else None

    def context(self, recorded_at: datetime | None = None) -> Context:
        """The judging context as the ledger stands now (roster, policy, lots, rooms)."""
        ledger = self.ledger()

        def lots(stream: str) -> LotState | None:
            lot = self._get(stream)
            return lot.state if isinstance(lot, Lot) else None

        def rooms(room_id: str) -> RoomState | None:
            room = self.room(room_id)
            return room.state if room is not None else None

        return Context(self.member, ledger.policy, lots, rooms,
                       canonical.format_timestamp(recorded_at) if recorded_at else None)

    # -- writing ---------------------------------------------------------------------------

    def init(self, ledger_id: str, authority: Mapping[str, str], signer: Signer,
             policy: PresencePolicy, occurred_at: datetime) -> Receipt:
        """Write the genesis: the ledger id, the authority (who signs it) and the policy."""
        if self._get(LEDGER_STREAM) is not None:
            raise InputError(
                f"{self.backend.label} already holds ledger {self.ledger().ledger_id}; "
                "use another --db for a new ledger"
            )
        if signer.person_id != authority["id"]:
            raise KeyringError(
                f"the authority key file belongs to {signer.person_id}, not {authority['id']}"
            )
        person = {**authority, "role": "authority", "public_key": signer.key.public_key.hex}
        body = _envelope(ledger_id, LEDGER_STREAM, None, "ledger.genesis", occurred_at)
        body.update(authority=person, policy=policy.to_data())
        return self.submit(body, _sign(body, [signer]))

    def enrol(self, person: Mapping[str, str], public_key: PublicKey, signer: Signer,
              occurred_at: datetime) -> Receipt:
        """Enrol a person with a role, unit and public key; signed by an authority."""
        stream = person_stream(person["id"])
        if person["id"] == self.ledger().authority.person_id or self._get(stream) is not None:
            raise InputError(f"person {person['id']} is already enrolled")
        return self._authority_event(stream, "person.enrolled",
                                     {"person": {**person, "public_key": public_key.hex}},
                                     signer, occurred_at)

    def revoke_key(self, person_id: str, reason: str, signer: Signer,
                   occurred_at: datetime) -> Receipt:
        """Revoke a person's key; signed by an authority. Nothing signed by it counts after."""
        self._enrolled(person_id)
        receipt = self._authority_event(person_stream(person_id), "person.key_revoked",
                                        {"reason": reason}, signer, occurred_at)
        self._members.pop(person_id, None)
        return receipt

    def rotate_key(self, person_id: str, public_key: PublicKey, signer: Signer,
                   occurred_at: datetime) -> Receipt:
        """Give a person a new key; signed by an authority. Only the new key counts after."""
        self._enrolled(person_id)
        receipt = self._authority_event(person_stream(person_id), "person.key_rotated",
                                        {"public_key": public_key.hex}, signer, occurred_at)
        self._members.pop(person_id, None)
        return receipt

    def _enrolled(self, person_id: str) -> None:
        if person_id == self.ledger().authority.person_id:
            raise InputError(f"{person_id} is the genesis authority; enrol another authority "
                             "to take over instead")
        if self.member(person_id) is None:
            raise InputError(f"unknown person {person_id}: enrol them first")

    def register_room(self, room: Mapping[str, Any], signer: Signer,
                      occurred_at: datetime) -> Receipt:
        """Register a licensed secure room; signed by an authority."""
        if self.room(room["id"]) is not None:
            raise InputError(f"room {room['id']} is already registered")
        if room["valid_from"] > room["valid_until"]:
            raise InputError(f"room {room['id']}: the licence ends before it starts")
        return self._authority_event(room_stream(room["id"]), "room.registered",
                                     {"room": dict(room)}, signer, occurred_at)

    def set_policy(self, policy: PresencePolicy, signer: Signer, occurred_at: datetime) -> Receipt:
        """Put a new version of the presence policy in force; signed by an authority."""
        return self._authority_event(LEDGER_STREAM, "ledger.policy_set",
                                     {"policy": policy.to_data()}, signer, occurred_at)

    def _authority_event(self, stream: str, event_type: str, fields: Mapping[str, Any],
                         signer: Signer, occurred_at: datetime) -> Receipt:
        ledger = self.ledger()
        self._signer_member(signer)
        body = _envelope(ledger.ledger_id, stream, self._get(stream), event_type, occurred_at)
        body.update(fields)
        return self.submit(body, _sign(body, [signer]))

    def draft_step(self, stream: str, event_type: str, fields: Mapping[str, Any],
                   location: str, attendees: Sequence[str], occurred_at: datetime, *,
                   acknowledge: str | None = None, note: str | None = None,
                   evidence: Sequence[str] = ()) -> dict[str, Any]:
        """Build the unsigned body of a co-signed step, pinned to the stream's current head."""
        ledger = self.ledger()
        aggregate = self._get(stream)
        starts = event_type in ("lot.registered", "incident.reported", "zero.reported")
        if starts and aggregate is not None:
            kind = stream.split(":", 1)[0]
            raise InputError(f"{kind} {stream.split(':', 1)[1]} is already registered"
                             if kind == "lot" else f"{stream} already exists")
        if not starts and aggregate is None:
            kind, name = stream.split(":", 1)
            raise InputError(f"unknown {kind} {name}: register it first")
        for option in ("from", "to", "holder"):
            party = fields.get(option)
            if party is not None and is_person(party) and self.member(party) is None:
                raise InputError(f"unknown person {party} (--{option}): enrol them first")
        if "from" in fields and fields.get("from") == fields.get("to"):
            raise InputError(f"--from and --to are both {fields['from']}; a step needs two parties")
        roles = []
        for person_id in attendees:
            member = self.member(person_id)
            if member is None:
                raise InputError(f"unknown person {person_id} (attendee): enrol them first")
            roles.append({"person": person_id, "role": member.role})
        if len({a["person"] for a in roles}) != len(roles):
            twice = sorted({p for p in attendees if list(attendees).count(p) > 1})
            raise InputError(f"{', '.join(twice)} signs twice; each person signs once")
        body = _envelope(ledger.ledger_id, stream, aggregate, event_type, occurred_at)
        body.update(fields)
        body.update(location=location, attendees=sorted(roles, key=lambda a: a["person"]),
                    policy=ledger.policy.ref)
        if acknowledge is not None:
            body["acknowledged_violation"] = {"reason": acknowledge}
        if note:
            body["note"] = note
        if evidence:
            body["evidence"] = sorted(set(evidence))
        check_body(body)
        return body

    def sign(self, body: Mapping[str, Any], signer: Signer) -> bytes:
        """One attendee's signature over a schema-valid body (drafted here, or parsed from a
        draft file), after checking the signer is who the roster says."""
        self._signer_member(signer)
        if signer.person_id not in {a["person"] for a in body.get("attendees", [])}:
            raise InputError(f"{signer.person_id} is not among this step's attendees; "
                             "only people present sign")
        return signer.key.sign(digests.signing_digest(body))

    def record(self, body: dict[str, Any], signers: Sequence[Signer]) -> Receipt:
        """Sign a drafted body with every signer present and submit it."""
        listed = {a["person"] for a in body.get("attendees", [])}
        for signer in signers:
            if signer.person_id not in listed:
                raise InputError(f"{signer.person_id} is not among this step's attendees")
        return self.submit(body, {s.person_id: self.sign(body, s) for s in signers})

    def record_step(self, stream: str, event_type: str, fields: Mapping[str, Any],
                    location: str, occurred_at: datetime, signers: Sequence[Signer],
                    **options: Any) -> Receipt:
        """Draft a step with the signers as attendees, sign it on this terminal, submit it."""
        if not signers:
            raise InputError("nobody signed: give at least one --sign KEYFILE")
        body = self.draft_step(stream, event_type, fields, location,
                               [s.person_id for s in signers], occurred_at, **options)
        return self.record(body, signers)

    def register_lot(self, lot: Mapping[str, Any], location: str, occurred_at: datetime,
                     signers: Sequence[Signer], holder: str | None = None,
                     **options: Any) -> Receipt:
        """Register a sealed lot (or a container), co-signed by the people present."""
        fields: dict[str, Any] = {"lot": dict(lot)}
        if holder is not None:
            fields["holder"] = holder
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
        if box is None or box.state.kind != "container":
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
            body = self.draft_step(lot_stream(lot_id), event_type, fields, location, attendees,
                                   occurred_at, **options)
            batch.append((body, {s.person_id: self.sign(body, s) for s in signers}))
        return self.submit_all(batch)

    def submit(self, body: dict[str, Any], signatures: Mapping[str, bytes]) -> Receipt:
        """Check a signed body against schema, chain and rules; append it or refuse it whole."""
        return self.submit_all([(body, signatures)])[0]

    def submit_all(self, batch: Sequence[tuple[dict[str, Any], Mapping[str, bytes]]]
                   ) -> list[Receipt]:
        """Judge every (body, signatures) and append them together, or refuse them all."""
        now = self.clock()
        prepared = [self._prepare(body, signatures, now) for body, signatures in batch]
        aggregates = [aggregate for aggregate, _ in prepared]
        if len({a.id for a in aggregates}) != len(aggregates):
            raise InputError("one transaction may hold one event per stream")
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            position = self._committed_anyway(aggregates)
            if position is None:
                raise ConcurrentChange(
                    "a stream changed while this step was being recorded; re-draft and sign again"
                ) from None
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot write to {self.backend.label}: "
                               f"{describe(exc, self.backend, writing=True)}") from None
        else:
            position = {r.domain_event.originator_id: r.notification.id for r in recordings}
        return [
            Receipt(stream=a.id, seq=body["seq"], event_type=body["type"], event_hash=a.head,
                    position=position.get(a.id),
                    warnings=tuple(f for f in findings if f.severity is Severity.WARNING))
            for (a, findings), (body, _) in zip(prepared, batch)
        ]

    def _committed_anyway(self, aggregates: Sequence[Stream]) -> dict[str, int] | None:
        """After a duplicate-key error: the positions of this very transaction's events if
        they are stored, byte for byte, else None. The library retries an insert whose
        connection failed; if the first attempt committed but its acknowledgement was lost
        (a PostgreSQL server or network failing at COMMIT), the retry meets our own rows."""
        try:
            return positions_if_stored(self.recorder,
                                       [(a.id, a.version, a.head) for a in aggregates])
        except (sqlite3.DatabaseError, PersistenceError):
            return None

    def _prepare(self, body: dict[str, Any], signatures: Mapping[str, bytes],
                 now: datetime) -> tuple[Stream, list[Finding]]:
        check_body(body)
        stream = body["stream"]
        aggregate = self._get(stream, for_update=True)
        expected_seq = 1 if aggregate is None else aggregate.version + 1
        expected_prev = (
            digests.genesis_prev(body["ledger"], stream) if aggregate is None else aggregate.head
        )
        if body["seq"] != expected_seq or body["prev"] != expected_prev:
            raise ConcurrentChange(
                f"{stream} changed since this event was drafted (it expects step {body['seq']}, "
                f"the ledger is at step {expected_seq - 1}); re-draft and sign again"
            )
        if body["type"] == "ledger.genesis":
            ctx = Context(lambda pid: None, None,
                          recorded_at=canonical.format_timestamp(now))
        else:
            ctx = self.context(now)
            if body["ledger"] != self.ledger().ledger_id:
                raise InputError(f"event is for ledger {body['ledger']}, "
                                 f"this is {self.ledger().ledger_id}")
            # Judge the stream as it was when its version was checked above: if another writer
            # has moved it on since, that is a lost race (ConcurrentChange at save), not a rule
            # this step broke.
            checked = aggregate.state if isinstance(aggregate, Lot) else None
            lots = ctx.lots
            ctx = replace(ctx, lots=lambda s: checked if s == stream else lots(s))
        _, findings = judge(body, signatures, ctx)
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            raise PolicyViolation(
                f"refused {body['type']} for {stream}: "
                + "; ".join(f.message for f in errors)
                + " — nothing was written"
            )
        event_class = events.EVENT_CLASSES[body["type"]]
        fields = {"timestamp": now, "body": body, "signatures": dict(signatures)}
        if aggregate is None:
            aggregate = AGGREGATE_FOR_START[event_class]._create(event_class, id=stream, **fields)
        else:
            aggregate.trigger_event(event_class, **fields)
        return aggregate, findings

    # -- helpers ---------------------------------------------------------------------------

    def _signer_member(self, signer: Signer) -> Member:
        member = self.member(signer.person_id)
        if member is None:
            raise InputError(
                f"unknown person {signer.person_id} (named by a key file): enrol them first"
            )
        if member.revoked:
            raise KeyringError(f"the key of {signer.person_id} was revoked; an authority must "
                               "rotate it ('custody person rotate') before they can sign")
        if member.public_key != signer.key.public_key:
            raise KeyringError(
                f"the key file for {signer.person_id} holds key {signer.key.public_key.id[:16]}, "
                f"but {signer.person_id} is enrolled with key {member.public_key.id[:16]}"
            )
        return member


def _envelope(ledger_id: str, stream: str, aggregate: Stream | None, event_type: str,
              occurred_at: datetime) -> dict[str, Any]:
    return {
        "ledger": ledger_id,
        "stream": stream,
        "seq": 1 if aggregate is None else aggregate.version + 1,
        "type": event_type,
        "schema": 1,
        "occurred_at": canonical.format_timestamp(occurred_at),
        "prev": digests.genesis_prev(ledger_id, stream) if aggregate is None else aggregate.head,
    }


def _sign(body: Mapping[str, Any], signers: Sequence[Signer]) -> dict[str, bytes]:
    check_body(body)  # refuse bad input before anyone's key is used
    digest = digests.signing_digest(body)
    return {s.person_id: s.key.sign(digest) for s in signers}


def open_ledger(db: str | None, *, create: bool = False, clock: Clock = system_clock) -> CustodyLedger:
    """Open the ledger at ``db`` (path or postgresql:// URL); refuse a missing SQLite file."""
    backend = select_backend(db)
    if not create and not backend.exists:
        raise StorageError(
            f"no ledger at {backend.label}; run 'custody init' first, or pass --db / set CUSTODY_DB"
        )
    return CustodyLedger(backend, clock)

