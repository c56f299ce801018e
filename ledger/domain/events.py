"""The stored shape of every ledger event, on the eventsourcing library.

An event is ``body`` (the signed map), ``signatures`` (person id -> 64-byte Ed25519
signature over ``signing_digest(body)``) and the library's ``timestamp``, which is the
ledger's ``recorded_at``. The library stores ``vars(event)`` minus id and version — so the
stored record is exactly {body, signatures, timestamp} (plus ``originator_topic`` on a
stream's first event), and the event hash is SHA-256 over its canonical bytes. The library's
own columns are tied to the body: ``originator_id`` is ``body.stream``, ``originator_version``
is ``body.seq``, and the topic is the class registered for ``body.type``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import CanInitAggregate, CanMutateAggregate
from eventsourcing.utils import get_topic

from ledger.core import digests


@dataclass(frozen=True)
class Recorded(CanMutateAggregate[str]):
    """A signed ledger event as the library stores it."""

    originator_id: str
    originator_version: int
    timestamp: datetime
    body: dict[str, Any]
    signatures: dict[str, bytes]

    type: ClassVar[str] = ""

    @property
    def stored_record(self) -> dict[str, Any]:
        """The map the library stores for this event (see the module docstring)."""
        record = dict(vars(self))
        del record["originator_id"], record["originator_version"]
        return record

    @property
    def event_hash(self) -> str:
        return digests.event_hash(self.stored_record).hex()

    def apply(self, aggregate: Any) -> None:
        aggregate.fold(self)


@dataclass(frozen=True)
class Started(CanInitAggregate[str], Recorded):
    """The first event of a stream."""

    originator_topic: str


# One class per event type, so each has its own topic in the store. The first event of a
# stream subclasses Started; every later one, Recorded.
class Genesis(Started): type = "ledger.genesis"
class PolicySet(Recorded): type = "ledger.policy_set"
class AuthoritySetChanged(Recorded): type = "ledger.authority_set"
class LogKeySet(Recorded): type = "ledger.log_key_set"
class PersonEnrolled(Started): type = "person.enrolled"
class KeyRevoked(Recorded): type = "person.key_revoked"
class KeyRotated(Recorded): type = "person.key_rotated"
class LotRegistered(Started): type = "lot.registered"
class TransportDeparted(Recorded): type = "lot.transport_departed"
class TransportArrived(Recorded): type = "lot.transport_arrived"
class HandedOver(Recorded): type = "lot.handed_over"
class Stored(Recorded): type = "lot.stored"
class Retrieved(Recorded): type = "lot.retrieved"
class Distributed(Recorded): type = "lot.distributed"
class Unsealed(Recorded): type = "lot.unsealed"
class Collected(Recorded): type = "lot.collected"
class Returned(Recorded): type = "lot.returned"
class Packed(Recorded): type = "lot.packed"
class Unpacked(Recorded): type = "lot.unpacked"
class Corrected(Recorded): type = "lot.corrected"
class IncidentReported(Started): type = "incident.reported"
class ZeroReported(Started): type = "zero.reported"
class RoomRegistered(Started): type = "room.registered"
class SiteRegistered(Started): type = "site.registered"
class DutyStarted(Recorded): type = "duty.started"
class DutyEnded(Recorded): type = "duty.ended"
class RoomPatrolled(Recorded): type = "room.patrolled"


EVENT_CLASSES: dict[str, type[Recorded]] = {
    cls.type: cls for cls in Recorded.__subclasses__() + Started.__subclasses__() if cls.type
}
TOPICS: dict[str, str] = {t: get_topic(cls) for t, cls in EVENT_CLASSES.items()}
