"""A long fold's pages written to the view by a process of its own.

A rebuild of the view (or the first read of a ledger whose view is empty) folds the whole log
a page at a time; writing each page's rows takes about a sixth of its time, on a core the
fold leaves idle. :class:`PageWriter` hands each page to one helper process, packed with
msgspec (``packed``), which writes it with ``ViewStore.write`` (the same transaction: rows,
position, tracking) while this process folds the next page. One page at most is in flight:
the next is handed over only when the one before is written, and whatever reads the view in
between (``settle``) waits for it first, so the fold never reads a view behind its own pages.
A writer that judges presence gets each page with the fold's notes and judges them before it
writes the page (``presence_pages``).

A page the helper could not write because another command moved the view is ``Stale`` here
as it is in process. If the helper stops (killed, out of memory), its page may or may not
have been written: that is ``Stale`` too, so the fold reads the view again and goes on from
where the view stands, writing its pages itself.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable

from ledger.core.collector import quiet
from ledger.projections.view import Batch, Stale, ViewStore

if TYPE_CHECKING:  # the pool is imported only when a long fold starts one: reads start faster
    from concurrent.futures import Future

_view: ViewStore | None = None  # in the helper: the view it writes to
_pages: Any = None  # in the helper: its presence judge (``presence_pages``), if it has one


def _open(opener: Callable[[], ViewStore], judges_presence: bool = False) -> None:
    global _view, _pages
    quiet()
    _view = opener()
    if judges_presence:
        from ledger.projections.presence_pages import PresencePages

        _pages = PresencePages(_view)


def _write(page: bytes, start: int | None, end: int, meta: dict[str, int],
           notes: list[Any] | None = None) -> None:
    assert _view is not None, "the page writer's view is opened when it starts"
    batch = unpacked(page)
    if notes is not None:
        meta = _pages.patch(batch, notes, meta)
    _view.write(batch, start, end, meta)


def packed(batch: Batch) -> bytes:
    """``batch`` as msgpack, to hand to the helper: msgspec encodes a page's hundred thousand
    rows in a third of the time pickling them takes, and the pool then pickles one byte
    string. The rows hold ints, text, bytes and None, which come back as they went."""
    import msgspec

    return msgspec.msgpack.encode((batch.inserts, {table: list(rows.values()) for table, rows
                                                   in batch.upserts.items()}, batch.ended))


def unpacked(page: bytes) -> Batch:
    """The batch ``packed`` made ``page`` of (each row a list, as ``executemany`` takes it)."""
    import msgspec

    inserts, upserts, ended = msgspec.msgpack.decode(page)
    return Batch(inserts, {table: OrderedDict((row[0], row) for row in rows)
                           for table, rows in upserts.items()}, ended)


class PageWriter:
    """Writes pages of the view in a helper process, one at a time (see the module)."""

    def __init__(self, opener: Callable[[], ViewStore], *, judges_presence: bool = False
                 ) -> None:
        from concurrent.futures import ProcessPoolExecutor

        # Judging presence, from an empty view: each page comes with the fold's notes.
        self.judges_presence = judges_presence
        self._pool = ProcessPoolExecutor(1, initializer=_open,
                                         initargs=(opener, judges_presence))
        self._pending: Future[Any] | None = None

    def write(self, batch: Batch, start: int | None, end: int, meta: dict[str, int],
              notes: list[Any] | None = None) -> None:
        """Hand over a page (``ViewStore.write``'s arguments, and the presence ``notes`` of its
        steps if this writer judges presence), once the one before is written."""
        self.settle()
        self._pending = self._pool.submit(_write, packed(batch), start, end, dict(meta), notes)

    def settle(self) -> None:
        """Wait until the page handed over last is written; ``Stale`` if it could not be."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        from concurrent.futures.process import BrokenProcessPool

        try:
            pending.result()
        except BrokenProcessPool:
            raise Stale() from None

    def close(self) -> None:
        """Stop the helper, once the page in flight is written or refused (not reported: a
        fold that ends normally has settled it already)."""
        try:
            self.settle()
        except Exception:  # noqa: BLE001 - the fold is being left for another reason
            pass
        finally:
            self._pool.shutdown(cancel_futures=True)
