"""Which steps are a packed lot's: the one rule every reader of a lot's history follows.

A lot packed into a container (``lot.packed``) takes no steps of its own until it is
unpacked (``lot.unpacked``): it moves with the container. Its history is therefore its own
steps and, while it was packed, the container's — and, if the container was itself packed,
the outer container's, and so on.

"While it was packed" is decided by **log position**, as the fold decides who holds a packed
lot (``custody.holder``): a container step recorded after the lot's packing and before its
unpacking is the lot's step, whatever time the step says it occurred. So ``history``,
``replay``, the timelines, the report and the bundle show the steps ``status`` and
``verify`` judged the lot by, even when a step was recorded late.

Pure data and functions: callers pass each lot's own steps as (position, type, container
named by a ``lot.packed``), from the log or from the view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

# (log position, event type, the container a lot.packed names — else None)
OwnStep = tuple[int, str, "str | None"]


@dataclass(frozen=True)
class Packing:
    """A stretch of the log in which a lot lay in ``container``: after its ``lot.packed``
    (at ``packed``), before its ``lot.unpacked`` (at ``unpacked``; None: still packed)."""

    container: str
    packed: int
    unpacked: int | None = None

    def holds(self, position: int) -> bool:
        """Whether the step at ``position`` was taken while the lot lay in the container."""
        return self.packed < position and (self.unpacked is None or position < self.unpacked)


def packings(own: Iterable[OwnStep]) -> list[Packing]:
    """The stretches a lot lay in a container, from its own steps in log order."""
    out: list[Packing] = []
    for position, event_type, container in own:
        if event_type == "lot.packed" and container and (not out or out[-1].unpacked is not None):
            out.append(Packing(container, position))
        elif event_type == "lot.unpacked" and out and out[-1].unpacked is None:
            out[-1] = Packing(out[-1].container, out[-1].packed, position)
    return out


def lot_steps(lot_id: str, steps_of: Callable[[str], Sequence[OwnStep]]
              ) -> list[tuple[int, str | None]]:
    """The positions of ``lot_id``'s steps in log order, each with the container whose step it
    is (None: the lot's own). ``steps_of(lot)``: a lot's own steps in log order. Containers in
    containers nest; a container found inside itself (which ``verify`` reports) ends the
    nesting there."""
    return sorted(_walk(lot_id, steps_of, frozenset({lot_id})))


def _walk(lot_id: str, steps_of: Callable[[str], Sequence[OwnStep]], within: frozenset[str]
          ) -> list[tuple[int, str | None]]:
    own = steps_of(lot_id)
    out: list[tuple[int, str | None]] = [(position, None) for position, _, _ in own]
    for packing in packings(own):
        if packing.container in within:
            continue
        out += [(position, via or packing.container)
                for position, via in _walk(packing.container, steps_of,
                                           within | {packing.container})
                if packing.holds(position)]
    return out
