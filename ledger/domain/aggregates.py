"""The ledger's streams as eventsourcing aggregates. Each folds its events with core rules."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import BaseAggregate

from ledger.core.policy import PresencePolicy
from ledger.core.roster import member_from
from ledger.core.rules import lot_after, lot_registered
from ledger.domain import events

LEDGER_STREAM = "ledger"


def person_stream(person_id: str) -> str:
    return f"person:{person_id}"


def lot_stream(lot_id: str) -> str:
    return f"lot:{lot_id}"


class Stream(BaseAggregate[str]):
    """A hash-chained stream: remembers the hash of its latest event for the next ``prev``.

    Attributes are set by ``fold`` (no class annotations: the library would turn them into
    constructor arguments). ``head`` is the hex event hash of the latest event.
    """

    def fold(self, event: events.Recorded) -> None:
        self.head = event.event_hash
        self.on(event)

    def on(self, event: events.Recorded) -> None:
        raise NotImplementedError

    def start(self, event_class: type[events.Recorded], **kwargs: Any) -> None:
        self.trigger_event(event_class, **kwargs)


class Ledger(Stream):
    """The genesis stream: ``ledger_id``, the ``authority`` (a Member) and the ``policy``."""

    def on(self, event: events.Recorded) -> None:
        if isinstance(event, events.Genesis):
            self.ledger_id = event.body["ledger"]
            self.authority = member_from(event.body["authority"])
            self.policy = PresencePolicy.from_data(event.body["policy"])


class Person(Stream):
    """A person's stream: ``member`` is what the roster knows of them."""

    def on(self, event: events.Recorded) -> None:
        if isinstance(event, events.PersonEnrolled):
            self.member = member_from(event.body["person"])


class Lot(Stream):
    """A lot's stream: ``state`` is its LotState after the latest step."""

    def on(self, event: events.Recorded) -> None:
        if isinstance(event, events.LotRegistered):
            self.state = lot_registered(event.body)
        elif isinstance(event, events.HandedOver):
            self.state = lot_after(self.state, event.body)


AGGREGATE_FOR_START = {
    events.Genesis: Ledger,
    events.PersonEnrolled: Person,
    events.LotRegistered: Lot,
}
