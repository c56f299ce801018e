"""Impossible presence (``whereabouts.Presence``) of a long verification, judged by a process of
its own.

Nothing else in the fold reads where each signer was (``ledger.core.presence_notes``), so the
main process, the serial part of a verification, need not judge it itself.
:class:`PresenceFeed` takes the place of the fold's :class:`Presence`: it notes the steps and
registrations (``PresenceNotes``) and hands a page's worth to the helper when the page has
been folded. The helper holds the real :class:`Presence` — everyone's whereabouts and the
registered places — and judges the page while the main process folds the next; it sends
back only the findings, by position (there are few). The main process reports a page once
the helper has judged it, each step's PRESENCE_CONFLICTs after its other findings, exactly
where judging in process puts them. At the end it takes the whereabouts back into the fold's
state (a saved audit state keeps them).

A helper that stops is a lost worker (``BrokenProcessPool``): the run ends with the verifier's
ResourceError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, MutableMapping

from ledger.core.collector import quiet
from ledger.core.custody import RoomState
from ledger.core.findings import Finding
from ledger.core.places import SiteState
from ledger.core.presence_notes import Item, PresenceNotes, judge_notes
from ledger.core.whereabouts import Presence, Whereabouts

if TYPE_CHECKING:  # the pool is imported only when a long verification starts one
    from concurrent.futures import Future

_presence: Presence | None = None  # in the helper: the one judge


def _start(whereabouts: dict[str, Whereabouts], rooms: dict[str, RoomState],
           sites: dict[str, SiteState]) -> None:
    global _presence
    quiet()
    _presence = Presence(whereabouts, rooms, sites)


def _judge(items: list[Item]) -> dict[int, list[Finding]]:
    """The findings of a page's steps, by position (only the steps that have any)."""
    assert _presence is not None, "the helper's judge is set when it starts"
    return judge_notes(_presence, items)


def _whereabouts() -> dict[str, Whereabouts]:
    assert _presence is not None, "the helper's judge is set when it starts"
    return dict(_presence.whereabouts)


class PresenceFeed(PresenceNotes):
    """The fold's :class:`Presence`, judged in a helper process (see the module). Started
    from the fold's whereabouts, rooms and sites as they stand (an audit resumed from a saved
    state has some)."""

    def __init__(self, whereabouts: MutableMapping[str, Whereabouts],
                 rooms: MutableMapping[str, RoomState],
                 sites: MutableMapping[str, SiteState]) -> None:
        from concurrent.futures import ProcessPoolExecutor

        super().__init__(whereabouts, rooms, sites)
        self._pool = ProcessPoolExecutor(1, initializer=_start, initargs=(
            dict(whereabouts), dict(rooms), dict(sites)))

    def hand_over(self) -> Future[dict[int, list[Finding]]]:
        """What was noted since the last call, handed to the helper: the future of its
        findings by position."""
        return self._pool.submit(_judge, self.take())

    def finish(self) -> None:
        """Take the whereabouts back into the fold's map, everything handed over judged."""
        assert not self.pending(), "every page is handed over before the end"
        whereabouts = self._pool.submit(_whereabouts).result()
        self.whereabouts.clear()
        self.whereabouts.update(whereabouts)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
