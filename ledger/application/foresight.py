"""What ``custody verify`` will report at a step's position, said by the command that records
it.

The recorder judges a step against the whole ledger's fold, the view's (``standing.py``),
and refuses it on any error. Some findings at a step's position depend on the whole ledger:
where everyone who signs it signed last (``PRESENCE_CONFLICT``), how many lots a secure room
holds and whether a duty gap is already open (``DUTY_UNCOVERED``). The view
folds every event through the one fold, ``LedgerState``, as ``verify`` does, and keeps each
step's findings (``view_findings``). So once a step is appended, the view is brought up to
the log's head — what every writing command does anyway — and the findings it recorded at
the step's position are, finding for finding, what ``verify`` reports there (on a ledger the
recorder wrote: the view takes signatures as the recorder checked them). Events appended
after the step by other writers change nothing at its position.

The view is a convenience, never a gate: a view that cannot be brought up to date (a
database error, a view edited into something unreadable) leaves the recorder's own warnings,
and nothing is refused for it.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from eventsourcing.persistence import PersistenceError

from ledger.core.errors import LedgerError
from ledger.core.findings import Finding
from ledger.projections import access
from ledger.projections.codec import ViewStateDamaged
from ledger.projections.projection import catch_up
from ledger.projections.queries import findings_at
from ledger.projections.view import Stale

VIEW_FAULTS = (LedgerError, PersistenceError, sqlite3.Error, Stale, ViewStateDamaged,
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
    except VIEW_FAULTS:
        return None
