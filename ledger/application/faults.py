"""What a failing or damaged store means for a command, said once.

Every read and write of the ledger's database runs inside ``storage_errors``: a driver's
failure becomes one ``StorageError`` saying what could not be done, the driver's reason, its
likely cause and the remedy (``ledger.storage.faults.describe``). A block that rebuilds a
stream's stored rows into events names the stream, and a row that does not rebuild becomes
a ``StorageError`` naming the damaged stream, never a traceback.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator

from eventsourcing.domain import OriginatorIDError, OriginatorVersionError
from eventsourcing.persistence import MapperDeserialisationError, PersistenceError
from eventsourcing.utils import TopicError

from ledger.core.errors import NonCanonical, StorageError
from ledger.storage.backend import Backend
from ledger.storage.faults import describe

# What rebuilding a stream from damaged rows raises: the library's mapper (bytes that do not
# decode, a record without the event's fields), its topic resolution (a class that does not
# exist), its aggregate (versions out of order, a row under another stream id, an assertion
# on the event class), and the folds reading a body that is not what its type says.
DAMAGED_ROWS = (MapperDeserialisationError, TopicError, OriginatorIDError,
                OriginatorVersionError, NonCanonical, AssertionError,
                AttributeError, KeyError, TypeError, ValueError)


@contextmanager
def storage_errors(backend: Backend, failed: str, *, writing: bool = False,
                   rebuilding: str | None = None) -> Iterator[None]:
    """Raise a database failure in the block as a StorageError that begins with ``failed``
    ("cannot read lot:L-1 from ledger.db"); ``writing``: the block writes, and the message
    says whether anything was. ``rebuilding``: the stream whose stored rows the block
    rebuilds into events, so a row that does not rebuild is reported as that stream's
    damage."""
    try:
        yield
    except (sqlite3.DatabaseError, PersistenceError) as exc:
        raise StorageError(f"{failed}: {describe(exc, backend, writing=writing)}") from None
    except DAMAGED_ROWS as exc:
        if rebuilding is None:
            raise
        raise unreadable(rebuilding, exc) from None


def unreadable(stream: str, exc: Exception) -> StorageError:
    """The one-line error for a stream whose stored rows cannot be rebuilt."""
    why = " ".join(str(exc).split())[:200]
    why = f"{type(exc).__name__}: {why}" if why else f"they do not rebuild: {type(exc).__name__}"
    return StorageError(f"stored events of {stream} are damaged ({why}); "
                        "run 'custody verify' for details")
