"""CustodyLedger: the eventsourcing Application that records signed, hash-chained steps.

Every write follows one path — build the body, sign it, ``submit`` — and ``submit`` judges the
event with the same core rules the verifier uses. A step with error findings is refused and
nothing is written; the library's optimistic concurrency control serialises writers per stream.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
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
from ledger.core.rules import judge_event
from ledger.domain import events
from ledger.domain.aggregates import (
    AGGREGATE_FOR_START,
    LEDGER_STREAM,
    Ledger,
    Lot,
    Person,
    Stream,
    lot_stream,
    person_stream,
)
from ledger.domain.schemas import check_body
from ledger.storage.backend import Backend, select_backend

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
        try:
            super().__init__(env=backend.env)
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot open ledger database {backend.label}: {exc}") from None

    # -- reading ---------------------------------------------------------------------------

    def _get(self, stream: str) -> Stream | None:
        try:
            return self.repository.get(stream)
        except AggregateNotFoundError:
            return None
        except (MapperDeserialisationError, canonical.NonCanonical, KeyError, TypeError) as exc:
            raise StorageError(
                f"stored events of {stream} are damaged ({exc}); run 'custody verify' for details"
            ) from None
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot read {stream} from {self.backend.label}: {exc}") from None

    def ledger(self) -> Ledger:
        """The genesis stream, or a StorageError saying the database holds no ledger."""
        ledger = self._get(LEDGER_STREAM)
        if not isinstance(ledger, Ledger):
            raise StorageError(f"{self.backend.label} holds no ledger; run 'custody init' first")
        return ledger

    def member(self, person_id: str) -> Member | None:
        authority = self.ledger().authority
        if person_id == authority.person_id:
            return authority  # enrolled by the genesis itself
        person = self._get(person_stream(person_id))
        return person.member if isinstance(person, Person) else None

    def lot(self, lot_id: str) -> Lot | None:
        lot = self._get(lot_stream(lot_id))
        return lot if isinstance(lot, Lot) else None

    def stream_events(self, stream: str) -> Iterator[events.Recorded]:
        """The events of one stream, in order."""
        try:
            yield from self.events.get(stream)  # type: ignore[misc]
        except (MapperDeserialisationError, canonical.NonCanonical) as exc:
            raise StorageError(
                f"stored events of {stream} are damaged ({exc}); run 'custody verify' for details"
            ) from None

    # -- writing ---------------------------------------------------------------------------

    def init(
        self,
        ledger_id: str,
        authority: Mapping[str, str],
        signer: Signer,
        policy: PresencePolicy,
        occurred_at: datetime,
    ) -> Receipt:
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
        ledger = self.ledger()
        stream = person_stream(person["id"])
        if person["id"] == ledger.authority.person_id or self._get(stream) is not None:
            raise InputError(f"person {person['id']} is already enrolled")
        self._signer_member(signer)
        body = _envelope(ledger.ledger_id, stream, None, "person.enrolled", occurred_at)
        body["person"] = {**person, "public_key": public_key.hex}
        return self.submit(body, _sign(body, [signer]))

    def register_lot(self, lot: Mapping[str, Any], location: str, occurred_at: datetime,
                     signers: Sequence[Signer], holder: str | None = None,
                     acknowledge: str | None = None, note: str | None = None) -> Receipt:
        """Register a sealed lot, co-signed by the people present."""
        ledger = self.ledger()
        stream = lot_stream(lot["id"])
        if self._get(stream) is not None:
            raise InputError(f"lot {lot['id']} is already registered")
        if holder is not None and self.member(holder) is None:
            raise InputError(f"unknown person {holder} (--holder): enrol them first")
        body = _envelope(ledger.ledger_id, stream, None, "lot.registered", occurred_at)
        body.update(lot=dict(lot), **self._step_fields(ledger, location, signers, acknowledge, note))
        if holder is not None:
            body["holder"] = holder
        return self.submit(body, _sign(body, signers))

    def record_handover(self, lot_id: str, giver: str, receiver: str, location: str,
                        seals: Sequence[str], count: int, occurred_at: datetime,
                        signers: Sequence[Signer], acknowledge: str | None = None,
                        note: str | None = None) -> Receipt:
        """Record custody passing from ``giver`` to ``receiver``, co-signed by all present."""
        ledger = self.ledger()
        lot = self.lot(lot_id)
        if lot is None:
            raise InputError(f"unknown lot {lot_id}: register it first with 'custody lot register'")
        if giver == receiver:
            raise InputError(f"--from and --to are both {giver}; a handover needs two parties")
        for option, person_id in (("--from", giver), ("--to", receiver)):
            if self.member(person_id) is None:
                raise InputError(f"unknown person {person_id} ({option}): enrol them first")
        body = _envelope(ledger.ledger_id, lot.id, lot, "lot.handed_over", occurred_at)
        body.update(
            {"from": giver, "to": receiver, "seals_checked": sorted(seals), "count_checked": count},
            **self._step_fields(ledger, location, signers, acknowledge, note),
        )
        return self.submit(body, _sign(body, signers))

    def submit(self, body: dict[str, Any], signatures: Mapping[str, bytes]) -> Receipt:
        """Check a signed body against schema, chain and rules; append it or refuse it whole."""
        check_body(body)
        stream = body["stream"]
        aggregate = self._get(stream)
        expected_seq = 1 if aggregate is None else aggregate.version + 1
        expected_prev = (
            digests.genesis_prev(body["ledger"], stream) if aggregate is None else aggregate.head
        )
        if body["seq"] != expected_seq or body["prev"] != expected_prev:
            raise ConcurrentChange(
                f"{stream} changed since this event was drafted (it expects step {body['seq']}, "
                f"the ledger is at step {expected_seq - 1}); re-draft and sign again"
            )
        ledger = None if body["type"] == "ledger.genesis" else self.ledger()
        if ledger is not None and body["ledger"] != ledger.ledger_id:
            raise InputError(f"event is for ledger {body['ledger']}, this is {ledger.ledger_id}")
        lot_state = aggregate.state if isinstance(aggregate, Lot) else None
        _, findings = judge_event(
            body, signatures, self.member, ledger.policy if ledger else None, lot_state
        )
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            raise PolicyViolation(
                f"refused {body['type']} for {stream}: "
                + "; ".join(f.message for f in errors)
                + " — nothing was written"
            )
        event_class = events.EVENT_CLASSES[body["type"]]
        fields = {"timestamp": self.clock(), "body": body, "signatures": dict(signatures)}
        if aggregate is None:
            aggregate = AGGREGATE_FOR_START[event_class]._create(event_class, id=stream, **fields)
        else:
            aggregate.trigger_event(event_class, **fields)
        try:
            recordings = self.save(aggregate)
        except IntegrityError:
            raise ConcurrentChange(
                f"{stream} changed while this step was being recorded; re-draft and sign again"
            ) from None
        except (sqlite3.DatabaseError, PersistenceError) as exc:
            raise StorageError(f"cannot write to {self.backend.label}: {exc}") from None
        return Receipt(
            stream=stream,
            seq=body["seq"],
            event_type=body["type"],
            event_hash=aggregate.head,
            position=recordings[-1].notification.id if recordings else None,
            warnings=tuple(f for f in findings if f.severity is Severity.WARNING),
        )

    # -- helpers ---------------------------------------------------------------------------

    def _signer_member(self, signer: Signer) -> Member:
        member = self.member(signer.person_id)
        if member is None:
            raise InputError(
                f"unknown person {signer.person_id} (named by a key file): enrol them first"
            )
        if member.public_key != signer.key.public_key:
            raise KeyringError(
                f"the key file for {signer.person_id} holds key {signer.key.public_key.id[:16]}, "
                f"but {signer.person_id} is enrolled with key {member.public_key.id[:16]}"
            )
        return member

    def _step_fields(self, ledger: Ledger, location: str, signers: Sequence[Signer],
                     acknowledge: str | None, note: str | None) -> dict[str, Any]:
        seen: set[str] = set()
        attendees = []
        for signer in signers:
            if signer.person_id in seen:
                raise InputError(f"{signer.person_id} signs twice; each person signs once")
            seen.add(signer.person_id)
            member = self._signer_member(signer)
            attendees.append({"person": member.person_id, "role": member.role})
        fields: dict[str, Any] = {
            "location": location,
            "attendees": sorted(attendees, key=lambda a: a["person"]),
            "policy": ledger.policy.ref,
        }
        if acknowledge is not None:
            fields["acknowledged_violation"] = {"reason": acknowledge}
        if note:
            fields["note"] = note
        return fields


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
    if not signers:
        raise InputError("nobody signed: give at least one --sign KEYFILE")
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

