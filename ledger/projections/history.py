"""``custody history LOT`` from the view: which steps to show, found in ``view_steps``.

The view is the index: the lot's own steps and, while it was packed, its container's steps
(containers inside containers nest), found by stream and time in ``view_steps``, so no
stream is read whole. The steps themselves are then read from the log by position (its
primary key) and checked as ``CustodyLedger.stream_events`` checks a stream's, so the
output — every signed field, the markings, the recorded time and hash — is the log's own.
The rule for which container steps belong to a lot is ``CustodyLedger.lot_history``'s, kept
step for step: an answer from the view equals the one read from the log (tested).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ledger.projections.view import ViewStore

# (position, stream, hash of the step before or None) -> the checked stored events
Read = Callable[[Sequence[tuple[int, str, str | None]]], list[Any]]
Window = tuple[str, str | None]  # (after, up to and including; None: no end)
# Steps read whatever their time: packing decides which container steps belong, and a row
# the view could not decode (type "") must be read so that it ends the answer with an error.
_ALWAYS = frozenset({"lot.packed", "lot.unpacked", ""})


def known(view: ViewStore, lot_id: str) -> bool:
    """Whether the view holds any step of ``lot_id``'s stream (damaged ones included)."""
    return bool(view.query("SELECT 1 FROM view_steps WHERE stream = ? LIMIT 1",
                           [f"lot:{lot_id}"]))


def lot_history(view: ViewStore, read: Read, lot_id: str, *,
                _within: frozenset[str] = frozenset(), _window: Window | None = None
                ) -> list[tuple[Any, str | None]]:
    """The steps of a lot in order, each with the container it was taken in, if any, as
    ``CustodyLedger.lot_history`` gives them, found through the view.

    ``_window``: only steps that occurred in it are wanted by the caller (a container's steps
    while a lot was in it), so only those, and the packing steps, are read from the log."""
    stream = f"lot:{lot_id}"
    rows = view.query("SELECT position, seq, type, occurred_at, event_hash FROM view_steps "
                      "WHERE stream = ? ORDER BY seq, position", [stream])
    # Each row must follow the one before it in the stream, as when the stream is read
    # whole: a copied or repeated row does not, and ends the answer with an error.
    before = [None] + [event_hash for *_, event_hash in rows[:-1]]
    wanted = [(position, stream, prev)
              for (position, _, kind, occurred_at, _), prev in zip(rows, before)
              if _window is None or kind in _ALWAYS or _within_window(occurred_at, _window)]
    out: list[tuple[Any, str | None]] = []
    packed: tuple[str, str] | None = None  # (container id, packed at)
    for event in read(wanted):
        body = event.body
        if packed is not None and body["type"] == "lot.unpacked":
            out += _inside(view, read, *packed, body["occurred_at"], _within | {lot_id},
                           _window)
            packed = None
        out.append((event, None))
        if body["type"] == "lot.packed":
            packed = (body["container"], body["occurred_at"])
    if packed is not None:
        out += _inside(view, read, *packed, None, _within | {lot_id}, _window)
    return out


def _inside(view: ViewStore, read: Read, container: str, since: str, until: str | None,
            within: frozenset[str], window: Window | None) -> list[tuple[Any, str]]:
    if container in within:
        return []  # a container inside itself: the verifier reports it; history stops here
    narrowed = _narrow((since, until), window)
    return [(event, via or container) for event, via in lot_history(
                view, read, container, _within=within, _window=narrowed)
            if _within_window(event.body["occurred_at"], (since, until))]


def _within_window(moment: str, window: Window) -> bool:
    since, until = window
    return since < moment and (until is None or moment <= until)


def _narrow(window: Window, outer: Window | None) -> Window:
    if outer is None:
        return window
    ends = [end for end in (window[1], outer[1]) if end is not None]
    return max(window[0], outer[0]), (min(ends) if ends else None)
