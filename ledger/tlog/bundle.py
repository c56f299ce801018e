"""Evidence bundles: the events of some lots, with proofs, in one file anyone can check — pure.

A bundle is one canonical msgpack map (sorted keys, shortest forms, no floats, no extension
types), written by :func:`format_bundle` and read back only by :func:`parse_bundle`::

    {"checkpoint": <signed note bytes: c2sp.org/tlog-checkpoint, with any cosignatures>,
     "events": [{"index": <leaf>, "proof": [<32-byte hash>, ...],
                 "stored": <the event's stored bytes>}, ...],
     "format": "custody-bundle/1",
     "lots": [<lot id>, ...]}

``stored`` is the row exactly as the ledger stores it, so the verifier recomputes the event
hash (the Merkle leaf's data) from it; ``proof`` is the RFC 9162 inclusion proof of leaf
``index`` in the checkpoint's tree. Events are in log order. Every byte is bound by the
checkpoint's signature or a proof, or is structure the parser checks: a bundle carries no log
positions (nothing signed covers them); its findings name position ``index + 1``, which is
the event's log position wherever the log skipped none (SQLite always).

The parser trusts nothing: it bounds the total size before decoding and every string, byte
string and list while decoding (no compression, so there is nothing to inflate), refuses
unknown or missing keys, wrong types, out-of-order or repeated leaves, and any byte string that
is not the one canonical encoding of its value. Everything it refuses is an
:class:`~ledger.core.errors.InputError` naming what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from ledger.core.canonical import ID, MAX_ENCODED
from ledger.core.errors import InputError, NonCanonical
from ledger.tlog.merkle import HASH_SIZE

FORMAT = "custody-bundle/1"
MAX_BUNDLE = 512 << 20  # 512 MiB, checked before anything is decoded
MAX_EVENTS = 4_000_000
MAX_LOTS = 100_000
MAX_PROOF = 64  # hashes: a tree of up to 2**64 leaves
MAX_NOTE = 64 << 10  # a checkpoint note with its cosignatures
MAX_STRING = 256
MAX_MAP = 16  # entries of any map: a bundle's have 4
EVENT_KEYS = ("index", "proof", "stored")
TOP_KEYS = ("checkpoint", "events", "format", "lots")
MAX_INDEX = (1 << 63) - 1  # a leaf index and index + 1 (its position) fit in 64 bits


@dataclass(frozen=True)
class BundledEvent:
    """One stored event with its leaf index and inclusion proof."""

    index: int
    stored: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class Bundle:
    """What a bundle holds: the lots it is about, its events in log order, the checkpoint."""

    lots: tuple[str, ...]
    events: tuple[BundledEvent, ...]
    checkpoint: bytes


def format_bundle(bundle: Bundle) -> bytes:
    """Return the canonical bytes of ``bundle`` (refused if :func:`parse_bundle` would refuse
    them)."""
    value = {
        "checkpoint": bundle.checkpoint,
        "events": [{"index": e.index, "proof": list(e.proof), "stored": e.stored}
                   for e in bundle.events],
        "format": FORMAT,
        "lots": list(bundle.lots),
    }
    data: bytes = msgpack.packb(value, use_bin_type=True)
    if len(data) > MAX_BUNDLE:
        raise InputError(f"the bundle would be {len(data)} bytes, over the {MAX_BUNDLE} byte "
                         "limit; export fewer lots")
    parse_bundle(data)  # what we write, we can read
    return data


def parse_bundle(data: bytes) -> Bundle:
    """Parse bundle bytes; raise :class:`InputError` (or :class:`NonCanonical`) for anything
    :func:`format_bundle` would not have written."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError("a bundle is bytes")
    data = bytes(data)
    if len(data) > MAX_BUNDLE:
        raise InputError(f"the bundle is {len(data)} bytes, over the {MAX_BUNDLE} byte limit")
    if not data:
        raise InputError("the bundle is empty")
    try:
        value = msgpack.unpackb(
            data, raw=False, use_list=True, strict_map_key=True, ext_hook=_no_extension,
            max_str_len=MAX_STRING, max_bin_len=max(MAX_ENCODED, MAX_NOTE),
            max_array_len=MAX_EVENTS, max_map_len=MAX_MAP)
    except NonCanonical:
        raise
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise InputError(f"the bundle is not a msgpack value ({_short(exc)}); it is damaged "
                         "or not a bundle") from None
    top = _map(value, TOP_KEYS, "the bundle")
    if top["format"] != FORMAT:
        raise InputError(f"the bundle's format is {_shown(top['format'])}, not {FORMAT!r}; "
                         "not a bundle this version reads")
    checkpoint = _bytes(top["checkpoint"], "the bundle's checkpoint", MAX_NOTE)
    lots = _list(top["lots"], "the bundle's lots", MAX_LOTS)
    for i, lot in enumerate(lots):
        if not isinstance(lot, str) or not ID.fullmatch(lot):
            raise InputError(f"the bundle's lot {i} is {_shown(lot)}, not a lot id")
    if len(set(lots)) != len(lots) or lots != sorted(lots):
        raise NonCanonical("the bundle's lots are not sorted and distinct")
    events = [_event(item, i) for i, item in enumerate(_list(top["events"], "the bundle's "
                                                             "events", MAX_EVENTS))]
    for before, after in zip(events, events[1:]):
        if after.index <= before.index:
            raise InputError(f"the bundle's events are not in log order: leaf {after.index} "
                             f"follows leaf {before.index}; an event is repeated or moved")
    # Shortest forms, keys in order, nothing repeated: the value packed again is the input.
    if msgpack.packb(value, use_bin_type=True) != data:
        raise NonCanonical("the bundle's bytes are not the canonical encoding of its value")
    return Bundle(tuple(lots), tuple(events), checkpoint)


def _event(item: Any, i: int) -> BundledEvent:
    what = f"the bundle's event {i}"
    event = _map(item, EVENT_KEYS, what)
    index = event["index"]
    if not _integer(index) or not 0 <= index < MAX_INDEX:
        raise InputError(f"{what}: index {_shown(index)} is not a leaf index")
    proof = _list(event["proof"], f"{what}'s proof", MAX_PROOF)
    for h in proof:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise InputError(f"{what}'s proof holds a {_shown(h)}, not a {HASH_SIZE}-byte hash")
    stored = _bytes(event["stored"], f"{what}'s stored bytes", MAX_ENCODED)
    return BundledEvent(index, stored, tuple(proof))


def _map(value: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{what} is a {type(value).__name__}, not a map")
    found = list(value)
    if sorted(found) != list(keys):
        unknown = sorted(set(found) - set(keys))
        missing = sorted(set(keys) - set(found))
        raise InputError(f"{what} has unknown fields {unknown} and lacks {missing}"
                         if unknown and missing else
                         f"{what} has unknown fields {unknown}" if unknown else
                         f"{what} lacks the fields {missing}")
    if found != list(keys):
        raise NonCanonical(f"{what}'s keys are not in canonical order")
    return value


def _list(value: Any, what: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise InputError(f"{what} is a {type(value).__name__}, not a list")
    if len(value) > limit:
        raise InputError(f"{what} has {len(value)} entries, over the limit of {limit}")
    return value


def _bytes(value: Any, what: str, limit: int) -> bytes:
    if not isinstance(value, bytes):
        raise InputError(f"{what} is a {type(value).__name__}, not bytes")
    if len(value) > limit:
        raise InputError(f"{what} is {len(value)} bytes, over the limit of {limit}")
    return value


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _no_extension(code: int, data: bytes) -> Any:
    raise NonCanonical(f"the bundle holds a msgpack extension (type {code}); bundles hold none")


def _shown(value: Any) -> str:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return repr(value)[:40]
    return f"{type(value).__name__}"


def _short(exc: Exception) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:80]
