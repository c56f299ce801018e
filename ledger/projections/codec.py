"""The projection's saved fold state as JSON, with an allowlist of the types it may hold.

The view keeps the ``LedgerState`` it folded up to its position in its own table, so a
catch-up folds only the events after it. That table lives in the ledger's database, which
anyone with write access can edit: the state is therefore saved as JSON and read back into
a fixed list of frozen dataclasses by their constructors — never unpickled, so an edited
row can at worst make the view wrong (``verify --projections`` reports that), never run code.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from ledger.core.custody import LotState, RoomState
from ledger.core.duty import Coverage, Gap
from ledger.core.places import SiteState
from ledger.core.keys import PublicKey
from ledger.core.policy import PresencePolicy, Requirement
from ledger.core.roster import Member
from ledger.core.rules import AuthoritySet
from ledger.core.state import Head
from ledger.core.whereabouts import Shift, Sighting, Whereabouts

TYPES: Mapping[str, type] = {cls.__name__: cls for cls in (
    LotState, RoomState, Member, PresencePolicy, Requirement, AuthoritySet, Head,
    Whereabouts, Sighting, Shift, SiteState, Coverage, Gap)}


class ViewStateDamaged(ValueError):
    """The saved fold state does not decode into the types it may hold."""


def _plain(value: Any) -> Any:
    if isinstance(value, PublicKey):
        return {"$key": value.hex}
    if dataclasses.is_dataclass(value) and type(value).__name__ in TYPES:
        return {"$": type(value).__name__,
                **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return {"$tuple": [_plain(v) for v in value]}
    if isinstance(value, frozenset):
        return {"$set": sorted(_plain(v) for v in value)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        # Sorted: the fold builds some maps from sets, whose order differs between processes,
        # and the same state must save as the same text (verify --projections compares it).
        return {"$map": [[_plain(k), _plain(v)] for k, v in sorted(value.items(), key=_key)]}
    if value is None or isinstance(value, (str, int, bool)):
        return value
    raise TypeError(f"the view's state cannot hold a {type(value).__name__}")


def _key(item: tuple[Any, Any]) -> str:
    return repr(item[0])


def _typed(value: Any) -> Any:
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$key" in value:
        return PublicKey.from_hex(value["$key"])
    if "$tuple" in value:
        return tuple(_typed(v) for v in value["$tuple"])
    if "$set" in value:
        return frozenset(_typed(v) for v in value["$set"])
    if "$map" in value:
        return {_typed(k): _typed(v) for k, v in value["$map"]}
    cls = TYPES.get(value.get("$", ""))
    if cls is None:
        raise ViewStateDamaged(f"unknown type {value.get('$')!r} in the view's saved state")
    return cls(**{k: _typed(v) for k, v in value.items() if k != "$"})


def dumps(value: Any) -> str:
    """``value`` (made of the allowed types, tuples, sets, lists, maps and scalars) as JSON."""
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def loads(text: str) -> Any:
    """The value ``dumps`` wrote; anything else raises :class:`ViewStateDamaged`."""
    try:
        return _typed(json.loads(text))
    except ViewStateDamaged:
        raise
    except Exception as exc:  # noqa: BLE001 - any malformed saved state is one kind of damage
        raise ViewStateDamaged(f"the view's saved state does not decode: {exc}") from None
