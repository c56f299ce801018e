"""Move a ledger between databases: ``custody copy --from DB --to DB``."""

from __future__ import annotations

from contextlib import closing
from typing import Callable

from ledger.application.custody import open_ledger
from ledger.application.faults import storage_errors
from ledger.core.errors import InputError, StorageError
from ledger.storage.backend import select_backend
from ledger.storage.copy import CopyReport, copy_rows
from ledger.storage.tables import count


def copy_ledger(source: str, target: str,
                progress: Callable[[int], None] = lambda n: None,
                total: Callable[[int], None] = lambda n: None) -> CopyReport:
    """Copy the ledger at ``source`` into the empty database ``target`` and prove the copy
    identical, event hash for event hash. ``total`` hears the event count before the copy
    starts; ``progress`` hears each page's size as it is written."""
    if select_backend(source).label == select_backend(target).label:
        raise InputError("--from and --to name the same database")
    with closing(open_ledger(source)) as origin:
        origin.ledger()  # refuse a database that holds no ledger, before creating the target
        with closing(open_ledger(target, create=True)) as copy:
            # One transaction: whatever failed, the target holds no event of the copy.
            with storage_errors(copy.backend, f"cannot copy {origin.backend.label} to "
                                f"{copy.backend.label}", writing=True):
                total(count(origin.recorder))
                return copy_rows(origin.recorder, copy.recorder, origin.backend.label,
                                 copy.backend.label, progress)


def build_view(target: str, progress: Callable[[int], None] = lambda n: None,
               total: Callable[[int], None] = lambda n: None) -> tuple[int, int]:
    """Fold the log of the copy at ``target`` into its own view, so that its first read
    answers at once instead of folding every event; return (events folded, view position).

    Rebuilt from the copied events rather than copied from the source's view: the view
    records log positions, and the copy numbers them afresh (a PostgreSQL source's gaps
    closed); a source's damaged or stale view is not carried either. Run once the copy has
    committed and been proved identical: a failure here raises StorageError and leaves the
    copy as it is (the next read, or ``projections rebuild``, builds the view instead)."""
    from ledger.projections import access  # the view's code only once the copy stands

    with closing(open_ledger(target)) as copy:
        label = copy.backend.label
        with storage_errors(copy.backend, f"cannot build the view in {label}", writing=True):
            total(copy.last_position() or 0)
            try:
                folded = access.rebuild(copy, progress=progress)
            except access.StaleView:
                raise StorageError(f"cannot build the view in {label}: another command "
                                   "kept moving it") from None
            return folded, access.writable_view(copy).position() or 0
