"""The projection's saved fold state in ``view_fold``, through the one state codec.

The view keeps the ``LedgerState`` it folded up to its position, so a catch-up folds only
the events after it. It is saved as ``custody verify --state`` saves it, by
``ledger.core.state_codec``: every attribute that codec names (``SAVED``), each map in the
order it iterates, so a fold resumed from the view is the fold of the whole log. The rows
(key → bytes):

- ``state``: the scalars and the closed duty gaps (``state_codec.SMALL``) as the codec's
  records, each framed by its length (4 bytes, big-endian, as ``verify --state`` frames
  them), read by every catch-up;
- ``SECTION|KEY`` for each keyed section (``state_codec.PER_STREAM``: the roster, key owners,
  rooms, sites, lots, heads, lots in rooms, rooms' duty coverage, people's whereabouts):
  one entry, read only when an event touches it;
- ``flags|STREAM``: the view's own counts of a lot's findings, acknowledged violations and
  corrections (not the fold's), as a JSON list;
- ``time_zone`` (``current.genesis_time_zone``), as JSON: a quick answer reads it alone.

Records and entries are canonical msgpack, kept as they are (as text, base64, they took a
third more room). These rows live in the ledger's database, which anyone with write access
can edit: they are decoded strictly (every field checked by type, never unpickled), so an
edited row can at worst make the view wrong (``verify --projections`` reports that), and one
that does not decode raises :class:`ViewStateDamaged`, naming the row.
"""

from __future__ import annotations

import json
from typing import Any, MutableMapping

from ledger.core import state_codec
from ledger.core.state import LedgerState
from ledger.core.state_codec import StateDamaged
from ledger.projections.view import ViewStore

STATE = "state"  # the view_fold key of the scalars and the small sections
FLAGS = "flags"  # the view's own per-lot counts: not a part of the fold
_REMEDY = "run 'custody projections rebuild'"


class ViewStateDamaged(StateDamaged):
    """The view's saved fold state does not decode into a ``LedgerState``."""


def _bytes(value: Any, key: str) -> bytes:
    if not isinstance(value, (bytes, memoryview)):  # text typed into the row, say
        raise ViewStateDamaged(f"the view's saved fold row {key!r} holds a "
                               f"{type(value).__name__}, not bytes; {_REMEDY}")
    return bytes(value)


def dumps_state(state: LedgerState) -> bytes:
    """The ``state`` row of ``state``: its scalars and small sections, as framed records."""
    records = state_codec.state_records(state, sections=state_codec.SMALL)
    return b"".join(len(record).to_bytes(4, "big") + record for record in records)


def _records(data: bytes) -> list[bytes]:
    """The records ``dumps_state`` framed, each whole (else ``StateDamaged``)."""
    records, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        at += 4
        if at + size > len(data):  # a length cut short, or more than the bytes left
            raise StateDamaged("its last record is cut short")
        records.append(data[at:at + size])
        at += size
    return records


def saved_state(view: ViewStore, **maps: MutableMapping[str, Any]) -> LedgerState | None:
    """The fold the view saved (None: nothing folded yet), its per-stream sections in
    ``maps`` (empty, or maps that read ``view_fold`` on first use: ``FoldMap``)."""
    saved = view.fold_get([STATE]).get(STATE)
    if saved is None:
        return None
    try:
        reader = state_codec.StateReader(**maps)
        for record in _records(_bytes(saved, STATE)):
            reader.add(record)
        return reader.finish()
    except ViewStateDamaged:
        raise
    except (StateDamaged, ValueError) as exc:
        raise ViewStateDamaged(f"the view's saved fold state does not decode ({exc}); "
                               f"{_REMEDY}") from None


def dumps_entry(kind: str, key: str, value: Any) -> bytes:
    """The row of one entry of a per-stream section, or of a lot's ``flags``."""
    if kind == FLAGS:
        return json.dumps(list(value)).encode()
    return state_codec.encode_entry(kind, key, value)


def loads_entry(kind: str, key: str, saved: bytes) -> Any:
    """The value ``dumps_entry`` wrote under ``key``; anything else raises
    :class:`ViewStateDamaged`."""
    row = f"{kind}|{key}"
    try:
        data = _bytes(saved, row)
        if kind == FLAGS:
            counts = json.loads(data)
            if type(counts) is not list or len(counts) != 3 or any(
                    type(n) is not int for n in counts):
                raise StateDamaged("it is not three counts")
            return tuple(counts)
        return state_codec.decode_entry(kind, data)
    except ViewStateDamaged:
        raise
    except (StateDamaged, ValueError) as exc:
        raise ViewStateDamaged(f"the view's saved fold row {row!r} does not decode ({exc}); "
                               f"{_REMEDY}") from None
