"""Copy a ledger's stored rows from one database to another (SQLite or PostgreSQL, either
way), in position order, in one transaction; then prove the copy identical.

The rows are copied as stored bytes, never decoded and re-encoded, so every event hash and
signature carries over. Positions are the target's own (SQLite's rowid, PostgreSQL's
sequence), numbered 1, 2, 3, ... in the source's order: a PostgreSQL source may have skipped
numbers after a rolled-back write, and a copy does not reproduce the gaps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from eventsourcing.persistence import ApplicationRecorder, StoredEvent

from ledger.core import digests
from ledger.core.errors import InputError, VerificationFailed
from ledger.storage.tables import count, is_postgres, table

PAGE = 1000


@dataclass(frozen=True)
class CopyReport:
    """What was copied: how many events, the last event's hash, and one digest over every
    event hash in order (equal on both sides, or the copy is refused)."""

    events: int
    last_event_hash: str
    log_digest: str
    renumbered: bool  # some positions differ from the source's (its gaps were closed)


def rows(recorder: ApplicationRecorder) -> Iterator[Any]:
    """Every stored row, in position order, a page at a time."""
    start = 1
    while True:
        page = recorder.select_notifications(start=start, limit=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def copy_rows(source: ApplicationRecorder, target: ApplicationRecorder, source_label: str,
              target_label: str, progress: Callable[[int], None] = lambda n: None) -> CopyReport:
    """Copy every row of ``source`` into the empty ``target`` in one transaction, then compare
    the two row by row: stream, version, topic and stored bytes, hence every event hash."""
    held = count(target)
    if held:
        raise InputError(f"--to {target_label} already holds {held} events; a ledger is "
                         "copied only into an empty database")
    total = count(source)
    if total == 0:
        raise InputError(f"--from {source_label} holds no events; nothing to copy")
    postgres = is_postgres(target)
    with target.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        if postgres:
            target._lock_table(cursor)  # type: ignore[attr-defined]
        # Checked again inside the transaction: another writer may have started meanwhile.
        cursor.execute(f"SELECT count(*) AS n FROM {table(target)}")
        if int(cursor.fetchone()["n"]):
            raise InputError(f"--to {target_label} was written to while the copy began; "
                             "nothing was copied")
        page: list[StoredEvent] = []
        for notification in rows(source):
            page.append(StoredEvent(notification.originator_id, notification.originator_version,
                                    notification.topic, bytes(notification.state)))
            if len(page) == PAGE:
                _insert(target, cursor, page, postgres)
                progress(len(page))
                page = []
        if page:
            _insert(target, cursor, page, postgres)
            progress(len(page))
    return compare(source, target, source_label, target_label)


def compare(source: ApplicationRecorder, target: ApplicationRecorder, source_label: str,
            target_label: str) -> CopyReport:
    """Walk both logs in position order; raise VerificationFailed at the first difference."""
    digest = hashlib.sha256()
    events, last, renumbered = 0, "", False
    theirs = rows(target)
    for mine in rows(source):
        copied = next(theirs, None)
        events += 1
        if copied is None:
            raise VerificationFailed(f"the copy in {target_label} ends after {events - 1} "
                                     f"events; {source_label} has more")
        expected = digests.event_hash_of_bytes(bytes(mine.state))
        found = digests.event_hash_of_bytes(bytes(copied.state))
        same = (str(mine.originator_id), mine.originator_version, mine.topic) == \
            (str(copied.originator_id), copied.originator_version, copied.topic)
        if expected != found or not same:
            raise VerificationFailed(
                f"event {events} differs: {source_label} has {mine.originator_id} "
                f"v{mine.originator_version} hash {expected.hex()[:16]}, {target_label} has "
                f"{copied.originator_id} v{copied.originator_version} hash {found.hex()[:16]}")
        digest.update(expected)
        last = expected.hex()
        renumbered = renumbered or mine.id != copied.id
    if next(theirs, None) is not None:
        raise VerificationFailed(f"the copy in {target_label} has more than the {events} "
                                 f"events of {source_label}")
    return CopyReport(events, last, digest.hexdigest(), renumbered)


def _insert(target: ApplicationRecorder, cursor: Any, page: list[StoredEvent],
            postgres: bool) -> None:
    # The recorders' own INSERTs, on this one cursor: one transaction for the whole copy, so
    # an interrupted copy leaves the target empty rather than half a ledger.
    if postgres:
        target._insert_stored_events(cursor, page)  # type: ignore[attr-defined]
    else:
        target._insert_events(cursor, page)  # type: ignore[attr-defined]
