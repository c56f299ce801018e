"""The one write path: ``submit_all`` judges signed steps against the ledger at the log's
head and appends them together, on condition that the head has not moved.

A step with error findings is refused and nothing is written; the library's optimistic
concurrency control refuses a second writer of the same step; a writer that lost the race
for the head judges again. A step already in the ledger (a draft submitted twice) is not
written again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from ledger.application.faults import storage_errors
from ledger.application.foresight import foresee
from ledger.application.reading import RECORDED_WITH_WARNING, Reading, referenced
from ledger.application.standing import standing
from ledger.core import canonical, digests
from ledger.core.errors import ConcurrentChange, InputError, PolicyViolation, StorageError
from ledger.core.findings import Finding, Severity
from ledger.core.keys import PublicKey
from ledger.core.roster import keys_named
from ledger.core.rules import Verified
from ledger.core.state import Event, LedgerState
from ledger.core.text import Message, joined
from ledger.domain import events
from ledger.domain.aggregates import AGGREGATE_FOR_START, check_event
from ledger.domain.stored import prepare
from ledger.storage.recorders import HeadMoved
from ledger.storage.tables import positions_if_stored

Clock = Callable[[], datetime]

# How often a step is judged again when other writers keep moving the log's head.
RETRIES = 50


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


class Submitting(Reading):
    """The ledger's write path, for ``CustodyLedger``."""

    clock: Clock
    # Called with the receipts of every append, after it committed (``CustodyLedger``).
    after_append: Callable[[Any, list[Receipt]], None] | None

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
        with storage_errors(self.backend, f"cannot read the ledger from {self.backend.label}"):
            rows = self.recorder.select_streams([body["stream"]])
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
            now = standing(self, streams, roster=any(keys_named(b) for b, _ in batch))
            state, head = now.state, now.head
            recorded_at = self._recorded_at(state)
            moment = canonical.parse_timestamp(recorded_at)
            stored, judged = [], []
            try:
                for offset, (body, signatures) in enumerate(batch, start=1):
                    if body["type"] != "ledger.genesis":
                        self.ledger(state)
                    event = _event(body, signatures, moment)
                    findings = self._judge(state, head + offset, body, signatures,
                                           recorded_at, None, event.event_hash)
                    stored.append(event)
                    judged.append(findings)
            except (PolicyViolation, ConcurrentChange):
                if now.moved():
                    continue  # another writer's step was folded in as this was read
                raise
            position = self._append(stored, head)
            if position is None:
                continue  # judge again at the new head
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
                                       else recorder_warnings(findings)))
                for e, findings, at, (body, _) in zip(stored, judged, where, batch)
            ]
            if self.after_append is not None:
                self.after_append(self, receipts)
            return receipts
        raise ConcurrentChange(f"the ledger kept changing while this step was judged "
                               f"({RETRIES} tries); try again")

    def _append(self, stored: Sequence[events.Recorded], head: int) -> dict[str, int] | None:
        """Append ``stored`` if the log's head is still ``head``: each stream's new position,
        or None when another writer appended first."""
        with storage_errors(self.backend, f"cannot write to {self.backend.label}",
                            writing=True):
            try:
                recordings = self.events.put(stored, expected_head=head)
            except (HeadMoved, IntegrityError):
                # Another writer appended first (on SQLite, perhaps this very step of the
                # same stream), or the library retried our own insert whose commit went
                # through but whose acknowledgement was lost: then it is recorded, once.
                return self._committed_anyway(stored)
        return {r.domain_event.originator_id: r.notification.id for r in recordings}

    def _committed_anyway(self, stored: Sequence[events.Recorded]) -> dict[str, int] | None:
        """The positions of these very events if they are stored, byte for byte, else None.
        The library retries an insert whose connection failed; if the first attempt committed
        but its acknowledgement was lost (a PostgreSQL server or network failing at COMMIT),
        the retry meets our own rows."""
        try:
            with storage_errors(self.backend, f"cannot read {self.backend.label}"):
                return positions_if_stored(self.recorder, [
                    (e.originator_id, e.originator_version, e.event_hash) for e in stored])
        except StorageError:
            return None  # unknown: judged again, at a head read afresh

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
        expected_prev = digests.next_prev(body["ledger"], stream, head.event_hash if head else None)
        if body["seq"] != expected_seq or body["prev"] != expected_prev:
            raise ConcurrentChange(
                f"{stream} changed since this event was drafted (it expects step {body['seq']}, "
                f"the ledger is at step {expected_seq - 1}); re-draft and sign again"
            )
        if state.ledger_id is not None and body["ledger"] != state.ledger_id:
            raise InputError(f"event is for ledger {body['ledger']}, this is {state.ledger_id}")
        findings = state.apply(Event(position, body, signatures, event_hash, recorded_at),
                               verified).findings
        errors = [f for f in findings if f.severity is Severity.ERROR
                  and f.code not in RECORDED_WITH_WARNING]
        if errors:
            raise PolicyViolation(Message(
                "refused {event_type} for {stream}: {problems} — nothing was written",
                event_type=body["type"], stream=stream,
                problems=joined([f.message for f in errors])))
        return findings


def recorder_warnings(findings: Sequence[Finding]) -> list[Finding]:
    """What the recorder says of a step it records, judged by the streams it read alone."""
    return [f for f in findings
            if f.severity is Severity.WARNING or f.code in RECORDED_WITH_WARNING]


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
