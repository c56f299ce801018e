"""Move a ledger between databases: ``custody copy --from DB --to DB``."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Callable

from eventsourcing.persistence import PersistenceError

from ledger.application.custody import open_ledger
from ledger.core.errors import InputError, StorageError
from ledger.storage.backend import select_backend
from ledger.storage.copy import CopyReport, copy_rows
from ledger.storage.faults import describe
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
            try:
                total(count(origin.recorder))
                return copy_rows(origin.recorder, copy.recorder, origin.backend.label,
                                 copy.backend.label, progress)
            except (sqlite3.DatabaseError, PersistenceError) as exc:
                # One transaction: whatever failed, the target holds no event of the copy.
                raise StorageError(f"cannot copy {origin.backend.label} to "
                                   f"{copy.backend.label}: "
                                   f"{describe(exc, copy.backend, writing=True)}") from None
