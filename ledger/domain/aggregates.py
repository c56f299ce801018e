"""The ledger's streams as eventsourcing aggregates.

They carry no state of their own: what a stored event means is decided in one place, the
``LedgerState`` fold of ``ledger.core.state``. The classes name the kinds of stream (their
topics are stored with each stream's first event) and keep the hash of the latest event.
"""

from __future__ import annotations

from eventsourcing.domain import BaseAggregate

from ledger.domain import events

LEDGER_STREAM = "ledger"


def person_stream(person_id: str) -> str:
    return f"person:{person_id}"


def lot_stream(lot_id: str) -> str:
    return f"lot:{lot_id}"


def room_stream(room_id: str) -> str:
    return f"room:{room_id}"


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
