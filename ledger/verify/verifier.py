"""Verify a stored ledger from its raw rows, trusting nothing the writer computed.

For every row of the library's notification log, in position order, the verifier:
decodes the stored bytes canonically; recomputes the event hash from those bytes; ties the
library's columns (stream id, version, topic, originator topic) to the signed body; checks the
body against its schema; walks the stream's ``prev`` chain and sequence (asking the store,
only when a step comes round again, whether it is a byte-for-byte copy); verifies every
signature against the roster it has rebuilt itself up to that position; and applies the same
rules the recorder applies. It never stops at the first problem.

Two stages. Everything about a row that needs no other row (decoding, hashes, schema,
envelope, signatures) runs in a pool of worker processes (``rows.py``, step rows decoded in
C by ``domain/compiled_rows.py``), ``AHEAD`` pages in front of the main process, which
judges and folds the rows in log order. The workers send back packed results
(``packed.py``), which the main process turns into prepared rows from the bytes it holds.
The workers also judge the part of each step that reads only the row and the trust state
(``ledger.core.trust``: the roster, the policy, the places registered) against the state the
page was handed out with; the fold takes that part only while its trust state is still the
same, and judges the step itself otherwise, with the signature results the workers sent.
A long run with workers takes two more parts off the main process, each to a helper process
fed in log order: the log audit (``log_helper.py``: the Merkle tree recomputed and the stored
tree compared) and impossible presence (``presence_helper.py``); the main process reports a
page once the presence helper has judged it.

Memory stays flat as the log grows: pages are bounded, and the per-stream state (chain heads,
lots, lots in secure rooms) keeps at most as many entries of each kind in memory as an eighth
of the memory available at the start holds (``resident_for``) and spills the rest to a private
temporary SQLite file (``spill.py``). What stays in memory grows only with the roster (and
each person's last few whereabouts), the rooms and their duty shifts, and the findings. The
workers read the keyring and the trust state from a private temporary file, written once
each time either changes.

A resumed audit (``resume=``, ``custody verify --state``) starts from the state and tree
frontier an earlier intact run saved (``saved_state.py``), reads only the rows after the
position it reached, and proves with the stored tree's consistency proof that the log still
extends the saved root, against the root it recomputes from the new rows.
"""

from __future__ import annotations

from collections import deque
from copy import copy
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator, Sequence

from eventsourcing.persistence import ApplicationRecorder

from ledger.core import canonical, keys, state_codec
from ledger.core.collector import long_fold, quiet
from ledger.tlog import merkle
from ledger.core.digests import event_hash_of_bytes
from ledger.core.errors import LedgerError, ResourceError, StorageError
from ledger.core.findings import Finding, Report
from ledger.core.kinds import PACKING, TRUST_EVENTS
from ledger.core.rules import ALL_VALID
from ledger.core.state import Event, LedgerState
from ledger.core.trust import Trust
from ledger.core.whereabouts import Presence
from ledger.core.text import Message
from ledger.domain.events import TOPICS
from ledger.storage.memory import RESIDENT, available_memory, resident_for
from ledger.verify.log import Evidence, LogAudit, StoredTreeAudit, checkpoint_size
from ledger.verify.log_helper import LogHelper
from ledger.verify.presence_helper import PresenceFeed
from ledger.verify.saved_state import Header, SavedState
from ledger.verify.spill import SpillMap
from ledger.domain.stored import read_rows
from ledger.verify.packed import HandedFiles, prepare_packed_with, unpack
from ledger.verify.rows import (
    KEY_EVENTS, Prepared, Raw, Scope, prepare_chunk, signature_tasks,
)

PAGE = 2000
AHEAD = 2  # pages prepared in the workers while the main process judges an earlier one
# A run with workers over at least this many rows audits the log and judges presence in a
# helper process each (``log_helper``, ``presence_helper``): on a short log, starting them
# costs more than they take off the main process.
HELPER_FROM = 20_000
# The lowest position a row can be stored at (SQLite's rowid is a signed 64-bit integer):
# without --since, rows from there on are checked and reported, not only those from 1.
LOWEST_POSITION = -(2**63)


Handed = tuple[list[Prepared], dict[str, bytes]]  # rows, the keyring they were checked with
# What a row (or a gap before it) reports: its position (None: a gap), stored stream id and
# findings.
Reported = tuple[int | None, str, list[Finding]]
# The stored topics of the events that change the trust state (``ledger.core.trust``).
TRUST_TOPICS = frozenset(TOPICS[name] for name in TRUST_EVENTS)


def state_maps(resident: int = RESIDENT) -> dict[str, Any]:
    """The per-stream maps of the verifier's fold: at most ``resident`` lots, heads and lots
    in rooms each stay in memory, the rest spill to a private temporary file. Whereabouts are
    per person and bounded (the last few sightings and shifts), so they stay in memory like
    the roster: people sign step after step, county by county, and a province's people
    outnumber any cache, which then missed on nearly every signer."""
    return {**{section: SpillMap(resident, **state_codec.entry_codec(section))
               for section in ("lots", "heads", "entered")}, "whereabouts": {}}


class Verifier:
    """Verifies the whole log (or one lot) of a library recorder and returns a Report."""

    def __init__(self, recorder: ApplicationRecorder, *, workers: int = 1,
                 lot: str | None = None, since: int = 1, as_of: str | None = None,
                 dense_positions: bool | None = None,
                 page_size: int = PAGE, resident: int | None = None,
                 evidence: Sequence[Evidence] = (), resume: SavedState | None = None,
                 helper_from: int | None = None) -> None:
        self.recorder = recorder
        self.helper_from = HELPER_FROM if helper_from is None else helper_from
        self.page_size = page_size
        # SQLite numbers rows max+1 in the writing transaction, so a skipped position can only
        # be a deleted row. PostgreSQL's sequence also skips after a rolled-back insert (a lost
        # race) or a server crash: there a skip is a warning until checkpoints can tell.
        self.dense_positions = (
            dense_positions if dense_positions is not None
            else not any(cls.__module__.startswith("eventsourcing.postgres")
                         for cls in type(recorder).__mro__))
        self.workers = max(1, workers)
        # Rows before `since` are folded, not reported; with --lot, other lots are folded
        # without their signature checks and not reported.
        self.scope = Scope(self._lot_scope(lot) if lot is not None else None,
                           since if since > 1 else LOWEST_POSITION)
        self.as_of = as_of  # canonical timestamp: events that occurred later are left out
        # The one ledger-state fold, its per-stream maps bounded in memory (``state_maps``).
        maps = state_maps(resident or resident_for(available_memory()))
        # A resumed audit starts from the state an earlier intact run saved, at the position
        # and tree frontier it reached, and reads only the rows after it.
        self.resumed: Header | None = resume.header if resume is not None else None
        self.state = resume.load(**maps) if resume is not None else LedgerState(**maps)
        self.position = self.resumed.position if self.resumed else 0  # the last row read
        self.findings_by_stream: dict[str, int] = {}
        self.signatures_checked = 0
        self._keyring: dict[str, bytes] | None = None  # person id -> raw key, for the workers
        # Each keyring and trust state the workers judge rows against, written once for them.
        self._handed = HandedFiles(AHEAD + 2)
        # The Merkle tree recomputed from every row, held against the stored checkpoints and
        # any an auditor brings (``--checkpoint``, ``--receipt``).
        # The stored tree's rows too, read in pages as the recomputed tree grows (a resumed
        # audit reads no row before its position: it proves the stored tree extends the saved
        # root with a consistency proof instead, ``_resumed_findings``).
        has_tree = getattr(self.recorder, "has_tree", None)
        self.has_tree = bool(has_tree is not None and has_tree())
        self.log = LogAudit([*self._stored_checkpoints(), *evidence],
                            None if self.resumed else self._stored_tree(),
                            self.resumed.frontier if self.resumed else None)
        self.last_position: int | None = None

    def _stored_checkpoints(self) -> list[Evidence]:
        if not self.has_tree:
            return []  # a ledger from before the log: nothing stored to check
        return [Evidence(f"stored #{row_id}", note)
                for row_id, _, note in self.recorder.checkpoint_rows()]  # type: ignore[attr-defined]

    def _stored_tree(self) -> StoredTreeAudit | None:
        if not self.has_tree:
            return None
        return StoredTreeAudit.of(self.recorder, self.scope.since)

    def _grew(self) -> bool:
        """Whether events were appended after the run read the log's end."""
        start = None if self.last_position is None else self.last_position + 1
        return bool(self.recorder.select_notifications(start=start, limit=1))

    def _lot_scope(self, lot_id: str) -> frozenset[str]:
        """A lot's stream and, transitively, the containers it was packed in: a packed lot's
        custody is its container's. Read from the stored rows before anything is checked, as
        a hint of what to check; every row is still checked against its own signed body."""
        scope: set[str] = set()
        todo = [f"lot:{lot_id}"]
        while todo:
            stream = todo.pop()
            if stream in scope:
                continue
            scope.add(stream)
            for stored in self.recorder.select_events(stream):
                try:
                    body = canonical.decode(stored.state)["body"]
                    if body["type"] in PACKING:
                        todo.append(f"lot:{body['container']}")
                except Exception:  # noqa: BLE001 - a damaged row is reported by the run itself
                    continue
        return frozenset(scope)

    def total(self) -> int:
        """The highest position in the log, or the rows after a resumed audit's position
        (for a progress bar)."""
        return max(0, (self.recorder.max_notification_id() or 0) - self.position)

    @long_fold()
    def run(self, progress: Callable[[int], None] = lambda n: None) -> Report:
        report = Report()
        pool: Executor | None = None
        if self.workers > 1:
            pool = ProcessPoolExecutor(self.workers, initializer=quiet)  # see ``quiet``
        # The stored tree's size before any new row is read: the resumed audit proves the saved
        # root is a prefix of the stored tree's root at that size, recomputed from the rows.
        stored_size = self._stored_tree_size() if self.resumed else None
        if stored_size is not None:
            self.log.want_roots.add(stored_size)
        # A long run with workers takes the log audit and presence off this process.
        helped = pool is not None and self.total() >= self.helper_from
        helper = self._log_helper() if helped else None
        feed = self._presence_feed() if helped else None
        # Pages folded and not yet reported: with a presence helper, each waits for its
        # judgement while the next page is folded.
        folded: deque[tuple[list[Reported], Future[dict[int, list[Finding]]] | None]] = deque()
        try:
            expected_position = self.position + 1
            for page, rows, ring in self._prepared_pages(pool):
                if ring is not self._keyring or any(row.names_key for row in rows):
                    self._verify_missing(page, rows, pool)  # keys changed: some may be stale
                # Leaf n: the n-th row, whatever it holds; its recorded_at against the
                # witnesses' cosignature times (read only if the audit has any).
                windows = bool(self.log.windows)
                (helper or self.log).add_page(
                    [row.event_hash for row in rows],
                    [row.recorded_at for row in rows] if windows else None,
                    [s[0] for s in page], [str(s[1]) for s in page] if windows else None)
                reported: list[Reported] = []
                for stored, row in zip(page, rows):
                    position = self.last_position = stored[0]
                    if position != expected_position:
                        reported.append((None, "", [self._gap(expected_position, position)]))
                    # A row before position 1 does not move where the log should go on.
                    expected_position = max(expected_position, position + 1)
                    findings = self._check(stored, row)
                    if position < self.scope.since:
                        continue  # folded only: the auditor asked to check from `since` on
                    report.events += 1
                    if findings is not None:
                        reported.append((position, str(stored[1]), findings))
                self.position = max(self.position, page[-1][0])
                folded.append((reported, feed.hand_over() if feed is not None else None))
                while len(folded) > (1 if feed is not None else 0):
                    self._report(report, *folded.popleft())
                progress(len(page))
            while folded:
                self._report(report, *folded.popleft())
            if feed is not None:
                feed.finish()
            grew = self.has_tree and self._grew()
            if helper is not None:
                self.log = helper.finish(grew)
        except BrokenProcessPool:
            raise ResourceError("a verification worker process stopped unexpectedly (killed, "
                                "or out of memory); run again, or with --workers 1") from None
        finally:
            if helper is not None:
                helper.close()
            if feed is not None:
                feed.close()
                self.state.judge_presence_with(Presence)
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            self._handed.close()
        if self.resumed is not None:
            report.extend(self._resumed_findings(stored_size))
            report.resumed = {"position": self.resumed.position,
                              "tree_size": self.resumed.tree_size,
                              "new_events": report.events}
        report.extend(self.log.findings(self.state, grew))
        if report.events == 0 and self.scope.since <= 1 and self.resumed is None:
            report.findings.append(Finding("GENESIS_MISSING",
                                           Message("the log is empty: no genesis")))
        report.streams = len(self.state.heads)
        report.signatures = self.signatures_checked
        return report

    def _report(self, report: Report, reported: list[Reported],
                judged: Future[dict[int, list[Finding]]] | None) -> None:
        """A folded page's findings into the report, in log order; each step's
        PRESENCE_CONFLICTs, if the helper judged them, after its other findings (where the
        fold puts them)."""
        placed = judged.result() if judged is not None else {}
        for position, stream, findings in reported:
            if position in placed:
                findings = [*findings, *(f.at(position, stream) for f in placed[position])]
            for finding in findings:
                if finding.stream:
                    self.findings_by_stream[finding.stream] = (
                        self.findings_by_stream.get(finding.stream, 0) + 1)
            report.extend(findings)

    def _presence_feed(self) -> PresenceFeed:
        """The fold's presence, judged by a helper process from here on."""
        return self.state.judge_presence_with(PresenceFeed)

    def _log_helper(self) -> LogHelper | None:
        """The log audit's helper process, if its stored tree (if the audit reads one) can be
        opened by another process; else None: the audit runs in this process."""
        opener = getattr(self.recorder, "opener", None)
        opener = opener() if opener is not None else None
        if self.log.stored is not None and opener is None:
            return None  # PostgreSQL, or a database in memory: read here
        audit = copy(self.log)
        audit.stored = None  # the helper reads the stored tree itself, if this audit does
        return LogHelper(audit, opener if self.log.stored is not None else None,
                         self.scope.since)

    def _gap(self, expected: int, found: int) -> Finding:
        """A jump in positions. No stream: what is missing is unknown, not the row after it."""
        evidence = {"expected": expected, "found": found}
        if found < 1:  # no store numbers a row below 1: it was put there by hand
            return Finding("POSITION_GAP", Message(
                "a row is stored at position {found}, before the log's first position 1: it "
                "was inserted or moved there", found=found),
                           position=found, evidence=evidence)
        if self.dense_positions:
            return Finding("POSITION_GAP", Message(
                "log jumps from position {last} to {found}: {missing} event(s) missing or "
                "reordered", last=expected - 1, found=found, missing=found - expected),
                           position=found, evidence=evidence)
        return Finding("POSITION_SKIPPED", Message(
            "positions {first}–{last} were never committed (a rolled-back write or a server "
            "restart) or were deleted; only a signed checkpoint can tell", first=expected,
            last=found - 1), position=found, evidence=evidence)

    # -- reading ---------------------------------------------------------------------------

    def _pages(self) -> Iterator[Sequence[Raw]]:
        """Every row of the table in position order, whatever its position: the first page
        starts at the lowest one stored (0, negative, or past a gap), not at 1."""
        start: int | None = self.resumed.position + 1 if self.resumed else None
        while True:
            page = read_rows(self.recorder, start, self.page_size)
            if not page:
                return
            yield page
            start = page[-1][0] + 1

    def _prepared_pages(self, pool: Executor | None) -> Iterator[
            tuple[Sequence[Raw], list[Prepared], dict[str, bytes]]]:
        """Each page with its rows prepared (and the keyring they were checked against), the
        workers running ``AHEAD`` pages in front.

        A page's keyring is the roster as judged when the page is handed out. The first page
        (a genesis and, usually, the first enrolments) is judged before any other is handed
        out, so the pages after it are not checked against an empty keyring."""
        in_flight: deque[tuple[Sequence[Raw], Callable[[], Handed]]] = deque()
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

    def _hand_out(self, raws: Sequence[Raw], pool: Executor | None
                  ) -> Callable[[], Handed]:
        if pool is None:
            return lambda: (prepare_chunk(raws, ring := self._ring(), self.scope), ring)
        size = -(-len(raws) // (2 * self.workers))
        ring, trust = self._ring(), self.state.trust()
        ring_file = self._handed.file_for(ring, trust)
        chunks = [raws[i:i + size] for i in range(0, len(raws), size)]
        futures = [pool.submit(prepare_packed_with, chunk, ring_file, self.scope)
                   for chunk in chunks]
        def result() -> Handed:
            # Called when the page's turn to be judged comes: the fold's trust state then
            # says whether the steps judged ahead need their signature results too.
            results = self._trust_moves(trust, raws)
            return [row for chunk, future in zip(chunks, futures)
                    for row in unpack(chunk, future.result(), ring, results)], ring

        return result

    def _ring(self) -> dict[str, bytes]:
        if self._keyring is None:
            self._keyring = {pid: m.public_key.raw for pid, m in self.state.roster.items()}
        return self._keyring

    def _trust_moves(self, trust: Trust, page: Sequence[Raw]) -> bool:
        """Whether the steps of ``page``, judged ahead against ``trust``, may find the fold's
        trust state moved on (since the page was handed out, or by an event in the page):
        the fold judges those itself, with their signature results."""
        return trust.version != self.state.trust_version or any(
            stored[3] in TRUST_TOPICS for stored in page)

    def _verify_missing(self, page: Sequence[Raw], rows: list[Prepared],
                        pool: Executor | None) -> None:
        """Verify, in the pool, signatures the workers had no current key for.

        The roster as it stands, plus keys named earlier in this page, says which key each
        signer has; judging uses a result only for the exact (key, digest, signature) it was
        computed for."""
        missing = [(row, task) for row, task in signature_tasks(
            [stored[0] for stored in page], rows, self._ring(), self.scope)
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

    def _check(self, stored: Raw, row: Prepared) -> list[Finding] | None:
        """The findings at one stored row (position, stream id, version, topic, bytes); None
        for a row folded and not reported (another lot than the one audited)."""
        position, stream_id, version = stored[0], stored[1], stored[2]
        stream = str(stream_id)
        problem = self._duplicate(stored, row) or row.problem
        if problem is not None:
            # The chain continues from the stored bytes, so one bad row is one finding. What
            # stream a damaged row belongs to cannot be trusted: it is reported in any scope.
            if not isinstance(version, int):  # NULL or text typed into the column
                head = self.state.head(stream)
                version = (head.seq if head else 0) + 1
            self.state.skip(stream, version, row.event_hash.hex(), position)
            return [problem.at(position, stream)]
        body, signatures = row.body, row.signatures
        assert body is not None and signatures is not None and row.recorded_at is not None
        if self.as_of is not None and body["occurred_at"] > self.as_of:
            return []  # after the moment asked about; later steps of its stream are too
        checked = self.scope.checks_signatures(position, body["stream"], body["type"])
        if checked and position >= self.scope.since:
            self.signatures_checked += len(signatures)
        event = Event(position, body, signatures, row.event_hash.hex(), row.recorded_at,
                      row.digest)
        findings = self.state.apply(event, row.verified if checked else ALL_VALID,
                                    row.prejudged).findings
        if body["type"] in KEY_EVENTS:
            self._keyring = None  # the workers' keyring is rebuilt from the roster
        if not self.scope.wanted(body["stream"]):
            return None  # another lot: folded for the state, not reported
        return [f.at(position, stream) for f in findings]

    def _duplicate(self, at: Raw, row: Prepared) -> Finding | None:
        """Say so if the row repeats, byte for byte, a step its stream has already stored.

        Only a step the stream has already passed can be a copy, so the store is asked only
        then: memory stays bounded by the streams, and an intact log costs no extra read.
        """
        if row.claims is None:
            return None
        stream, seq = row.claims
        head = self.state.head(stream)
        if seq > (head.seq if head else 0):
            return None
        _, stream_id, version, _, state = at
        stored = self.recorder.select_events(stream, gt=seq - 1, lte=seq)
        copies = sum(event.state == state for event in stored)
        if (str(stream_id), version) == (stream, seq):
            copies -= 1  # the row itself is one of them
        if copies < 1:
            return None
        return Finding(
            "DUPLICATE_EVENT",
            Message("{stream} step {seq} is stored again: the row stored as {row} version "
                    "{version} is a byte-for-byte copy of it", stream=stream, seq=seq,
                    row=stream_id, version=version),
            evidence={"stream": stream, "step": seq, "event_hash": row.event_hash.hex()},
        )

    # -- resuming --------------------------------------------------------------------------

    def reached(self) -> Header:
        """Where this run stopped, to save with its state after an intact run: the ledger,
        the tree size, root and frontier recomputed, the last position read, and the newest
        stored checkpoint at or below that size (checked against the tree in this run)."""
        newest: tuple[int, bytes] | None = None
        for item in self.log.evidence:
            if item.label.startswith("stored #") and not item.receipt:
                size = checkpoint_size(item.data)
                if size is not None and size <= self.log.size and (
                        newest is None or size >= newest[0]):
                    newest = (size, item.data)
        note = newest[1].decode("utf-8", "replace") if newest else None
        return Header(self.state.ledger_id or "", self.log.size, self.log.root(), self.position,
                      self.log.frontier.copy(), note)

    def _stored_tree_size(self) -> int:
        has_tree = getattr(self.recorder, "has_tree", None)
        if has_tree is None or not has_tree():
            raise StorageError("this ledger has no stored Merkle tree, so a saved audit state "
                               "cannot be proven a prefix of it; run without --state")
        return int(self.recorder.tree_size())  # type: ignore[attr-defined]

    def _read_tree(self, indexes: list[int]) -> list[bytes]:
        return self.recorder.tree_hashes(indexes)  # type: ignore[attr-defined,no-any-return]

    def _resumed_findings(self, stored_size: int | None) -> list[Finding]:
        """Is the log the saved audit checked still the prefix of this one? The stored tree
        must hold the saved root at the saved size, and prove (RFC 9162 consistency) that its
        root at its current size, recomputed here from the new rows, extends it."""
        assert self.resumed is not None and stored_size is not None
        saved = self.resumed
        evidence = {"saved_position": saved.position, "saved_tree_size": saved.tree_size,
                    "saved_root": saved.root.hex(), "tree_size": stored_size,
                    "log_size": self.log.size}
        last = self.recorder.max_notification_id() or 0
        if last < saved.position or stored_size < saved.tree_size:
            return [Finding("LOG_TRUNCATED", Message(
                "the saved audit state reached position {position} (tree size {size}); the "
                "log now ends at position {last} with a stored tree of {stored}: events were "
                "removed", position=saved.position, size=saved.tree_size, last=last,
                stored=stored_size), evidence={**evidence, "last_position": last})]
        try:
            stored_root = merkle.tree_hash(saved.tree_size, self._read_tree)
        except LedgerError as exc:
            stored_root, why = b"", str(exc)
        else:
            why = Message("the events before it were changed, removed or inserted since it "
                          "was saved")
        if stored_root != saved.root:
            return [Finding("CHECKPOINT_INCONSISTENT", Message(
                "the stored tree's root at size {size} is {stored}…, not the root {saved}… the "
                "saved audit state verified: {why}", size=saved.tree_size,
                stored=stored_root.hex()[:16] or "unreadable", saved=saved.root.hex()[:16], why=why),
                            evidence={**evidence, "stored_root": stored_root.hex()})]
        self._prove_known()
        if stored_size == saved.tree_size:
            return []
        if self.log.size < stored_size:
            return [Finding(
                "LOG_TRUNCATED", Message("the stored tree holds {stored} events, the log only "
                                         "{size}: events were removed", stored=stored_size,
                                         size=self.log.size), evidence=evidence)]
        recomputed = self.log.roots[stored_size]
        try:
            proof = merkle.prove_tree(stored_size, saved.tree_size, self._read_tree)
            merkle.check_tree(proof, stored_size, recomputed, saved.tree_size, saved.root)
        except LedgerError as exc:
            return [Finding(
                "ROOT_MISMATCH", Message(
                    "the new events hash to root {root}… at size {size}, which the stored tree "
                    "does not prove extends the saved root: {reason}", root=recomputed.hex()[:16],
                    size=stored_size, reason=str(exc)),
                evidence={**evidence, "recomputed_root": recomputed.hex()})]
        return []

    def _prove_known(self) -> None:
        """The roots of checkpoints, and the leaves of receipts, from before the saved size:
        read from the stored tree, each kept only if a proof ties it to the saved root (else
        the evidence's own finding reports it)."""
        assert self.resumed is not None
        size, root = self.resumed.tree_size, self.resumed.root
        roots: dict[int, bytes] = {}
        leaves: dict[int, bytes] = {}
        for old in sorted(s for s in self.log.want_roots if 0 < s < size):
            try:
                old_root = merkle.tree_hash(old, self._read_tree)
                merkle.check_tree(merkle.prove_tree(size, old, self._read_tree), size, root,
                                  old, old_root)
                roots[old] = old_root
            except LedgerError:
                continue
        for index in sorted(i for i in self.log.want_leaves if i < size):
            try:
                position = self.recorder.leaf_position(index)  # type: ignore[attr-defined]
                rows = self.recorder.select_notifications(start=position, stop=position, limit=1)
                if position is None or not rows or rows[0].id != position:
                    continue
                event_hash = event_hash_of_bytes(rows[0].state)
                merkle.check_record(merkle.prove_record(size, index, self._read_tree), size,
                                    root, index, merkle.leaf_hash(event_hash))
                leaves[index] = event_hash
            except LedgerError:
                continue
        self.log.known(roots, leaves)

    def close(self) -> None:
        """Drop the per-stream state and its temporary file."""
        for states in (self.state.heads, self.state.lots, self.state.entered):
            states.close()  # type: ignore[attr-defined]
