"""The ledger's streams as eventsourcing aggregates.

They carry no state of their own: what a stored event means is decided in one place, the
``LedgerState`` fold of ``ledger.core.state``. The classes name the kinds of stream (their
topics are stored with each stream's first event) and keep the hash of the latest event.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from eventsourcing.domain import BaseAggregate

from ledger.domain import events
from ledger.core.errors import InputError
from ledger.core.kinds import KINDS
from ledger.domain.schemas import check_body, is_id

LEDGER_STREAM = "ledger"


def person_stream(person_id: str) -> str:
    return f"person:{person_id}"


def lot_stream(lot_id: str) -> str:
    return f"lot:{lot_id}"


def room_stream(room_id: str) -> str:
    return f"room:{room_id}"


def site_stream(site_id: str) -> str:
    return f"site:{site_id}"


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
    "site.registered": (site_stream, lambda body: body["site"]["id"]),
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
    """A hash-chained stream: ``head`` is the hex event hash of its latest event (set by
    ``fold``; no class annotation, or the library would make it a constructor argument)."""

    def fold(self, event: events.Recorded) -> None:
        self.head = event.event_hash


class Ledger(Stream):
    """The ledger stream: genesis, policy versions, authority sets."""


class Person(Stream):
    """A person's stream: enrolment, key revocations and rotations."""


class Lot(Stream):
    """A lot's (or a container's) stream: registration and every custody step."""


class Room(Stream):
    """A secure room's stream: registration, duty shifts, patrols."""


class Site(Stream):
    """A registered site's stream: its registration (where it lies)."""


class Report(Stream):
    """An incident or zero report: one signed event, kept in a stream of its own."""


# The aggregate of each kind of stream, and so of each event that starts one.
_AGGREGATES: dict[str, type[Stream]] = {"ledger": Ledger, "person": Person, "lot": Lot,
                                        "room": Room, "site": Site, "incident": Report,
                                        "zero": Report}
AGGREGATE_FOR_START: dict[type[events.Recorded], type[Stream]] = {
    events.EVENT_CLASSES[kind.name]: _AGGREGATES[kind.stream] for kind in KINDS if kind.starts}
