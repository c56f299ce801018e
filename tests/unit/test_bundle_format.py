"""The bundle parser (``ledger.tlog.bundle``) accepts only what ``format_bundle`` writes."""

from __future__ import annotations

import hashlib

import msgpack
import pytest

from ledger.tlog import bundle as fmt
from ledger.core.errors import InputError, NonCanonical

HASH = hashlib.sha256(b"x").digest()


def sample() -> fmt.Bundle:
    events = (fmt.BundledEvent(0, b"\x81\xa1a\x01", (HASH,)),
              fmt.BundledEvent(5, b"stored bytes", (HASH, HASH)))
    return fmt.Bundle(("LOT-1", "LOT-2"), events, b"origin\n1\nroot\n\n\xe2\x80\x94 sig\n")


def value() -> dict:
    return msgpack.unpackb(fmt.format_bundle(sample()), raw=False)


def test_what_format_writes_parse_reads_back() -> None:
    assert fmt.parse_bundle(fmt.format_bundle(sample())) == sample()


def test_keys_out_of_order_are_not_canonical() -> None:
    v = value()
    shuffled = {k: v[k] for k in reversed(list(v))}
    with pytest.raises(NonCanonical, match="not in canonical order"):
        fmt.parse_bundle(msgpack.packb(shuffled, use_bin_type=True))


def test_an_integer_in_a_longer_form_than_needed_is_not_canonical() -> None:
    data = fmt.format_bundle(sample())
    # index 5 as uint64 (0xcf + 8 bytes) instead of the positive fixint 0x05
    short = b"\xa5index\x05"
    assert data.count(short) == 1
    longer = data.replace(short, b"\xa5index\xcf" + (5).to_bytes(8, "big"))
    with pytest.raises(NonCanonical, match="not the canonical encoding"):
        fmt.parse_bundle(longer)


def test_a_string_where_bytes_belong_is_refused() -> None:
    v = value()
    v["checkpoint"] = "text"
    with pytest.raises(InputError, match="checkpoint is a str, not bytes"):
        fmt.parse_bundle(msgpack.packb(v, use_bin_type=True))


def test_an_extension_type_is_refused() -> None:
    v = value()
    v["lots"] = [msgpack.ExtType(1, b"2026")]
    with pytest.raises(InputError, match="extension"):
        fmt.parse_bundle(msgpack.packb(v, use_bin_type=True))


def test_floats_and_booleans_are_not_leaf_indexes() -> None:
    for bad in (1.0, True, -1, 1 << 63):
        v = value()
        v["events"][0]["index"] = bad
        with pytest.raises(InputError, match="not a leaf index"):
            fmt.parse_bundle(msgpack.packb(v, use_bin_type=True))


def test_a_proof_longer_than_any_tree_needs_is_refused() -> None:
    v = value()
    v["events"][0]["proof"] = [HASH] * (fmt.MAX_PROOF + 1)
    with pytest.raises(InputError, match="over the limit of 64"):
        fmt.parse_bundle(msgpack.packb(v, use_bin_type=True))


def test_a_long_string_is_refused_while_decoding() -> None:
    v = value()
    v["lots"] = ["L" * (fmt.MAX_STRING + 1)]
    with pytest.raises(InputError, match="not a msgpack value"):
        fmt.parse_bundle(msgpack.packb(v, use_bin_type=True))


def test_a_list_header_claiming_billions_of_entries_allocates_nothing() -> None:
    # array32 header for 2**32-1 entries and nothing behind it
    with pytest.raises(InputError, match="not a msgpack value"):
        fmt.parse_bundle(b"\xdd\xff\xff\xff\xff")


def test_deep_nesting_is_a_one_line_error_not_a_crash() -> None:
    with pytest.raises(InputError):
        fmt.parse_bundle(b"\x91" * 100_000 + b"\x00")


def test_lots_must_be_sorted_and_distinct() -> None:
    for lots in (["LOT-2", "LOT-1"], ["LOT-1", "LOT-1"]):
        v = value()
        v["lots"] = lots
        with pytest.raises(NonCanonical, match="sorted and distinct"):
            fmt.parse_bundle(msgpack.packb(v, use_bin_type=True))


def test_the_size_bound_is_checked_before_decoding(monkeypatch) -> None:
    monkeypatch.setattr(fmt, "MAX_BUNDLE", 10)
    with pytest.raises(InputError, match="over the 10 byte limit"):
        fmt.parse_bundle(b"\x80" * 11)


def test_not_bytes_and_empty_are_refused() -> None:
    with pytest.raises(InputError):
        fmt.parse_bundle("text")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="empty"):
        fmt.parse_bundle(b"")
