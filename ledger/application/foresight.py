"""What ``custody verify`` will report at a new step's position, said before it is written.

The recorder judges a step against the streams its rules read (``CustodyLedger.state``) and
refuses it on any error. Some findings at a step's position depend on the whole ledger
instead: where everyone who signs it signed last (``PRESENCE_CONFLICT``), how many lots a
secure room holds and whether a duty gap is already open (``DUTY_UNCOVERED``). The view
keeps the whole fold (``LedgerState``) saved at its position, and every writing command
brings it up to the log's head; so the step is judged once more against that fold, brought
up to exactly the head the step is judged at. Its findings there are, finding for finding,
what ``verify`` will report at the step's position (on a ledger the recorder wrote: the view
takes signatures as the recorder checked them).

The view is a convenience, never a gate: a view that cannot be brought to that head (another
writer moved it on, a database error) leaves the recorder's own warnings, and nothing is
refused for it.
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
from ledger.projections.view import Stale

# (body, signatures, event hash, log position) of each event of one append, in order.
Batch = Sequence[tuple[Mapping[str, Any], Mapping[str, bytes], str, int]]
_VIEW_FAULTS = (LedgerError, PersistenceError, sqlite3.Error, Stale, ViewStateDamaged)


def foresee(app: Any, head: int, recorded_at: str, batch: Batch, *,
            writable: bool = True) -> list[list[Finding]] | None:
    """The findings each event of ``batch`` gets when folded, after the log's events up to
    position ``head``, into the view's saved fold; None when the view cannot stand at
    ``head``. ``writable``: the view may be caught up (a writing command); otherwise only a
    stored view already at ``head`` is used."""
    try:
        if writable:
            view = access.writable_view(app)
            catch_up(view, app.recorder, until=head)
        else:
            view = access.stored_view(app)
            if view is None or not view.current():
                return None
        if (view.position() or 0) != head:
            return None
        state = CustodyProjection(view).state
        return [state.apply(Event(position, body, signatures, event_hash, recorded_at),
                            ALL_VALID)
                for body, signatures, event_hash, position in batch]
    except _VIEW_FAULTS:
        return None
