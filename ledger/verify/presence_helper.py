"""Impossible presence (``whereabouts.Presence``) of a long verification, judged by a process of
its own.

Where each signer was is judged last in a step's judgement, and nothing else in the fold reads
it: not the custody rules, not the trust state, not the rooms' duty coverage. So the main
process, the serial part of a verification, need not judge it itself.

:class:`PresenceFeed` takes the place of the fold's :class:`Presence`. It notes, in log order,
each room and site registered and each step that places its signers (a few strings, and the
body only of a duty shift), and hands a page's worth to the helper when the page has been
folded: the steps packed with msgspec, between the few registrations (packing them costs this
process a third of what pickling them did). The helper holds the real :class:`Presence` —
everyone's whereabouts and the registered places — and judges the page while the main process
folds the next; it sends back only the findings, by position (there are few). The main process
reports a page once the helper has judged it, each step's PRESENCE_CONFLICTs after its other
findings, exactly where judging in process puts them. At the end it takes the whereabouts back
into the fold's state (a saved audit state keeps them).

A helper that stops is a lost worker (``BrokenProcessPool``): the run ends with the verifier's
ResourceError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, MutableMapping

import msgspec

from ledger.core.collector import quiet
from ledger.core.custody import RoomState
from ledger.core.findings import Finding
from ledger.core.kinds import DUTY_SHIFTS
from ledger.core.places import SiteState
from ledger.core.whereabouts import Here, Presence, Whereabouts

if TYPE_CHECKING:  # the pool is imported only when a long verification starts one
    from concurrent.futures import Future

# What the feed hands over, in log order: a room or a site registered, or steps in a row,
# packed: each (people, here, the body of a duty shift or None, the window).
Item = tuple[str, Any]
_pack = msgspec.msgpack.Encoder()
_unpack = msgspec.msgpack.Decoder()

_presence: Presence | None = None  # in the helper: the one judge


def _start(whereabouts: dict[str, Whereabouts], rooms: dict[str, RoomState],
           sites: dict[str, SiteState]) -> None:
    global _presence
    quiet()
    _presence = Presence(whereabouts, rooms, sites)


def _judge(items: list[Item]) -> dict[int, list[Finding]]:
    """The findings of a page's steps, by position (only the steps that have any)."""
    assert _presence is not None, "the helper's judge is set when it starts"
    found: dict[int, list[Finding]] = {}
    for kind, item in items:
        if kind == "steps":
            for people, here, body, window in _unpack.decode(item):
                findings = _presence.step(people, here, body or {"type": here[2]}, window)
                if findings:
                    found[here[0]] = findings
        elif kind == "room":
            _presence.room(item)
        else:
            _presence.site(item)
    return found


def _whereabouts() -> dict[str, Whereabouts]:
    assert _presence is not None, "the helper's judge is set when it starts"
    return dict(_presence.whereabouts)


class PresenceFeed(Presence):
    """The fold's :class:`Presence`, judged in a helper process (see the module). Started
    from the fold's whereabouts, rooms and sites as they stand (an audit resumed from a saved
    state has some)."""

    def __init__(self, whereabouts: MutableMapping[str, Whereabouts],
                 rooms: MutableMapping[str, RoomState],
                 sites: MutableMapping[str, SiteState]) -> None:
        from concurrent.futures import ProcessPoolExecutor

        super().__init__(whereabouts, rooms, sites)
        self._items: list[Item] = []
        self._steps: list[tuple[Any, ...]] = []  # noted since the last item
        self._pool = ProcessPoolExecutor(1, initializer=_start, initargs=(
            dict(whereabouts), dict(rooms), dict(sites)))

    def room(self, room: RoomState) -> None:
        super().room(room)  # into the fold's own map, which its custody rules read
        self._note(("room", room))

    def site(self, site: SiteState) -> None:
        super().site(site)
        self._note(("site", site))

    def step(self, people: list[str], here: Here, body: Mapping[str, Any],
             window: int) -> list[Finding]:
        """Noted for the helper; its findings come from :meth:`hand_over`'s result."""
        self._steps.append((people, here, body if body["type"] in DUTY_SHIFTS else None,
                            window))
        return []

    def _note(self, item: Item | None) -> None:
        if self._steps:
            self._items.append(("steps", _pack.encode(self._steps)))
            self._steps = []
        if item is not None:
            self._items.append(item)

    def hand_over(self) -> Future[dict[int, list[Finding]]]:
        """What was noted since the last call, handed to the helper: the future of its
        findings by position."""
        self._note(None)
        items, self._items = self._items, []
        return self._pool.submit(_judge, items)

    def finish(self) -> None:
        """Take the whereabouts back into the fold's map, everything handed over judged."""
        assert not self._items and not self._steps, "every page is handed over before the end"
        whereabouts = self._pool.submit(_whereabouts).result()
        self.whereabouts.clear()
        self.whereabouts.update(whereabouts)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
