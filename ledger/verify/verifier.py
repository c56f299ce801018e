"""Verify a stored ledger from its raw rows, trusting nothing the writer computed.

For every row of the library's notification log, in position order, the verifier:
decodes the stored bytes canonically; recomputes the event hash from those bytes; ties the
library's columns (stream id, version, topic, originator topic) to the signed body; checks the
body against its schema; walks the stream's ``prev`` chain and sequence (asking the store,
only when a step comes round again, whether it is a byte-for-byte copy); verifies every
signature against the roster it has rebuilt itself up to that position; and applies the same
rules the recorder applies. It never stops at the first problem.

Two stages. Everything about a row that needs no other row (decoding, hashes, schema,
envelope, signatures) runs in a pool of worker processes (``rows.py``), ``AHEAD`` pages in
front of the main process, which judges and folds the rows in log order.

Memory stays flat as the log grows: pages are bounded, and the per-stream state (chain heads,
lots, lots in secure rooms) keeps at most ``RESIDENT`` entries of each kind in memory and
spills the rest to a private temporary SQLite file (``spill.py``). What stays in memory grows
only with the roster, the rooms and their duty shifts, and the findings.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping, Sequence

from eventsourcing.persistence import ApplicationRecorder, Notification

from ledger.core import canonical, digests, keys
from ledger.core.errors import ResourceError
from ledger.core.findings import Finding, Report
from ledger.core.policy import PresencePolicy
from ledger.core.roster import Member, member_after, member_from
from ledger.core.custody import (
    LOT_STEPS,
    LotState,
    RoomState,
    lot_after,
    lot_registered,
    room_after,
    room_registered,
)
from ledger.core.duty import merge, uncovered
from ledger.core.rules import AUTHORITY_EVENTS, Context, judge
from ledger.domain.aggregates import named_in
from ledger.verify.spill import SpillMap
from ledger.verify.rows import (
    KEY_EVENTS, Prepared, Scope, Task, prepare_chunk, raw, signature_tasks,
)

PAGE = 2000
RESIDENT = 8192  # per-stream states kept in memory, per kind; the rest spill to a temp file
AHEAD = 2  # pages prepared in the workers while the main process judges an earlier one


class _Trusted(Mapping[Task, bool]):
    """Signature results for steps before --since: taken as checked by an earlier run."""

    def __getitem__(self, task: Task) -> bool:
        return True

    def __iter__(self) -> Iterator[Task]:
        return iter(())

    def __len__(self) -> int:
        return 0


TRUSTED = _Trusted()
Handed = tuple[list[Prepared], dict[str, bytes]]  # rows, the keyring they were checked with


class Verifier:
    """Verifies the whole log (or one lot) of a library recorder and returns a Report."""

    def __init__(self, recorder: ApplicationRecorder, *, workers: int = 1,
                 lot: str | None = None, since: int = 1, as_of: str | None = None,
                 dense_positions: bool | None = None, now: datetime | None = None,
                 page_size: int = PAGE, resident: int | None = None) -> None:
        self.recorder = recorder
        self.page_size = page_size
        # Where a room still holding papers is judged up to (injected; default: the latest
        # moment the log itself records).
        self.now = canonical.format_timestamp(now) if now is not None else None
        # SQLite numbers rows max+1 in the writing transaction, so a skipped position can only
        # be a deleted row. PostgreSQL's sequence also skips after a rolled-back insert (a lost
        # race) or a server crash: there a skip is a warning until checkpoints can tell.
        self.dense_positions = (
            dense_positions if dense_positions is not None
            else not type(recorder).__module__.startswith("eventsourcing.postgres"))
        self.workers = max(1, workers)
        # Rows before `since` are folded, not reported; outside --lot, lots are skipped.
        self.scope = Scope(f"lot:{lot}" if lot is not None else None, since)
        self.as_of = as_of  # canonical timestamp: events that occurred later are left out
        self.roster: dict[str, Member] = {}
        # Per-stream state, at most `resident` entries of each in memory, the rest on disk.
        resident = resident or RESIDENT
        self.lots: SpillMap[LotState] = SpillMap(resident)
        self.rooms: dict[str, RoomState] = {}
        self.findings_by_stream: dict[str, int] = {}
        # Secure-room duty: when each room held papers, and who was on duty from when.
        self.occupied: dict[str, list[tuple[str, str]]] = {}  # room -> merged intervals
        self.entered: SpillMap[tuple[str, str]] = SpillMap(resident)  # lot -> (room, since)
        self.duty: dict[str, list[tuple[str, dict[str, str]]]] = {}
        self.latest = ""  # the latest occurred_at seen: where open intervals end
        self.heads: SpillMap[tuple[int, str]] = SpillMap(resident)  # stream -> (seq, hex hash)
        self.ledger_id: str | None = None
        self.policy: PresencePolicy | None = None
        self.policies: list[tuple[str, PresencePolicy]] = []  # (from when, policy in force)
        self.signatures_checked = 0
        self._keyring: dict[str, bytes] | None = None  # person id -> raw key, for the workers

    def total(self) -> int:
        """The highest position in the log (for a progress bar)."""
        return self.recorder.max_notification_id() or 0

    def run(self, progress: Callable[[int], None] = lambda n: None) -> Report:
        report = Report()
        pool: Executor | None = None
        if self.workers > 1:
            pool = ProcessPoolExecutor(self.workers)
        try:
            expected_position = 1
            for page, rows, ring in self._prepared_pages(pool):
                if ring is not self._keyring or any(row.names_key for row in rows):
                    self._verify_missing(page, rows, pool)  # keys changed: some may be stale
                for note, row in zip(page, rows):
                    if note.id != expected_position:
                        report.findings.append(self._gap(expected_position, note.id))
                    expected_position = note.id + 1
                    findings = self._check(note, row)
                    if note.id < self.scope.since:
                        continue  # folded only: the auditor asked to check from `since` on
                    for finding in findings:
                        if finding.stream:
                            self.findings_by_stream[finding.stream] = (
                                self.findings_by_stream.get(finding.stream, 0) + 1)
                    report.extend(findings)
                    report.events += 1
                progress(len(page))
        except BrokenProcessPool:
            raise ResourceError("a verification worker process stopped unexpectedly (killed, "
                                "or out of memory); run again, or with --workers 1") from None
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        report.extend(self._duty_gaps())
        if report.events == 0 and self.scope.since <= 1:
            report.findings.append(Finding("GENESIS_MISSING", "the log is empty: no genesis"))
        report.streams = len(self.heads)
        report.signatures = self.signatures_checked
        return report

    def _gap(self, expected: int, found: int) -> Finding:
        """A jump in positions. No stream: what is missing is unknown, not the row after it."""
        evidence = {"expected": expected, "found": found}
        if self.dense_positions:
            return Finding("POSITION_GAP", f"log jumps from position {expected - 1} to {found}: "
                           f"{found - expected} event(s) missing or reordered",
                           position=found, evidence=evidence)
        return Finding("POSITION_SKIPPED", f"positions {expected}–{found - 1} were never "
                       "committed (a rolled-back write or a server restart) or were deleted; "
                       "only a signed checkpoint can tell", position=found, evidence=evidence)

    # -- reading ---------------------------------------------------------------------------

    def _pages(self) -> Iterator[Sequence[Notification]]:
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=self.page_size)
            if not page:
                return
            yield page
            start = page[-1].id + 1

    def _prepared_pages(self, pool: Executor | None) -> Iterator[
            tuple[Sequence[Notification], list[Prepared], dict[str, bytes]]]:
        """Each page with its rows prepared (and the keyring they were checked against), the
        workers running ``AHEAD`` pages in front.

        A page's keyring is the roster as judged when the page is handed out. The first page
        (a genesis and, usually, the first enrolments) is judged before any other is handed
        out, so the pages after it are not checked against an empty keyring."""
        in_flight: deque[tuple[Sequence[Notification], Callable[[], Handed]]] = deque()
        judged = 0
        for page in self._pages():
            in_flight.append((page, self._hand_out(page, pool)))
            if len(in_flight) > (min(AHEAD, judged) if pool is not None else 0):
                done, result = in_flight.popleft()
                judged += 1
                yield done, *result()
        while in_flight:
            done, result = in_flight.popleft()
            yield done, *result()

    def _hand_out(self, page: Sequence[Notification], pool: Executor | None
                  ) -> Callable[[], Handed]:
        raws = [raw(note) for note in page]
        if pool is None:
            return lambda: (prepare_chunk(raws, ring := self._ring(), self.scope), ring)
        size = -(-len(raws) // (2 * self.workers))
        ring = self._ring()
        futures = [pool.submit(prepare_chunk, raws[i:i + size], ring, self.scope)
                   for i in range(0, len(raws), size)]
        return lambda: ([row for future in futures for row in future.result()], ring)

    def _ring(self) -> dict[str, bytes]:
        if self._keyring is None:
            self._keyring = {pid: m.public_key.raw for pid, m in self.roster.items()}
        return self._keyring

    def _verify_missing(self, page: Sequence[Notification], rows: list[Prepared],
                        pool: Executor | None) -> None:
        """Verify, in the pool, signatures the workers had no current key for.

        The roster as it stands, plus keys named earlier in this page, says which key each
        signer has; judging uses a result only for the exact (key, digest, signature) it was
        computed for."""
        missing = [(row, task) for row, task in signature_tasks(
            [note.id for note in page], rows, self._ring(), self.scope)
            if task not in row.verified]
        if not missing or pool is None:
            return  # the judge checks them itself
        tasks = [task for _, task in missing]
        size = -(-len(tasks) // (self.workers * 4))
        chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
        results = pool.map(keys.verify_batch, chunks)
        for (row, task), ok in zip(missing, (ok for part in results for ok in part)):
            row.verified[task] = ok

    # -- judging ---------------------------------------------------------------------------

    def _check(self, note: Notification, row: Prepared) -> list[Finding]:
        stream = str(note.originator_id)
        place = lambda fs: [f.at(note.id, stream) for f in fs]  # noqa: E731
        if not self.scope.wanted(stream):
            return []
        problem = self._duplicate(note, row) or row.problem
        if problem is not None:
            # The chain continues from the stored bytes, so one bad row is one finding.
            version = note.originator_version
            if not isinstance(version, int):  # NULL or text typed into the column
                version = self.heads.get(stream, (0, ""))[0] + 1
            self._advance(stream, version, row.event_hash.hex())
            return place([problem])
        findings: list[Finding] = []
        body, signatures = row.body, row.signatures
        assert body is not None and signatures is not None
        if self.as_of is not None and body["occurred_at"] > self.as_of:
            return []  # after the moment asked about; later steps of its stream are too
        if self.ledger_id is None:
            if body["type"] != "ledger.genesis" or note.id != 1:
                findings.append(Finding("GENESIS_MISSING", f"position {note.id} comes before "
                                        "any genesis; the log must start with ledger.genesis"))
        elif body["ledger"] != self.ledger_id:
            findings.append(Finding("LEDGER_MISMATCH", f"event names ledger {body['ledger']}, "
                                    f"this log is ledger {self.ledger_id}",
                                    evidence={"expected": self.ledger_id, "found": body["ledger"]}))
        findings.extend(self._check_chain(stream, body))
        present: dict[str, str] = {}
        needs_policy = body["type"] not in AUTHORITY_EVENTS | {"ledger.genesis"}
        if self.policy is None and needs_policy:
            findings.append(Finding("GENESIS_MISSING", f"{body['type']} before any policy was set"))
        else:
            self.signatures_checked += len(signatures)
            ctx = Context(self.roster.get, self.policy, self.lots.get, self.rooms.get,
                          row.recorded_at)
            checked = self.scope.checks_signatures(note.id, stream, body["type"])
            present, judged = judge(body, signatures, ctx, row.verified if checked else TRUSTED,
                                    row.digest)
            findings.extend(judged)
        self._apply(body, findings, present)
        self._advance(stream, body["seq"], row.event_hash.hex())
        return place(findings)

    def _duplicate(self, note: Notification, row: Prepared) -> Finding | None:
        """Say so if the row repeats, byte for byte, a step its stream has already stored.

        Only a step the stream has already passed can be a copy, so the store is asked only
        then: memory stays bounded by the streams, and an intact log costs no extra read.
        """
        if row.claims is None:
            return None
        stream, seq = row.claims
        if seq > self.heads.get(stream, (0, ""))[0]:
            return None
        stored = self.recorder.select_events(stream, gt=seq - 1, lte=seq)
        copies = sum(event.state == note.state for event in stored)
        if (str(note.originator_id), note.originator_version) == (stream, seq):
            copies -= 1  # the row itself is one of them
        if copies < 1:
            return None
        return Finding(
            "DUPLICATE_EVENT",
            f"{stream} step {seq} is stored again: the row stored as {note.originator_id} "
            f"version {note.originator_version} is a byte-for-byte copy of it",
            evidence={"stream": stream, "step": seq, "event_hash": row.event_hash.hex()},
        )

    def _check_chain(self, stream: str, body: dict[str, Any]) -> list[Finding]:
        seq, head = self.heads.get(stream, (0, None))
        findings = []
        if body["seq"] != seq + 1:
            findings.append(Finding(
                "SEQUENCE_GAP", f"{stream} goes from step {seq} to step {body['seq']}",
                evidence={"expected": seq + 1, "found": body["seq"]},
            ))
        expected_prev = head or digests.genesis_prev(body["ledger"], stream)
        if body["prev"] != expected_prev:
            findings.append(Finding(
                "CHAIN_BROKEN",
                f"{stream} step {body['seq']} does not follow the stored step {seq}: prev "
                f"{body['prev'][:16]}… expected {expected_prev[:16]}… (an event was changed, "
                "removed or inserted before it)",
                evidence={"expected": expected_prev, "found": body["prev"]},
            ))
        return findings

    def _advance(self, stream: str, seq: int, event_hash: str) -> None:
        self.heads[stream] = (seq, event_hash)

    def _apply(self, body: dict[str, Any], findings: list[Finding],
               present: dict[str, str]) -> None:
        """Fold the event into the verifier's own state; forged roster entries never count."""
        event_type, stream = body["type"], body["stream"]
        self.latest = max(self.latest, body["occurred_at"])
        trusted = not any(f.code in ("NOT_AUTHORITY", "SIGNATURE_INVALID", "SIGNER_UNKNOWN",
                                     "KEY_REVOKED", "KEY_EXPIRED") for f in findings)
        if event_type in KEY_EVENTS:
            self._keyring = None  # the workers' keyring is rebuilt from the roster
        if event_type == "ledger.genesis" and self.ledger_id is None:
            self.ledger_id = body["ledger"]
            self._set_policy(body)
            if trusted:
                self.roster[body["authority"]["id"]] = member_from(body["authority"])
        elif event_type == "ledger.policy_set" and trusted:
            self._set_policy(body)
        elif event_type == "person.enrolled" and trusted:
            self.roster[body["person"]["id"]] = member_from(body["person"])
        elif event_type in ("person.key_revoked", "person.key_rotated") and trusted:
            person_id = named_in(stream)
            if person_id in self.roster:
                self.roster[person_id] = member_after(self.roster[person_id], body)
        elif event_type == "room.registered" and trusted:
            # Keyed by the stream's id, as the recorder keys it (the row stage has checked
            # that the stream is the one the body's room id names).
            self.rooms[named_in(stream)] = room_registered(body)
        elif event_type in ("duty.started", "duty.ended", "room.patrolled"):
            self._apply_room(body, present)
        elif event_type == "lot.registered":
            self.lots[stream] = lot_registered(body)
            self._track_room(stream, None, self.lots[stream].holder, body["occurred_at"])
        elif event_type in LOT_STEPS and stream in self.lots:
            before = self.lots[stream].holder
            self.lots[stream] = lot_after(self.lots[stream], body)
            self._track_room(stream, before, self.lots[stream].holder, body["occurred_at"])

    def _set_policy(self, body: dict[str, Any]) -> None:
        self.policy = PresencePolicy.from_data(body["policy"])
        self.policies.append((body["occurred_at"], self.policy))

    def _apply_room(self, body: dict[str, Any], present: dict[str, str]) -> None:
        room_id = named_in(body["stream"])
        room = self.rooms.get(room_id)
        if room is None:
            return
        # Only people who validly signed are on duty, whatever the event lists.
        signed = dict(body, attendees=[a for a in body["attendees"] if a["person"] in present])
        self.rooms[room_id] = room = room_after(room, signed)
        if body["type"] != "room.patrolled":
            on_duty = {pid: m.role for pid in room.on_duty if (m := self.roster.get(pid))}
            self.duty.setdefault(room_id, []).append((body["occurred_at"], on_duty))

    def _track_room(self, stream: str, before: str | None, after: str | None, moment: str) -> None:
        """Open or close the interval in which a lot lies in a secure room."""
        if before == after:
            return
        if before is not None and before.startswith("room:") and stream in self.entered:
            room_id, since = self.entered.pop(stream)
            self._occupy(room_id, since, moment)
        if after is not None and after.startswith("room:"):
            self.entered[stream] = (after[5:], moment)

    def _occupy(self, room_id: str, since: str, until: str) -> None:
        """Add an interval the room held papers; overlapping ones merge, so rooms stay small."""
        self.occupied[room_id] = merge([*self.occupied.get(room_id, ()), (since, until)])

    def close(self) -> None:
        """Drop the per-stream state and its temporary file."""
        for states in (self.heads, self.lots, self.entered):
            states.close()

    def _duty_gaps(self) -> list[Finding]:
        """Every interval a secure room held papers without enough people on duty."""
        if self.policy is None:
            return []
        end = self.as_of or self.now or self.latest
        for room_id, since in self.entered.values():
            self._occupy(room_id, since, end)
        findings = []
        policies = sorted(self.policies, key=lambda change: change[0])
        for room_id, intervals in sorted(self.occupied.items()):
            timeline = self.duty.get(room_id, [])
            for gap in uncovered(room_id, intervals, timeline, policies):
                on_duty = dict(sorted(gap.verdict.present.items()))
                findings.append(Finding(
                    "DUTY_UNCOVERED",
                    f"secure room {room_id} held papers from {gap.start} to {gap.end} with too "
                    f"few on duty: {gap.verdict.describe()}",
                    stream=f"room:{room_id}",
                    evidence={"room": room_id, "start": gap.start, "end": gap.end,
                              "on_duty": on_duty, "policy": gap.verdict.policy}))
        return findings

