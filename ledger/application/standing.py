"""Where the recorder stands when it judges a step: the view's saved fold of the whole log,
brought up to the log's head, so that a step costs the same on a small ledger and a
province's.

Folding afresh every stream a judgement reads (``Reading.state``) re-reads and re-checks
each stored event of those streams and of every stream they name in turn — a room's duty
shifts, patrols and stores, and everyone who signed them — so a step's cost grew with the
ledger (``bench/bench_record.py``). The view already holds the fold of the whole log (``view_fold``, the state
``verify --state`` saves): the recorder brings it up to the log's head, folding only the
events appended since (every writing command does so after its append anyway), and judges
the new step against it.

What the recorder trusts, and checks, before it uses the saved fold:

- the view's tables hold the fold the projection wrote. The view takes stored signatures as
  the recorder checked them when it wrote them; the new step's own signatures are verified
  here, with every rule, against the whole ledger's state;
- for every stream the step reads (its own, its signers', its parties', its place, its
  container, and the ledger's own stream of policies and authorities), the last stored row
  is the step the fold stands at: the same step number and the same event hash, recomputed
  from the stored bytes. A last row rewritten, or appended, under the view shows here, and
  the recorder falls back to folding those streams from the log;
- none of those streams holds a step the view found an error in: the ledger is damaged
  there, and the recorder refuses, as the fresh fold does.

A row rewritten earlier in a stream, with the stream's later steps left alone, is not seen
here: ``custody verify`` re-checks every stored byte, chain link and signature, independently
of the view, and reports it at its position.

Whenever the view cannot be used (it cannot be brought up to date, is damaged, or disagrees
with the log), the recorder folds the streams from the log as before: the view is a
convenience, never a gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ledger.application.foresight import VIEW_FAULTS
from ledger.application.reading import RECORDED_WITH_WARNING, damaged
from ledger.core.digests import event_hash_of_bytes
from ledger.core.findings import Severity
from ledger.core.state import LedgerState
from ledger.domain.aggregates import LEDGER_STREAM
from ledger.projections import access
from ledger.projections.projection import caught_up
from ledger.projections.queries import chunks
from ledger.projections.queries import FindingAt, findings_at


@dataclass(frozen=True)
class Standing:
    """The state a step is judged against and the log position it stands at; ``view``: the
    view whose saved fold it is (read entry by entry, when first used), or None for streams
    folded from the log."""

    state: LedgerState
    head: int
    view: Any = None

    @property
    def whole(self) -> bool:
        """Whether it is the whole log's fold (the view's), so its findings at the next
        position are the ones ``verify`` reports there."""
        return self.view is not None

    def moved(self) -> bool:
        """Whether the view moved past ``head`` since this state was taken. The saved fold
        is read lazily, so an entry first read after another writer's step was folded into
        the view is newer than ``head``: a judgement that refused the step may have read
        such an entry, and is made again. (One that accepted it is appended on condition
        that the log's head is still ``head``, and the view is never ahead of the log.)"""
        if self.view is None:
            return False
        try:
            return (self.view.position() or 0) != self.head
        except VIEW_FAULTS:
            return True


def standing(app: Any, streams: Iterable[str], *, roster: bool = False) -> Standing:
    """The state to judge a step reading ``streams`` against: the view's saved fold at the
    log's head when it agrees with the log there, else those streams folded from the log
    (``roster``: and every person's)."""
    streams = sorted({LEDGER_STREAM, *streams})  # the genesis, policies and authorities too
    saved = _saved(app, streams)
    if saved is not None:
        return saved
    state, head = app.state(streams, roster=roster)
    return Standing(state, head)


def _saved(app: Any, streams: list[str]) -> Standing | None:
    try:
        view = access.writable_view(app)
        projection, _ = caught_up(view, app.recorder)
        state = projection.state
        if not _agrees(app, state, streams):
            return None
        fault = _damage(view, streams)
    except VIEW_FAULTS:
        return None
    if fault is not None:
        raise damaged(fault.position or 0, fault.stream, fault)
    return Standing(state, projection.position or 0, view)


def _agrees(app: Any, state: LedgerState, streams: list[str]) -> bool:
    """Whether each stream's last stored row is the step the saved fold stands at."""
    for stream in streams:
        last = app.recorder.select_events(stream, desc=True, limit=1)
        head = state.head(stream)
        if not last:
            if head is not None:
                return False
            continue
        if (head is None or head.seq != last[0].originator_version
                or head.event_hash != event_hash_of_bytes(bytes(last[0].state)).hex()):
            return False
    return True


def _damage(view: Any, streams: list[str]) -> FindingAt | None:
    """The first error the view found at a step of ``streams`` (a damaged ledger), or None."""
    allowed = sorted(RECORDED_WITH_WARNING)
    for part in chunks(streams):
        rows = view.query(
            "SELECT MIN(f.position) FROM view_steps s JOIN view_findings f "
            "ON f.position = s.position "
            f"WHERE s.stream IN ({','.join('?' * len(part))}) AND f.severity = 'error' "
            f"AND f.code NOT IN ({','.join('?' * len(allowed))})", [*part, *allowed])
        if rows and rows[0][0] is not None:
            position = rows[0][0]
            return next((f for f in findings_at(view, [position]).get(position, [])
                         if f.severity == Severity.ERROR.value and f.code not in allowed),
                        None)
    return None
