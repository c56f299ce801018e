"""Copy a ledger's stored rows from one database to another (SQLite or PostgreSQL, either
way), in position order, in one transaction; then prove the copy identical.

The rows are copied as stored bytes, never decoded and re-encoded, so every event hash and
signature carries over. Positions are the target's own (SQLite's rowid, PostgreSQL's
sequence), numbered 1, 2, 3, ... in the source's order: a PostgreSQL source may have skipped
numbers after a rolled-back write, and a copy does not reproduce the gaps.

The Merkle tree is rebuilt from the copied bytes in the same transaction (leaves are dense,
so the tree, and every root, is the source's whatever the positions), and the stored
checkpoints are copied as stored, with their cosignatures and in their order: the copy
verifies against the same checkpoints, and proofs and receipts from either agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from eventsourcing.persistence import ApplicationRecorder, StoredEvent

from ledger.core import digests
from ledger.tlog import merkle
from ledger.core.errors import InputError, VerificationFailed
from ledger.storage.tables import count, is_postgres, table

PAGE = 1000


@dataclass(frozen=True)
class CopyReport:
    """What was copied: how many events, the last event's hash, one digest over every
    event hash in order (equal on both sides, or the copy is refused), the tree's root and
    how many checkpoints."""

    events: int
    last_event_hash: str
    log_digest: str
    renumbered: bool  # some positions differ from the source's (its gaps were closed)
    checkpoints: int = 0  # stored checkpoints (with their cosignatures) copied
    root: str = ""  # the Merkle tree root of the events copied (RFC 9162), hex


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
        # The Merkle tree, rebuilt from the copied bytes in the same transaction (same
        # events in the same order: the same tree, whatever the positions), and the stored
        # checkpoints as signed and cosigned, in their order.
        target_tree: Any = target.tree  # type: ignore[attr-defined]
        target_tree.backfill(cursor)
        notes = _checkpoints(source)
        for size, note in notes:
            target_tree.insert_checkpoint(cursor, size, note)
    report = compare(source, target, source_label, target_label)
    _compare_tree(target, source_label, target_label, report, notes)
    return replace(report, checkpoints=len(notes))


def _checkpoints(source: ApplicationRecorder) -> list[tuple[int, bytes]]:
    """The source's stored checkpoints (size, note), oldest first; none before the log."""
    recorder: Any = source
    if not recorder.has_tree():
        return []
    return [(size, note) for _, size, note in recorder.checkpoint_rows()]


def _compare_tree(target: ApplicationRecorder, source_label: str, target_label: str,
                  report: "CopyReport", notes: list[tuple[int, bytes]]) -> None:
    """The copy's stored tree has a leaf per event and the root the events give (the one
    :func:`compare` recomputed), and it holds the source's checkpoints byte for byte; else
    VerificationFailed."""
    theirs: Any = target
    size = theirs.tree_size()
    if size != report.events:
        raise VerificationFailed(f"the copy's Merkle tree in {target_label} has {size} leaves, "
                                 f"not the {report.events} events copied")
    if merkle.tree_hash(size, theirs.tree_hashes).hex() != report.root:
        raise VerificationFailed(f"the copy's Merkle tree in {target_label} does not have the "
                                 f"root {source_label}'s events give")
    if [(s, n) for _, s, n in theirs.checkpoint_rows()] != notes:
        raise VerificationFailed(f"the checkpoints stored in {target_label} differ from "
                                 f"those of {source_label}")


def compare(source: ApplicationRecorder, target: ApplicationRecorder, source_label: str,
            target_label: str) -> CopyReport:
    """Walk both logs in position order; raise VerificationFailed at the first difference."""
    digest = hashlib.sha256()
    tree = merkle.CompactRange()  # the root the events give, for the copy's stored tree
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
        tree.append(merkle.leaf_hash(expected))
        last = expected.hex()
        renumbered = renumbered or mine.id != copied.id
    if next(theirs, None) is not None:
        raise VerificationFailed(f"the copy in {target_label} has more than the {events} "
                                 f"events of {source_label}")
    return CopyReport(events, last, digest.hexdigest(), renumbered, root=tree.root().hex())


def _insert(target: ApplicationRecorder, cursor: Any, page: list[StoredEvent],
            postgres: bool) -> None:
    # The recorders' own INSERTs, on this one cursor: one transaction for the whole copy, so
    # an interrupted copy leaves the target empty rather than half a ledger.
    if postgres:
        target._insert_stored_events(cursor, page)  # type: ignore[attr-defined]
    else:
        target._insert_events(cursor, page)  # type: ignore[attr-defined]
