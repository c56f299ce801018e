"""Reading the ledger: every question a command asks is answered by the one fold,
``LedgerState``, over the streams it depends on, or by the stored events themselves.

Nothing is cached between commands: every answer reads the ledger as it stands. A stored
event the fold finds an error in, or a row that does not rebuild into the step it says it
is, ends the reading with a StorageError naming the position or step (only ``custody
verify`` checks signatures and rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ledger.application.faults import storage_errors
from ledger.core import digests
from ledger.core.custody import LotState, RoomState, is_person
from ledger.core.errors import InputError, StorageError
from ledger.core.findings import Finding, Severity
from ledger.core.packing import lot_steps
from ledger.core.policy import PresencePolicy
from ledger.core.roster import Member
from ledger.core.rules import AuthoritySet
from ledger.core.state import Event, LedgerState
from ledger.core.text import Message
from ledger.domain import events
from ledger.domain.aggregates import (
    LEDGER_STREAM,
    lot_stream,
    person_stream,
    room_stream,
    site_stream,
)
from ledger.domain.schemas import body_problems
from ledger.domain.stored import Prepared, prepare, raw
from ledger.storage.backend import Backend

# Errors a step is recorded with all the same, with a warning saying what to do: a store into
# a room with too few on duty (the papers must go somewhere; only a duty shift closes the
# gap, and ``verify`` reports it at that step for ever). Folding such a step again is no
# sign of damage.
RECORDED_WITH_WARNING = frozenset({"DUTY_UNCOVERED"})


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


class Reading:
    """The ledger's reads, for ``CustodyLedger`` (an eventsourcing Application, which gives
    ``recorder``, ``events`` and ``mapper``)."""

    backend: Backend
    recorder: Any
    events: Any
    mapper: Any

    def state(self, streams: Iterable[str] = (), *, roster: bool = False
              ) -> tuple[LedgerState, int]:
        """The ledger's state for ``streams`` (and everything their meaning depends on: the
        ledger stream, the people, rooms and containers they name, and whoever signed for
        them), folded in log order, and the log position it stands at.

        Read the head first, then the streams, so the state is never older than the head it
        is judged at. A stored event the fold finds an error in means a damaged ledger.

        ``roster``: fold every person's stream, for a judgement that asks who holds a key."""
        label = self.backend.label
        with storage_errors(self.backend, f"cannot read the log's head from {label}"):
            head_row = self.recorder.select_head()
        head = head_row[0] if head_row else 0
        rows: dict[int, Prepared] = {}
        wanted, loaded = {LEDGER_STREAM, *streams}, set()
        first: list[Any] = []
        if roster:
            with storage_errors(self.backend, f"cannot read the roster from {label}"):
                first = self.recorder.select_kind("person:")
            loaded |= {str(row[1]) for row in first}
        while first or wanted - loaded:
            batch = sorted(wanted - loaded)
            loaded |= set(batch)
            found = first
            if batch:
                with storage_errors(self.backend, f"cannot read the ledger from {label}"):
                    found = first + self.recorder.select_streams(batch)
            first = []
            for row in found:
                if row[0] > head:
                    continue  # appended after the head this state stands at
                prepared = prepare(row)
                if prepared.problem is not None:
                    raise damaged(row[0], row[1], prepared.problem)
                rows[row[0]] = prepared
                wanted |= referenced(prepared.body, prepared.signatures)
        state = LedgerState()
        for position in sorted(rows):
            row = rows[position]
            findings = state.apply(Event(position, row.body, row.signatures,
                                         row.event_hash.hex(), row.recorded_at,
                                         row.digest)).findings
            errors = [f for f in findings if f.severity is Severity.ERROR
                      and f.code not in RECORDED_WITH_WARNING]
            if errors:
                raise damaged(position, row.body["stream"], errors[0])
        if head_row is not None:  # the log's last event, not only the last one folded here
            last = prepare(head_row)
            if last.recorded_at is not None:  # a damaged last row is verify's to report
                state.saw_recorded(last.recorded_at)
        return state, head

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

    def _writable(self, streams: Iterable[str], *, roster: bool = False) -> LedgerState:
        """The state for ``streams``, refusing a database that holds no ledger."""
        state = self.state(streams, roster=roster)[0]
        self.ledger(state)
        return state

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
        with storage_errors(self.backend, f"cannot read {stream} from {self.backend.label}"):
            return bool(self.recorder.select_events(stream, limit=1))

    def last_position(self) -> int | None:
        """The highest position stored in the log; None when it holds no row."""
        with storage_errors(self.backend, f"cannot read {self.backend.label}"):
            return self.recorder.max_notification_id()

    # -- stored events ---------------------------------------------------------------------

    def events_at(self, steps: Sequence[tuple[int, str, str | None]]
                  ) -> list[events.Recorded]:
        """The stored events at log positions, each checked as ``stream_events`` checks a
        stream's: ``steps`` gives (position, stream, hash of the step before it or None for
        the stream's first). ``history`` reads the steps the view indexes this way, by
        primary key, instead of whole streams."""
        out = []
        for position, stream, prev in steps:
            with storage_errors(self.backend, f"cannot read {stream} from {self.backend.label}",
                                rebuilding=stream):
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
                    raise damaged(position, stream, prepared.problem)
                event = self.mapper.to_domain_event(notes[0])
                problem = _misread(stream, event, prev)
            if problem is not None:
                raise _misread_error(stream, event, problem)
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
        with storage_errors(self.backend, f"cannot read {stream} from {self.backend.label}",
                            rebuilding=stream):
            for event in self.events.get(stream):
                problem = _misread(stream, event, head)
                if problem is not None:
                    raise _misread_error(stream, event, problem)
                head = event.event_hash
                yield event

    def lot_history(self, lot_id: str) -> list[tuple[events.Recorded, str | None]]:
        """The steps of a lot in log order, each with the container whose step it was (None:
        the lot's own), read from the log alone: a packed lot moves with its container, and
        which container steps are its own is ``ledger.core.packing``'s rule (by log
        position). ``projections.history`` gives the same answer through the view."""
        found: dict[int, events.Recorded] = {}

        def steps_of(lot: str) -> list[tuple[int, str, str | None]]:
            stream = lot_stream(lot)
            with storage_errors(self.backend, f"cannot read {stream} from {self.backend.label}"):
                positions = [row[0] for row in self.recorder.select_streams([stream])]
            own = list(self.stream_events(stream))
            found.update(zip(positions, own))
            return [(position, event.body["type"], event.body.get("container")
                     if event.body["type"] == "lot.packed" else None)
                    for position, event in zip(positions, own)]

        return [(found[position], via) for position, via in lot_steps(lot_id, steps_of)]


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
            streams.add(party_stream(body[option]))
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


def party_stream(party: str) -> str:
    """The stream that says who a party is: a person's, a room's or a registered site's
    (vehicles have none; their own name stands for a stream nobody writes)."""
    if is_person(party):
        return person_stream(party)
    return party  # room:ID and site:ID are a room's and a site's streams; vehicle: none


def damaged(position: int, stream: Any, finding: Finding) -> StorageError:
    return StorageError(Message("the ledger is damaged at position {position} ({stream}): "
                                "{code}: {message}; run 'custody verify' for details",
                                position=position, stream=stream, code=finding.code,
                                message=finding.message))


def _misread(stream: str, event: events.Recorded, head: str | None) -> str | None:
    """How a stored event is not the step its row says it is, if it is not."""
    body, seq = event.body, event.originator_version
    problems = body_problems(body)
    if problems:
        return problems[0]
    if (body["stream"], body["seq"], body["type"]) != (stream, seq, event.type):
        return (f"its body is {body['stream']} step {body['seq']} ({body['type']}), "
                f"stored as {event.type or type(event).__name__}")
    if body["prev"] != digests.next_prev(body["ledger"], stream, head):
        return f"it does not follow step {seq - 1}"
    return None


def _misread_error(stream: str, event: events.Recorded, problem: str) -> StorageError:
    """The error for a stored event that is not the step its row says it is."""
    seq = event.originator_version
    return StorageError(f"stored {stream} step {seq if isinstance(seq, int) else repr(seq)} "
                        f"is damaged ({problem}); run 'custody verify' for details")
