"""The log audit (``log.LogAudit``) of a long verification, run by a process of its own.

The completeness half of verification — the Merkle tree recomputed from every row, the stored
tree read and compared with it, rows held against the witnesses' windows — needs only each
row's event hash, position (and, with witnesses' windows, its recorded_at and stream), in log
order. The main process, which judges and folds the rows, is the serial part of a
verification; :class:`LogHelper` takes the audit off it. The main process hands each page's
event hashes over as one byte string and goes on folding; the helper opens the ledger's file
itself, reads the stored tree as the audit grows, and, at the end, sends the audit back
settled (``StoredTreeAudit.settle``: its last read done), to be judged against the fold's
final state exactly as one run in process is.

The pages are handed over in order, a few at most in flight. The helper sees the same rows,
in the same order, and reads the stored tree in the same pages of read transactions as the
main process would: the findings are the same (``tests/backends/test_stored_tree_audit.py``
and the tamper suite run both ways). A helper that stops is a lost worker
(``BrokenProcessPool``): the run ends with the verifier's ResourceError.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ledger.core.collector import quiet
from ledger.verify.log import LogAudit, StoredTreeAudit

if TYPE_CHECKING:  # the pool is imported only when a long verification starts one
    from concurrent.futures import Future

IN_FLIGHT = 4  # pages handed over and not yet added: a bound on what waits in the queue
HASH = 32

_audit: LogAudit | None = None  # in the helper: the audit it grows


def _start(audit: LogAudit, opener: Callable[[], Any] | None, since: int) -> None:
    global _audit
    quiet()
    if opener is not None:  # the stored tree, read by this process as the audit grows
        audit.stored = StoredTreeAudit.of(opener(), since)
    _audit = audit


def _add_page(hashes: bytes, recorded_ats: Sequence[str | None] | None,
              positions: Sequence[int | None], streams: Sequence[str | None] | None) -> None:
    assert _audit is not None, "the helper's audit is set when it starts"
    _audit.add_page([hashes[at:at + HASH] for at in range(0, len(positions) * HASH, HASH)],
                    recorded_ats, positions, streams)


def _finish(grew: bool) -> LogAudit:
    assert _audit is not None, "the helper's audit is set when it starts"
    if _audit.stored is not None:
        _audit.stored.settle(_audit.size, grew)
    return _audit


class LogHelper:
    """``audit.add_page`` in a helper process (see the module). ``opener`` opens the ledger in
    that process, for the stored tree; None: the audit compares no stored tree (a resumed
    audit proves its prefix instead)."""

    def __init__(self, audit: LogAudit, opener: Callable[[], Any] | None, since: int) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(1, initializer=_start, initargs=(audit, opener, since))
        self._pending: deque[Future[None]] = deque()

    def add_page(self, event_hashes: Sequence[bytes],
                 recorded_ats: Sequence[str | None] | None,
                 positions: Sequence[int | None], streams: Sequence[str | None] | None) -> None:
        """``LogAudit.add_page``, handed to the helper (the event hashes as one byte string)."""
        while len(self._pending) >= IN_FLIGHT:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(_add_page, b"".join(event_hashes), recorded_ats,
                                               positions, streams))

    def finish(self, grew: bool) -> LogAudit:
        """The audit, every page added and its stored tree's last read done (``grew``: the
        log gained events after the run read its end)."""
        while self._pending:
            self._pending.popleft().result()
        return self._pool.submit(_finish, grew).result()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
