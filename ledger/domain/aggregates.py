"""The ledger's streams as eventsourcing aggregates. Each folds its events with core rules."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from eventsourcing.domain import BaseAggregate

from ledger.core.custody import lot_after, lot_registered, room_after, room_registered
from ledger.core.policy import PresencePolicy
from ledger.core.roster import member_after, member_from
from ledger.domain import events
from ledger.core.errors import InputError
from ledger.domain.schemas import check_body, is_id

LEDGER_STREAM = "ledger"


def person_stream(person_id: str) -> str:
    return f"person:{person_id}"


def lot_stream(lot_id: str) -> str:
    return f"lot:{lot_id}"


def room_stream(room_id: str) -> str:
    return f"room:{room_id}"


def incident_stream(incident_id: str) -> str:
    return f"incident:{incident_id}"


def zero_stream(report_id: str) -> str:
    return f"zero:{report_id}"


def named_in(stream: str) -> str:
    """The id a ``kind:ID`` stream is named after (``room:SR-3`` -> ``SR-3``)."""
    return stream.split(":", 1)[1]


# The event that starts a stream carries the id the stream is named after.
_OWN_ID: dict[str, tuple[Callable[[str], str], Callable[[Mapping[str, Any]], Any]]] = {
    "lot.registered": (lot_stream, lambda body: body["lot"]["id"]),
    "person.enrolled": (person_stream, lambda body: body["person"]["id"]),
    "room.registered": (room_stream, lambda body: body["room"]["id"]),
    "incident.reported": (incident_stream, lambda body: body["incident"]["id"]),
    "zero.reported": (zero_stream, lambda body: body["report"]["id"]),
}


def stream_problem(body: Mapping[str, Any]) -> str | None:
    """Say how a schema-valid body's ``stream`` is not the one its own ids name, or None.

    A stream's first event names it after the id in its body (``lot.registered`` of lot X
    is ``lot:X``, never ``lot:X`` plus an invisible character); every later event's stream
    must be ``kind:ID`` with ID an id. The recorder refuses a body this finds fault with; the
    verifier reports it as ENVELOPE_MISMATCH. The ledger's own stream is fixed by the schema."""
    stream = body["stream"]
    if stream == LEDGER_STREAM:
        return None
    own = _OWN_ID.get(body["type"])
    if own is not None:
        derived = own[0](own[1](body))
        if stream != derived:
            return f"stream {stream!r} is not {derived!r}, the stream its body's id names"
        return None
    kind, _, name = stream.partition(":")
    if not is_id(name):
        return f"stream {stream!r} is not {kind}:ID with ID an id"
    return None


def check_event(body: Mapping[str, Any]) -> None:
    """Raise :class:`InputError` if ``body`` breaks its schema or names the wrong stream."""
    check_body(body)
    problem = stream_problem(body)
    if problem is not None:
        raise InputError(f"event is not valid: {problem}")


class Stream(BaseAggregate[str]):
    """A hash-chained stream: remembers the hash of its latest event for the next ``prev``.

    Attributes are set by ``fold`` (no class annotations: the library would turn them into
    constructor arguments). ``head`` is the hex event hash of the latest event.
    """

    def fold(self, event: events.Recorded) -> None:
        self.head = event.event_hash
        self.on(event)

    def on(self, event: events.Recorded) -> None:
        """Evolve from one event; streams without state of their own keep only ``head``."""


class Ledger(Stream):
    """The genesis stream: ``ledger_id``, the ``authority`` (a Member) and the ``policy``."""

    def on(self, event: events.Recorded) -> None:
        if isinstance(event, events.Genesis):
            self.ledger_id = event.body["ledger"]
            self.authority = member_from(event.body["authority"])
            self.genesis = (event.body, event.signatures)
        if isinstance(event, (events.Genesis, events.PolicySet)):
            self.policy = PresencePolicy.from_data(event.body["policy"])


class Person(Stream):
    """A person's stream: ``member`` is what the roster knows of them now; ``signed`` keeps
    every (body, signatures) so a reader can check the authority signed each one."""

    def on(self, event: events.Recorded) -> None:
        if isinstance(event, events.PersonEnrolled):
            self.member = member_from(event.body["person"])
            self.signed = [(event.body, event.signatures)]
        else:
            self.member = member_after(self.member, event.body)
            self.signed.append((event.body, event.signatures))


class Lot(Stream):
    """A lot's stream: ``state`` is its LotState after the latest step."""

    def on(self, event: events.Recorded) -> None:
        if isinstance(event, events.LotRegistered):
            self.state = lot_registered(event.body)
        else:
            self.state = lot_after(self.state, event.body)


class Room(Stream):
    """A secure room's stream: ``state`` is its RoomState (licence, who is on duty)."""

    def on(self, event: events.Recorded) -> None:
        if isinstance(event, events.RoomRegistered):
            self.state = room_registered(event.body)
        else:
            self.state = room_after(self.state, event.body)


class Report(Stream):
    """An incident or zero report: one signed event, kept in a stream of its own."""


AGGREGATE_FOR_START: dict[type[events.Recorded], type[Stream]] = {
    events.Genesis: Ledger,
    events.PersonEnrolled: Person,
    events.LotRegistered: Lot,
    events.RoomRegistered: Room,
    events.IncidentReported: Report,
    events.ZeroReported: Report,
}
