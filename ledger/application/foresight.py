"""What ``custody verify`` will report at a step's position, said by the command that records
it.

The recorder judges a step against the streams its rules read (``CustodyLedger.state``) and
refuses it on any error. Some findings at a step's position depend on the whole ledger
instead: where everyone who signs it signed last (``PRESENCE_CONFLICT``), how many lots a
secure room holds and whether a duty gap is already open (``DUTY_UNCOVERED``). The view
folds every event through the one fold, ``LedgerState``, as ``verify`` does, and keeps each
step's findings (``view_findings``). So once a step is appended, the view is brought up to
the log's head — what every writing command does anyway — and the findings it recorded at
the step's position are, finding for finding, what ``verify`` reports there (on a ledger the
recorder wrote: the view takes signatures as the recorder checked them). Events appended
after the step by other writers change nothing at its position.

A draft, which is not stored, is judged against the view's saved fold when the view stands
at the log's head (``preview``).

The view is a convenience, never a gate: a view that cannot be brought up to date (a
database error, a view edited into something unreadable) leaves the recorder's own warnings,
and nothing is refused for it.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Mapping, Sequence

from eventsourcing.persistence import PersistenceError

from ledger.core.errors import LedgerError
from ledger.core.findings import Finding
from ledger.core.rules import ALL_VALID
from ledger.core.state import Event
from ledger.projections import access
from ledger.projections.codec import ViewStateDamaged
from ledger.projections.projection import CustodyProjection, catch_up
from ledger.projections.timeline import findings_at
from ledger.projections.view import Stale

_VIEW_FAULTS = (LedgerError, PersistenceError, sqlite3.Error, Stale, ViewStateDamaged,
                ValueError, KeyError)


def foresee(app: Any, positions: Sequence[int]) -> dict[int, list[Finding]] | None:
    """After an append: bring the view up to the log's head (folding the new events) and
    return the findings it recorded at each of ``positions``; None when it cannot."""
    try:
        view = access.writable_view(app)
        catch_up(view, app.recorder)
        if (view.position() or 0) < max(positions):
            return None
        return {position: [Finding(f.code, f.message, f.position, f.stream, f.evidence)
                           for f in found]
                for position, found in findings_at(view, positions).items()}
    except _VIEW_FAULTS:
        return None


def preview(app: Any, head: int, recorded_at: str, body: Mapping[str, Any],
            signatures: Mapping[str, bytes]) -> list[Finding] | None:
    """The findings a drafted step would get at the next position, judged against the
    view's saved fold if the stored view stands at ``head``; None otherwise."""
    try:
        view = access.stored_view(app)
        if view is None or not view.current() or (view.position() or 0) != head:
            return None
        state = CustodyProjection(view).state
        return state.apply(Event(head + 1, body, signatures, "", recorded_at), ALL_VALID).findings
    except _VIEW_FAULTS:
        return None
