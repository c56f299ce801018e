"""``custody history LOT`` from the view: which steps to show, found in ``view_steps``.

The view is the index: the lot's own steps and, while it was packed, its container's steps
(containers inside containers nest), chosen by log position by the one rule of
``ledger.core.packing`` — the steps ``status`` and ``verify`` judged the lot by. The steps
themselves are then read from the log by position (its primary key) and checked as
``CustodyLedger.stream_events`` checks a stream's, so the output — every signed field, the
markings, the recorded time and hash — is the log's own. ``CustodyLedger.lot_history`` gives
the same answer from the log alone (tested).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ledger.core.packing import OwnStep, lot_steps
from ledger.projections import queries
from ledger.projections.view import ViewStore

# (position, stream, hash of the step before or None) -> the checked stored events
Read = Callable[[Sequence[tuple[int, str, str | None]]], list[Any]]


def known(view: ViewStore, lot_id: str) -> bool:
    """Whether the view holds any step of ``lot_id``'s stream (damaged ones included)."""
    return bool(view.query("SELECT 1 FROM view_steps WHERE stream = ? LIMIT 1",
                           [f"lot:{lot_id}"]))


def lot_history(view: ViewStore, read: Read, lot_id: str) -> list[tuple[Any, str | None]]:
    """The steps of a lot in log order, each with the container whose step it was (None:
    the lot's own), as ``CustodyLedger.lot_history`` gives them, found through the view.
    A row the view could not decode (type "") is read all the same, so that it ends the
    answer with the log's own error."""
    chained: dict[int, tuple[str, str | None]] = {}  # position -> (stream, hash before it)

    def steps_of(lot: str) -> list[OwnStep]:
        rows = queries.lot_steps_of(view, lot)
        # Each row must follow the one before it in the stream, as when the stream is read
        # whole: a copied or repeated row does not, and ends the answer with an error.
        before: str | None = None
        for row in rows:
            chained[row.position] = (row.stream, before)
            # The view keeps the hash's bytes; anything else (an edited row) matches no step.
            hashed = row.event_hash
            before = hashed.hex() if isinstance(hashed, bytes) else str(hashed)
        return queries.packing_steps(rows)

    chosen = lot_steps(lot_id, steps_of)
    events = read([(position, *chained[position]) for position, _ in chosen])
    return [(event, via) for event, (_, via) in zip(events, chosen)]
