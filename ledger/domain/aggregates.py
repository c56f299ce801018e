"""The ledger's streams as eventsourcing aggregates. Each folds its events with core rules."""

from __future__ import annotations

from eventsourcing.domain import BaseAggregate

from ledger.core.custody import lot_after, lot_registered, room_after, room_registered
from ledger.core.policy import PresencePolicy
from ledger.core.roster import member_after, member_from
from ledger.domain import events

LEDGER_STREAM = "ledger"


def person_stream(person_id: str) -> str:
    return f"person:{person_id}"


def lot_stream(lot_id: str) -> str:
    return f"lot:{lot_id}"


def room_stream(room_id: str) -> str:
    return f"room:{room_id}"


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
