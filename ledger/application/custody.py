"""CustodyLedger: the eventsourcing Application that records signed, hash-chained steps.

Every write follows one path — build the body, sign it, ``submit`` — and ``submit`` judges the
event against the ledger's state at the log's head (``LedgerState``, the one fold the verifier
also uses), then appends it on condition that the head has not moved. A step with error
findings is refused and nothing is written; the library's optimistic concurrency control
refuses a second writer of the same step; a writer that lost the race for the head judges
again. A judgement starts from the view's saved fold of the whole log, brought up to the
log's head and checked against the stored rows of the streams the step reads
(``standing``); nothing else is kept between commands.

The class is assembled from one layer per job, each using the ones below it:

- ``reading``: every question answered by the one fold, and the stored events themselves;
- ``standing``: the state a step is judged against (the view's saved fold, or the log's);
- ``submitting``: the one write path (``submit_all``) and its receipts;
- ``recording``: drafting a co-signed step, signing it, recording it;
- ``authority``: the commands only an authority signs.

A database failure in any of them is reported as ``faults.storage_errors`` says.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from eventsourcing.application import Application

from ledger.application.authority import Authorities, AuthorityCommands, genesis_witnesses
from ledger.application.faults import storage_errors
from ledger.application.reading import LedgerView, LotView, referenced
from ledger.application.submitting import Clock, Receipt
from ledger.core.errors import StorageError
from ledger.core.text import Message
from ledger.storage.backend import (
    Backend,
    check_holds_ledger,
    check_reachable,
    select_backend,
)

__all__ = ["Authorities", "Clock", "CustodyLedger", "LedgerView", "LotView", "Receipt",
           "genesis_witnesses", "open_ledger", "referenced", "system_clock"]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


class CustodyLedger(AuthorityCommands, Application[str]):
    name = "custody"

    def __init__(self, backend: Backend, clock: Clock = system_clock, *,
                 new: bool = False) -> None:
        self.backend = backend
        self.clock = clock
        # Called with the receipts of every append, after it committed (the CLI signs a
        # checkpoint and writes a tlog-proof receipt there).
        # (Given the ledger, so a hook need not hold it: no cycle keeps the database open.)
        self.after_append: Callable[[CustodyLedger, list[Receipt]], None] | None = None
        check_reachable(backend)
        if not new:  # only init makes a ledger: a database that holds none is left as it is
            check_holds_ledger(backend, postgres_table=f"{self.name}_events")
        with storage_errors(backend, f"cannot open ledger database {backend.label}"):
            super().__init__(env=backend.env)


def open_ledger(db: str | None, *, create: bool = False, read_only: bool = False,
                clock: Clock = system_clock) -> CustodyLedger:
    """Open the ledger at ``db`` (path or postgresql:// URL); refuse a missing SQLite file.

    ``read_only`` (read commands): no table is created and a SQLite file is opened
    read-only. Unless ``create`` (``init``), a database that holds no ledger's table (an
    empty file, another program's database, an empty PostgreSQL database) is refused with a
    StorageError before the library creates a table in it."""
    backend = select_backend(db, read_only=read_only)
    if not create and not backend.exists:
        raise StorageError(Message(
            "no ledger at {db}; run 'custody init' first, or pass --db / set CUSTODY_DB",
            db=backend.label))
    return CustodyLedger(backend, clock, new=create)
