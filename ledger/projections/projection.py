"""The custody projection: the log folded by ``LedgerState`` into the view's tables.

:class:`CustodyProjection` is an ``eventsourcing.projection.Projection`` over the view's
tracking recorder. It keeps the one fold, ``LedgerState``, and for each stored row writes
what ``LedgerState.apply`` decided — the lot after the step, who counted with which role,
the presence verdict and the findings — never a second reading of what an event means.

Signatures: the recorder checked every one before it wrote, and the view vouches for
nothing (``custody verify`` and ``status --verified`` check them all again), so the fold
takes them as valid (``ALL_VALID``) and a catch-up costs no Ed25519 work. Everything else
— chains, sequences, roster, keys in force, presence, custody rules — is judged as the
recorder judged it, so a row damaged or edited before the view reads it shows up as an error.
Rows are decoded by the verifier's compiled row stage (``ledger.domain.compiled_rows``): a
canonical step row in C, any other row by ``stored.prepare`` itself, so a malformed row is
refused with the same finding either way, at about half the cost of a canonical decode; a
long fold into an empty view (a rebuild, a fresh copy's first read) has them decoded in a
helper process while it folds (``RowStage``), which also works out each step's
trust-dependent judgement ahead (``ledger.core.trust``), and, on a SQLite file, has each
page written by a second helper while it folds the next (``writer.PageWriter``), which also
judges the page's impossible presence from the fold's notes (``presence_pages``).

The fold state is saved with the view (``view_fold``, through ``ledger.core.state_codec``
as ``codec.py`` describes): the roster, rooms, sites, lots, chain heads, lots in rooms,
rooms' duty coverage and people's whereabouts one row per person, room, site or stream,
read only when a new event touches them; the rest (the scalars, policies and closed duty
gaps) as one row. So a catch-up reads and
writes in proportion to the new events, memory stays bounded by one page of them, and a fold
resumed from the view holds everything a fold of the whole log holds.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, MutableMapping, Sequence

from eventsourcing.persistence import ApplicationRecorder, Tracking
from eventsourcing.projection import Projection

from ledger.core.collector import long_fold, quiet
from ledger.core.custody import LotState, is_person
from ledger.core.findings import Finding, Severity
from ledger.core.kinds import AUTHORITY_EVENTS, ROOM_EVENTS
from ledger.core.rules import ALL_VALID
from ledger.core.presence_notes import PresenceNotes
from ledger.core.state import Event, LedgerState, Outcome
from ledger.core.whereabouts import Presence
from ledger.core.trust import Trust
from ledger.core.state_codec import PER_STREAM
from ledger.projections import codec
from ledger.core.text import message_data
from ledger.projections.view import Batch, Stale, ViewStore
from ledger.projections.writer import PageWriter
from ledger.storage.memory import available_memory, resident_for
from ledger.domain.compiled_rows import prepare
from ledger.domain.stored import Prepared, Raw, read_rows

if TYPE_CHECKING:
    from concurrent.futures import Future

PAGE = 1000  # events folded per transaction
# ... and when folding into an empty view (a rebuild, a fresh copy's first read): a page's
# fold entries are written once however many of its events changed them, so fewer, larger
# pages write each lot, head and person's whereabouts fewer times over the whole log.
FRESH_PAGE = 10_000
# A fold into an empty view of at least this many events decodes its rows in a helper process
# (``RowStage``), a chunk of ``CHUNK`` rows ahead of the fold, when the machine has a second core.
POOLED_FROM = 20_000
CHUNK = 2_000
# Entries each per-stream map keeps cached between pages (lots, heads, whereabouts, a lot's
# finding counts): the same streams and people come back page after page, and reading each
# again is most of a rebuild's cost. As many as the machine's memory allows
# (``memory.resident_for``, as verify keeps); past that, a map's cache is dropped after its
# page is written.
# Keys a map remembers having written while it folds into an empty view, so that it need not
# ask the view for any other (see FoldMap): twice as many, at least WRITTEN_KEPT; past that it
# asks, as for any view.
WRITTEN_KEPT = 200_000
_ABSENT: Any = object()
_UNCACHED: Any = object()  # not read from the view yet


class FoldMap(MutableMapping[str, Any]):
    """One per-stream part of the saved ``LedgerState`` (lots, heads, lots in rooms,
    whereabouts; or the view's own counts per lot), read from ``view_fold`` on first use;
    what changed is written with the next batch."""

    def __init__(self, view: ViewStore, kind: str, keep: int = 0, *,
                 fresh: bool = False) -> None:
        self.view, self.kind = view, kind
        self._cache: dict[str, Any] = {}
        self._dirty: set[str] = set()
        # Entries kept cached across batches (0: none). People sign step after step, so
        # their whereabouts are kept rather than read again for every page of events.
        self.keep = keep
        # Folding into an empty view (a rebuild, a first read): only the keys this map wrote
        # can be in the view, so any other is absent without asking it. (Another writer
        # filling the view meanwhile makes this fold's page stale, and it is dropped.)
        self._written: set[str] | None = set() if fresh else None
        self._most_written = max(WRITTEN_KEPT, 2 * keep)
        # Called before the view is read: waits for a page still being written elsewhere
        # (``writer.PageWriter``), so nothing is read from a view behind the fold.
        self.settle: Callable[[], None] = _nothing

    def _load(self, key: str) -> Any:
        if key not in self._cache:
            if self._written is not None and key not in self._written:
                return _ABSENT
            self.settle()
            saved = self.view.fold_get([f"{self.kind}|{key}"]).get(f"{self.kind}|{key}")
            self._cache[key] = (_ABSENT if saved is None
                                else codec.loads_entry(self.kind, key, saved))
        return self._cache[key]

    def __getitem__(self, key: str) -> Any:
        value = self._cache.get(key, _UNCACHED)  # the usual case (the roster's people)
        if value is _UNCACHED:
            value = self._load(key)
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        # Not Mapping.get's KeyError raised and caught: most keys a rebuild asks for (a lot
        # in no room, a stream's first step) are absent, and that is its commonest question.
        value = self._cache.get(key, _UNCACHED)  # the usual case: no call to _load
        if value is _UNCACHED:
            value = self._load(key)
        return default if value is _ABSENT else value

    def __setitem__(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._dirty.add(key)
        if self._written is not None:
            self._written.add(key)
            if len(self._written) > self._most_written:
                self._written = None  # memory stays bounded: from now on, ask the view

    def __delitem__(self, key: str) -> None:
        self[key]  # KeyError if absent
        self._cache[key] = _ABSENT
        self._dirty.add(key)

    def __iter__(self) -> Iterator[str]:
        prefix = f"{self.kind}|"
        self.settle()
        stored = {k[len(prefix):] for (k,) in self.view.query(
            "SELECT key FROM view_fold WHERE key LIKE ? AND value IS NOT NULL", [prefix + "%"])}
        keys = (stored | set(self._cache))
        return iter(sorted(k for k in keys if self._load(k) is not _ABSENT))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def forget(self) -> None:
        """Read every entry from the view from now on: another process (the page writer's
        presence judge) wrote them."""
        assert not self._dirty, "nothing changed here is left unwritten"
        self._cache.clear()
        self._written = None

    def changes(self) -> list[tuple[str, str | None]]:
        """(view_fold key, its bytes or None for a removed entry) of everything changed; the
        cache is dropped after (unless it holds at most ``keep`` entries), so memory stays
        bounded by one batch."""
        out = [(f"{self.kind}|{key}", None if self._cache[key] is _ABSENT
                else codec.dumps_entry(self.kind, key, self._cache[key]))
               for key in sorted(self._dirty)]
        self._dirty.clear()
        if len(self._cache) > self.keep:
            self._cache.clear()
        return out


class NameIds:
    """The id of each name (a person, a role) in ``view_names``, given in the order the fold
    first meets them, so a view caught up in pages and one folded at once hold the same ids.
    Every name met stays cached: they are the roster's people and roles, which the fold holds
    in memory anyway."""

    def __init__(self, view: ViewStore, batch: Callable[[], Batch], *, fresh: bool) -> None:
        self.view, self.batch = view, batch
        self._ids: dict[str, int] = {}
        self._fresh = fresh  # an empty view: no name in it that this map did not give
        self._next = 1 if fresh else 1 + int(
            view.query("SELECT COALESCE(MAX(id), 0) FROM view_names")[0][0])

    def __call__(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            rows = [] if self._fresh else self.view.query(
                "SELECT id FROM view_names WHERE name = ?", [name])
            if rows:
                found = int(rows[0][0])
            else:
                found, self._next = self._next, self._next + 1
                self.batch().insert("view_names", (found, name))
            self._ids[name] = found
        return found


class CustodyProjection(Projection[ViewStore]):
    """Folds stored rows through ``LedgerState`` and records the result in the view."""

    name = "custody_view"

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.start = view.position()
        self.position = self.start
        meta = view.meta()
        # A view made anew by a rebuild gets its secondary indexes once it reaches the head.
        self.unindexed = "unindexed" in meta
        self.meta = {k: v for k, v in meta.items() if k not in ("position", "unindexed")}
        # The state's per-stream maps (whereabouts: person -> Whereabouts), as the codec
        # names them; the rest of the state is read back whole.
        fresh = self.start is None  # an empty view: nothing saved to read back
        keep = resident_for(available_memory())
        self.maps = {section: FoldMap(view, section, keep=keep, fresh=fresh)
                     for section in PER_STREAM}
        self.flags = FoldMap(view, codec.FLAGS, keep=keep, fresh=fresh)
        self.state = codec.saved_state(view, **self.maps) or LedgerState(**self.maps)
        self.lots, self.entered = self.maps["lots"], self.maps["entered"]
        self.batch = Batch()
        self.name_id = NameIds(view, lambda: self.batch, fresh=fresh)
        self.writer: PageWriter | None = None  # pages written here, or by a helper process
        self.notes: PresenceNotes | None = None  # presence noted for the writer to judge

    def write_with(self, writer: PageWriter | None) -> None:
        """Have ``writer``'s helper process write the pages from now on (None: this one). A
        writer that judges presence (``presence_pages``) gets each page with its notes, and
        keeps the whereabouts and the lots' finding counts; once it is done with, they are read
        back from the view."""
        if self.notes is not None:  # the writer's presence judge is done with
            self.state.judge_presence_with(Presence)
            self.maps["whereabouts"].forget()
            self.flags.forget()
            self.notes = None
        self.writer = writer
        for fold in (*self.maps.values(), self.flags):
            fold.settle = writer.settle if writer is not None else _nothing
        if writer is not None and writer.judges_presence:
            self.notes = self.state.judge_presence_with(PresenceNotes)

    def settle(self) -> None:
        """Wait until every page committed so far is written (``Stale`` if one could not be)."""
        if self.writer is not None:
            self.writer.settle()

    # -- folding -----------------------------------------------------------------------------

    def process_event(self, domain_event: Raw, tracking: Tracking) -> None:  # type: ignore[override]
        """Fold one stored row (position, stream id, version, topic, bytes) and stage what it
        changes in the view; ``tracking`` names its position in the log."""
        self.fold(domain_event, prepare(domain_event))

    def fold(self, domain_event: Raw, row: Prepared) -> None:
        """``process_event`` for a row decoded already (``prepare``, here or in the helper
        process of a ``RowStage``); the row's position is its first column."""
        position = self.position = domain_event[0]
        self._count("events", 1)
        if row.problem is not None or row.body is None:
            self._damaged(domain_event, row)
            return
        body, stream = row.body, row.body["stream"]
        before = self.entered.get(stream) if stream.startswith("lot:") else None
        outcome = self.state.apply(Event(position, body, row.signatures or {},
                                         row.event_hash.hex(), row.recorded_at or "",
                                         row.digest), ALL_VALID, row.prejudged)
        findings, lot = outcome.findings, outcome.lot
        self._count("errors", sum(f.severity is Severity.ERROR for f in findings))
        self._count("warnings", sum(f.severity is Severity.WARNING for f in findings))
        seals = None if lot is None else json.dumps(list(lot.seals))
        self._step(position, body, row, outcome, seals)
        self._findings(position, stream, findings)
        self._attendees(position, body, outcome)
        self._people(position, body, outcome)
        if lot is not None:
            self._lot(position, stream, lot, findings, seals)
            self._occupancy(position, stream, before, self.entered.get(stream),
                            body["occurred_at"])
        self._room(position, body)

    def _count(self, key: str, n: int) -> None:
        self.meta[key] = self.meta.get(key, 0) + n

    def _damaged(self, domain_event: Raw, row: Any) -> None:
        """A row that does not decode into a valid event: the chain goes on from its bytes
        (as the verifier's does), and the view records one error at its position."""
        position, stream_id, version = domain_event[0], domain_event[1], domain_event[2]
        stream = str(stream_id)
        if not isinstance(version, int):
            head = self.state.head(stream)
            version = (head.seq if head else 0) + 1
        self.state.skip(stream, version, row.event_hash.hex(), position)
        problem: Finding = row.problem
        self._count("errors", 1)
        self.batch.insert("view_steps", (
            position, stream, version, "", "", "", None, None, "", "", "", "",
            json.dumps([problem.code]), 1, row.event_hash, None, None, None, None, None,
            None, None))
        self._findings(position, stream, [problem])

    def _findings(self, position: int, stream: str, findings: list[Finding]) -> None:
        """Keep each finding of the step at ``position`` as the fold returned it."""
        if findings:
            self.batch.inserted("view_findings").extend(finding_rows(position, stream, findings))

    def _step(self, position: int, body: dict[str, Any], row: Any, outcome: Outcome,
              seals: str | None) -> None:
        event_type, findings, lot = body["type"], outcome.findings, outcome.lot
        policy = body.get("policy")
        policy_ref = (f"{policy['id']} v{policy['version']}"
                      if isinstance(policy, dict) and "version" in policy else "")
        verdict, missing = "", ""
        if "attendees" in body and event_type not in AUTHORITY_EVENTS:
            verdict = "short" if outcome.short else "met"
            missing = "; ".join(
                f"{s['needed'] - len(s['counted'])} more {' or '.join(s['roles'])}"
                for s in outcome.shortfalls)
        snapshot: tuple[Any, ...] = (None,) * 7
        if lot is not None:
            snapshot = (lot.lot_id, lot.holder, lot.packed_in, lot.count,
                        seals, int(lot.unsealed), int(lot.closed))
        self.batch.insert("view_steps", (
            position, body["stream"], body["seq"], event_type, body["occurred_at"],
            row.recorded_at or "", outcome.released, outcome.received, body.get("location", ""),
            policy_ref,
            verdict, missing, json.dumps([f.code for f in findings]) if findings else "[]",
            len(findings),
            row.event_hash, *snapshot))

    def _attendees(self, position: int, body: dict[str, Any], outcome: Outcome) -> None:
        """Each attendee listed, with the roster role and whether the fold counted them."""
        counted, name_id = outcome.counted, self.name_id
        rows = self.batch.inserted("view_attendees")  # six a step: no call a row
        seen: set[str] = set()
        for attendee in body.get("attendees", ()):
            person = attendee["person"]
            if person in seen:
                continue
            seen.add(person)
            role = counted.get(person)
            if role is not None:
                rows.append((position, name_id(person), name_id(role), 1))
            else:
                member = self.state.member(person)
                rows.append((position, name_id(person), name_id(member.role if member else ""),
                             0))

    def _people(self, position: int, body: dict[str, Any], outcome: Outcome) -> None:
        stream, event_type = body["stream"], body["type"]
        parts: set[tuple[str, str]] = set()
        if stream.startswith("person:"):
            parts.add((stream[len("person:"):], event_type))
        # A step naming a holder (a registration, an unpacking) names them as its holder.
        received = None if "holder" in body else outcome.received
        for part, party in (("from", outcome.released), ("to", received),
                            ("holder", body.get("holder"))):
            if isinstance(party, str) and is_person(party):
                parts.add((party, part))
        for person, part in sorted(parts):
            self.batch.insert("view_people", (person, position, part))

    def _lot(self, position: int, stream: str, lot: LotState, findings: list[Finding],
             seals: str) -> None:
        counts = (0, 0, 0)  # with presence noted, the page writer counts (``presence_pages``)
        if self.notes is None:
            counts = self.flags.get(stream, counts)
            if findings:
                counts = lot_counts(counts, [f.code for f in findings])
            self.flags[stream] = counts
        self.batch.upsert("view_lots", (
            lot.lot_id, lot.kind, lot.exam, lot.subject, lot.count, seals,
            lot.holder, lot.packed_in, lot.location, lot.last_type, lot.last_occurred_at,
            int(lot.unsealed), int(lot.closed), lot.steps, position, *counts))

    def _occupancy(self, position: int, stream: str, before: Any, after: Any,
                   moment: str) -> None:
        if before == after:
            return
        lot_id = stream[len("lot:"):]
        if before is not None:
            self.batch.ended.append((moment, lot_id, before[0], before[1]))
        if after is not None:
            self.batch.insert("view_occupancy", (lot_id, position, after[0], after[1], None))

    def _room(self, position: int, body: dict[str, Any]) -> None:
        event_type = body["type"]
        if event_type == "room.registered":
            room = self.state.room(body["room"]["id"])
            if room is not None:
                self.batch.upsert("view_rooms", (room.room_id, room.name, room.licence,
                                                 room.valid_from, room.valid_until, position))
        elif event_type in ROOM_EVENTS:
            room_id = body["stream"].split(":", 1)[1]
            room = self.state.room(room_id)
            if room is None:
                return
            on_duty = {pid: m.role for pid in sorted(room.on_duty)
                       if (m := self.state.member(pid))}
            self.batch.insert("view_duty", (room_id, position, body["occurred_at"],
                                            event_type, json.dumps(on_duty)))

    # -- writing -----------------------------------------------------------------------------

    def commit(self) -> None:
        """Write what the rows folded since the last commit decided, with the position."""
        if self.position == self.start:
            return
        for fold in (*self.maps.values(), self.flags):
            for key, value in fold.changes():
                self.batch.upsert("view_fold", (key, value))
        self.batch.upsert("view_fold", (codec.STATE, codec.dumps_state(self.state)))
        # The zone times are shown in, on its own: a quick answer reads it without the fold.
        self.batch.upsert("view_fold", ("time_zone", json.dumps(self.state.time_zone).encode()))
        assert self.position is not None
        if self.notes is not None:
            assert self.writer is not None
            self.writer.write(self.batch, self.start, self.position, self.meta,
                              self.notes.take())
        else:
            (self.writer or self.view).write(self.batch, self.start, self.position, self.meta)
        self.start = self.position
        self.batch = Batch()


def lot_counts(counts: tuple[int, int, int], codes: list[str]) -> tuple[int, int, int]:
    """A lot's finding counts (findings, acknowledged violations, corrections) with the
    finding ``codes`` of one more of its steps."""
    return (counts[0] + len(codes), counts[1] + codes.count("ACKNOWLEDGED_VIOLATION"),
            counts[2] + codes.count("CORRECTION"))


def finding_rows(position: int, stream: str, findings: list[Finding], first: int = 0
                 ) -> list[tuple[Any, ...]]:
    """The ``view_findings`` rows of the step at ``position`` (in ``stream``), numbered from
    ``first``."""
    return [(position, ordinal, finding.code, finding.severity.value, finding.stream or stream,
             json.dumps(message_data(finding.message), sort_keys=True, ensure_ascii=False),
             json.dumps(finding.evidence, sort_keys=True, ensure_ascii=False, default=str))
            for ordinal, finding in enumerate(findings, first)]


def catch_up(view: ViewStore, recorder: ApplicationRecorder, *, page: int | None = None,
             progress: Callable[[int], None] = lambda n: None, attempts: int = 20,
             until: int | None = None) -> int:
    """Bring ``view`` up to the log's last position (or ``until``) and return how many events
    it folded.

    Each page of events (``page``; by default ``PAGE``, or ``FRESH_PAGE`` into an empty view)
    is folded and written in one transaction with its position; if another command moved the
    view meanwhile, the page is dropped and the view read again."""
    return caught_up(view, recorder, page=page, progress=progress, attempts=attempts,
                     until=until)[1]


@long_fold()
def caught_up(view: ViewStore, recorder: ApplicationRecorder, *, page: int | None = None,
              progress: Callable[[int], None] = lambda n: None, attempts: int = 20,
              until: int | None = None) -> tuple[CustodyProjection, int]:
    """``catch_up``, returning also the projection that brought the view to where it stands:
    its ``state`` is the whole log's fold at ``position``, what is saved in the view (the
    recorder judges a new step against it)."""
    folded = 0
    if not view.current():
        view.clear()  # folded by an older version: fold it again, with what it lacks
    for attempt in range(attempts):
        projection = CustodyProjection(view)
        fresh = projection.start is None
        size = page or (FRESH_PAGE if fresh else PAGE)
        long = fresh and _last(recorder, until) >= POOLED_FROM
        # A page writer only on the first attempt: after a stale page (another command
        # folding too, or the writer stopped), this process writes its own.
        with RowStage(helper=long) as stage, \
                _page_writer(view if long and attempt == 0 else None) as writer:
            projection.write_with(writer)
            try:
                while True:
                    start = projection.position
                    fetched = read_rows(recorder, None if start is None else start + 1, size)
                    rows = [row for row in fetched if until is None or row[0] <= until]
                    if not rows:
                        projection.settle()
                        projection.write_with(None)  # what the writer kept, read back
                        if not fetched and projection.unindexed:
                            view.index()  # the head reached: the indexes a rebuild left out
                        return projection, folded
                    for row_raw, row in stage.decoded(rows, projection.state.trust):
                        projection.fold(row_raw, row)
                    projection.commit()
                    folded += len(rows)
                    progress(len(rows))
            except Stale:
                continue
    raise Stale()


@contextmanager
def _page_writer(view: ViewStore | None) -> Iterator[PageWriter | None]:
    """A ``PageWriter`` for ``view``'s pages on a machine with a second core, if it can be
    opened from another process; else None (pages written by the folding process). Only a
    long fold into an empty view has one, and it judges presence (``presence_pages``)."""
    opener = view.opener() if view is not None and (os.cpu_count() or 1) > 1 else None
    if opener is None:
        yield None
        return
    writer = PageWriter(opener, judges_presence=True)
    try:
        yield writer
    finally:
        writer.close()


def _nothing() -> None:
    return None


def _last(recorder: ApplicationRecorder, until: int | None) -> int:
    """The last position a catch-up would fold up to (0: an empty log)."""
    last = recorder.max_notification_id() or 0
    return last if until is None else min(last, until)


class RowStage:
    """Stored rows decoded for the fold (``compiled_rows.prepare``): in this process, or, for
    a long fold into an empty view on a machine with a second core, in one helper process
    while this one folds — the verifier's row stage and its packed results
    (``verify.packed``), with no signature checked, and each step's trust-dependent
    judgement worked out ahead against the fold's trust state (``ledger.core.trust``). The
    rows, any problem found with them and the fold's verdicts are the same either way; if
    the helper stops (killed, out of memory), the rest are decoded here."""

    def __init__(self, *, helper: bool) -> None:
        self._pool: Any = None
        self._handed: Any = None
        if helper and (os.cpu_count() or 1) > 1:
            from concurrent.futures import ProcessPoolExecutor  # only a long fold needs it

            from ledger.verify.packed import HandedFiles

            self._pool = ProcessPoolExecutor(1, initializer=quiet)
            self._handed = HandedFiles(2)

    def __enter__(self) -> "RowStage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the helper, if any; rows are decoded here from then on."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
            self._handed.close()

    def decoded(self, raws: Sequence[Raw], trust: Callable[[], Trust]
                ) -> Iterator[tuple[Raw, Prepared]]:
        """Each row with what ``prepare`` makes of it, in order; in the helper, with its
        step's judgement worked out ahead against ``trust()``, the fold's trust state as it
        stands when the rows are handed out."""
        if self._pool is None:
            yield from ((row, prepare(row)) for row in raws)
            return
        from concurrent.futures.process import BrokenProcessPool

        from ledger.verify.packed import prepare_packed_with, unpack

        # Short first chunks, each twice the one before up to CHUNK: the fold waits only for
        # the first, and while it folds one chunk the helper prepares the next.
        cuts, size = [0], CHUNK // 8
        while cuts[-1] < len(raws):
            cuts.append(min(len(raws), cuts[-1] + size))
            size = min(CHUNK, 2 * size)
        spans = list(zip(cuts, cuts[1:]))
        handed = self._handed.file_for(None, trust())
        futures: list[Future[Any]] = [self._pool.submit(prepare_packed_with, raws[at:end],
                                                        handed)
                                      for at, end in spans]
        for (at, end), future in zip(spans, futures):
            chunk = raws[at:end]
            try:
                rows = unpack(chunk, future.result(), {}, signature_results=False)
            except BrokenProcessPool:
                self.close()
                yield from self.decoded(raws[at:], trust)
                return
            yield from zip(chunk, rows)
