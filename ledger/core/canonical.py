"""Canonical msgpack encoding of ledger values, and a decoder that rejects anything else.

The value model is deliberately small: ``None``, ``bool``, ``int`` (-2**63 .. 2**64-1),
``str`` (must be NFC), ``bytes``, ``list`` (tuples encode as lists), ``dict`` with ``str``
keys, and timezone-aware ``datetime`` (the storage envelope's ``recorded_at``). Floats do not
exist. Canonical means:

- map keys sorted by their UTF-8 bytes, no duplicates;
- the shortest msgpack form for every integer, string, binary, array and map header
  (what msgpack-python's packer emits);
- strings valid UTF-8 in Unicode Normalization Form C;
- a ``datetime`` is msgpack extension type 1 holding the fixed-form UTC timestamp text
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (see :func:`format_timestamp`).

:func:`decode` parses, checks the value model (key order, NFC, no floats, depth), re-packs
the value as parsed, and demands the same bytes back, so exactly one byte string decodes to
each value. Key order is checked on the parsed maps, and UTF-8 byte order is code point
order, so plain string comparison decides it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from typing import Any

import msgpack

from ledger.core.errors import InputError, NonCanonical

TIMESTAMP_EXT = 1
MAX_DEPTH = 32
MAX_ENCODED = 1 << 20  # 1 MiB: far above any real event, bounds every decode
INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
# The one spelling of an id (a person, lot, room, site, exam, ledger, witness): 1-64 ASCII
# letters, digits, '.', '_' or '-', beginning with a letter or digit — nothing invisible, no
# ':' (a stream or party prefixes one), no '/'. schemas/common.json's ``id`` is this pattern.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
ID = re.compile(ID_PATTERN, re.ASCII)


def format_timestamp(moment: datetime) -> str:
    """Return the one canonical text of an aware datetime: UTC, microseconds, ``Z``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InputError(f"timestamp {moment.isoformat()} has no UTC offset")
    try:
        utc = moment.astimezone(timezone.utc)
    except OverflowError:
        raise InputError(f"timestamp {moment.isoformat()} lies outside the years 0001-9999 "
                         "in UTC") from None
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_timestamp(text: str) -> datetime:
    """Parse canonical timestamp text; reject every other spelling of the same moment."""
    if not isinstance(text, str) or not _TIMESTAMP.fullmatch(text):
        raise NonCanonical(f"timestamp {text!r} is not in the form YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        moment = datetime.fromisoformat(text)  # the pattern above leaves one form: UTC
    except ValueError as exc:
        raise NonCanonical(f"timestamp {text!r} is not a real moment: {exc}") from None
    return moment


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 time with an explicit offset, as typed by a person."""
    if not isinstance(text, str) or not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})", text
    ):
        raise InputError(
            f"time {text!r} is not RFC 3339 with an offset, e.g. 2026-06-07T08:30:00+08:00"
        )
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        moment.astimezone(timezone.utc)  # years 1..9999 in UTC, or it cannot be stored
    except ValueError as exc:
        raise InputError(f"time {text!r} is not a real moment: {exc}") from None
    except OverflowError:
        raise InputError(f"time {text!r} lies outside the years 0001-9999 in UTC") from None
    return moment


def _prepare(value: Any, depth: int = 0) -> Any:
    """Check the value model and put maps in canonical key order."""
    if depth > MAX_DEPTH:
        raise InputError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise InputError(f"integer {value} is outside the 64-bit range")
        return value
    if isinstance(value, str):
        if not unicodedata.is_normalized("NFC", value):
            raise NonCanonical(f"string {value!r} is not in Unicode NFC form")
        return value
    if isinstance(value, bytes):
        return value
    if isinstance(value, datetime):
        return msgpack.ExtType(TIMESTAMP_EXT, format_timestamp(value).encode("ascii"))
    if isinstance(value, (list, tuple)):
        return [_prepare(item, depth + 1) for item in value]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise InputError(f"map key {key!r} is not a string")
            _prepare(key)
        return {key: _prepare(value[key], depth + 1) for key in sorted(value)}
    raise InputError(f"a {type(value).__name__} cannot be encoded (no floats, no objects)")


def encode(value: Any) -> bytes:
    """Return the canonical msgpack bytes of ``value``."""
    data = msgpack.packb(_prepare(value), use_bin_type=True)
    if len(data) > MAX_ENCODED:
        raise InputError(f"encoded value is {len(data)} bytes, over the {MAX_ENCODED} limit")
    return data


def repack(value: Any) -> bytes:
    """The canonical bytes of a value :func:`decode` returned, or of any part of one.

    Such a value is canonical already (its maps are in key order), so it is packed as it is,
    with no checks: the verifier's signing digest of a stored body, at a fraction of the cost
    of :func:`encode`."""
    return msgpack.packb(value, use_bin_type=True, default=_pack_timestamp)


def _pack_timestamp(value: Any) -> msgpack.ExtType:
    if isinstance(value, datetime):
        return msgpack.ExtType(TIMESTAMP_EXT, format_timestamp(value).encode("ascii"))
    raise NonCanonical(f"a {type(value).__name__} cannot be encoded")


def _ext_hook(code: int, data: bytes) -> datetime:
    if code != TIMESTAMP_EXT:
        raise NonCanonical(f"unknown msgpack extension type {code}")
    try:
        return parse_timestamp(data.decode("ascii"))
    except UnicodeDecodeError:
        raise NonCanonical("timestamp extension is not ASCII") from None


def decode(data: bytes) -> Any:
    """Decode canonical bytes; raise :class:`NonCanonical` for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise NonCanonical(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_ENCODED:
        raise NonCanonical(f"{len(data)} bytes is over the {MAX_ENCODED} limit")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=False,  # checked below with a better message
            ext_hook=_ext_hook,
        )
    except NonCanonical:
        raise
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise NonCanonical(f"not valid msgpack: {exc}") from None
    _check_model(value, 0)
    # Shortest forms, and no key given twice (the parsed map keeps only one): the value
    # packed as parsed must give back the very same bytes.
    if repack(value) != data:
        raise NonCanonical("bytes are not the canonical encoding of their value")
    return value


def _check_model(value: Any, depth: int) -> None:
    """Raise :class:`NonCanonical` unless a parsed value is in the model, maps in key order."""
    if depth > MAX_DEPTH:
        raise NonCanonical(f"value nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if kind is str:
        if not unicodedata.is_normalized("NFC", value):
            raise NonCanonical(f"string {value!r} is not in Unicode NFC form")
    elif kind is dict:
        keys = list(value)
        for key in keys:
            if type(key) is not str:
                raise NonCanonical(f"map key {key!r} is not a string")
            if not unicodedata.is_normalized("NFC", key):
                raise NonCanonical(f"map key {key!r} is not in Unicode NFC form")
        if keys != sorted(keys):
            raise NonCanonical(f"map keys {keys[:8]!r} are not in canonical order")
        for item in value.values():
            _check_model(item, depth + 1)
    elif kind is list:
        for item in value:
            _check_model(item, depth + 1)
    elif kind is float:
        raise NonCanonical("floats are not allowed")
    elif kind not in _LEAVES:  # e.g. msgpack's own Timestamp (extension -1)
        raise NonCanonical(f"a {kind.__name__} is not a ledger value")


_LEAVES = frozenset({int, bool, type(None), bytes, datetime})
