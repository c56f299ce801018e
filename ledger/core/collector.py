"""A long fold's process: the cyclic garbage collector's pace, and its helpers' Ctrl-C.

Python's cyclic collector runs a young collection every 700 net allocations and, every
hundredth of those, a full one that walks every live container object. A fold of a whole log
(``verify``, a rebuild of the view) allocates a few hundred objects an event, nearly all freed
by reference counting alone, while it keeps a large, long-lived state (lots, heads, people's
whereabouts, caches): so full collections ran every few thousand events, walked that state
each time, and found nothing to free. On a season's 1M events: 203 full collections, 5
objects collected in all, and a third of the main process's CPU (``bench/RESULTS.md``).

:func:`long_fold` spaces the collections out for the duration of such a fold, then restores
the pace it found; collections still happen, so a cycle made by accident is still freed.

A long fold hands work to helper processes (the verifier's log audit, the view's row stage and
page writer); each starts with :func:`quiet`.
"""

from __future__ import annotations

import gc
import signal
from contextlib import contextmanager
from typing import Iterator

# A young collection every 50,000 net allocations of container objects (not 700), a middle
# one every 50 of those, a full one every 100 middle ones. Net: what a fold makes and frees
# again does not count, so a fold that makes no garbage cycles seldom reaches even a young
# collection, and one that does still has them freed.
LONG_FOLD = (50_000, 50, 100)


@contextmanager
def long_fold() -> Iterator[None]:
    """Run the body with the collector at :data:`LONG_FOLD`'s pace; restore it after. Also a
    decorator (``@long_fold()``), for a function that is such a fold."""
    before = gc.get_threshold()
    gc.set_threshold(*LONG_FOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def quiet() -> None:
    """A helper process's start: Ctrl-C reaches the whole foreground process group, and the
    folding process alone answers it, stopping its helpers once the work in hand is done; a
    helper that took it too would print its own traceback and could leave its work half done."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
