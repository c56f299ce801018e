"""Impossible presence noted by the fold and judged elsewhere: in a helper process of a long
verification (``ledger.verify.presence_helper``), or by the page writer of a view's rebuild
(``ledger.projections.presence_pages``).

Where each signer was is judged last in a step's judgement, and nothing else in the fold reads
it: not the custody rules, not the trust state, not the rooms' duty coverage. So the process
that folds need not judge it itself. :class:`PresenceNotes` takes the place of the fold's
:class:`Presence`: it notes, in log order, each room and site registered and each step that
places its signers (a few strings, and the body only of a duty shift), and hands them over
with :meth:`PresenceNotes.take` — the steps packed with msgspec, between the few
registrations (packing them costs a third of what pickling them did). :func:`judge_notes`
judges them, in that order, with the real :class:`Presence` that holds everyone's
whereabouts and the registered places, and returns only the findings, by position.
"""

from __future__ import annotations

from typing import Any, Mapping

import msgspec

from ledger.core.custody import RoomState
from ledger.core.findings import Finding
from ledger.core.kinds import DUTY_SHIFTS
from ledger.core.places import SiteState
from ledger.core.whereabouts import Here, Presence

# What the notes hand over, in log order: a room or a site registered, or steps in a row,
# packed: each (people, here, the body of a duty shift or None, the window).
Item = tuple[str, Any]
_pack = msgspec.msgpack.Encoder()
_unpack = msgspec.msgpack.Decoder()


class PresenceNotes(Presence):
    """The fold's :class:`Presence`, noted to be judged elsewhere (see the module). Its rooms
    and sites are the fold's, kept up to date (the custody rules read them); its whereabouts
    are left as they were given."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._items: list[Item] = []
        self._steps: list[tuple[Any, ...]] = []  # noted since the last item

    def room(self, room: RoomState) -> None:
        super().room(room)  # into the fold's own map, which its custody rules read
        self._note(("room", room))

    def site(self, site: SiteState) -> None:
        super().site(site)
        self._note(("site", site))

    def step(self, people: list[str], here: Here, body: Mapping[str, Any],
             window: int) -> list[Finding]:
        """Noted; its findings come from :func:`judge_notes`."""
        self._steps.append((people, here, body if body["type"] in DUTY_SHIFTS else None,
                            window))
        return []

    def _note(self, item: Item | None) -> None:
        if self._steps:
            self._items.append(("steps", _pack.encode(self._steps)))
            self._steps = []
        if item is not None:
            self._items.append(item)

    def take(self) -> list[Item]:
        """Everything noted since the last call, in log order."""
        self._note(None)
        items, self._items = self._items, []
        return items

    def pending(self) -> bool:
        """Whether anything was noted since the last :meth:`take`."""
        return bool(self._items or self._steps)


def judge_notes(presence: Presence, items: list[Item]) -> dict[int, list[Finding]]:
    """The findings of the noted steps, by position (only the steps that have any), judged
    by ``presence`` in log order with the rooms and sites registered between them."""
    found: dict[int, list[Finding]] = {}
    for kind, item in items:
        if kind == "steps":
            for people, here, body, window in _unpack.decode(item):
                findings = presence.step(people, here, body or {"type": here[2]}, window)
                if findings:
                    found[here[0]] = findings
        elif kind == "room":
            presence.room(item)
        else:
            presence.site(item)
    return found
