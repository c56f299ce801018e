from datetime import datetime, timedelta, timezone

import msgpack
import pytest

from ledger.core import canonical
from ledger.core.errors import InputError, NonCanonical


@pytest.mark.parametrize(
    "data, why",
    [
        (msgpack.packb({"b": 1, "a": 2}), "unsorted keys"),
        (b"\x82\xa1a\x01\xa1a\x02", "duplicate keys"),
        (b"\xcc\x01", "non-minimal int"),
        (b"\xd9\x01a", "non-minimal str header"),
        (msgpack.packb(1.5), "float"),
        (msgpack.packb("e\u0301"), "string not NFC"),
        (b"\xc1", "reserved byte"),
        (b"\x92\x01", "truncated array"),
        (b"\x01\x02", "trailing bytes"),
        (msgpack.packb({1: 2}), "non-string key"),
        (msgpack.packb(msgpack.ExtType(5, b"x")), "unknown extension"),
        (msgpack.packb(msgpack.Timestamp(1, 0)), "msgpack's own timestamp"),
        (msgpack.packb({"a": [[[[{"b": 1.5}]]]]}), "nested float"),
        (msgpack.packb({"e\u0301": 1}), "key not NFC"),
        (msgpack.packb(msgpack.ExtType(1, b"2026-01-01T00:00:00Z")), "timestamp without micros"),
        (b"\xa2\xff\xfe", "invalid utf-8"),
    ],
)
def test_decode_rejects_non_canonical_bytes(data, why):
    with pytest.raises(NonCanonical):
        canonical.decode(data)


def test_decode_rejects_oversized_input():
    with pytest.raises(NonCanonical, match="over"):
        canonical.decode(b"\xc4" + b"\x00" * (canonical.MAX_ENCODED + 1))


@pytest.mark.parametrize("value", [1.0, object(), {1: "a"}, 2**64, -(2**63) - 1, "e\u0301"])
def test_encode_refuses_values_outside_the_model(value):
    with pytest.raises(InputError):
        canonical.encode(value)


def test_encode_refuses_deep_nesting():
    value: list = []
    for _ in range(canonical.MAX_DEPTH + 2):
        value = [value]
    with pytest.raises(InputError, match="nested"):
        canonical.encode(value)


def test_tuples_encode_as_lists():
    assert canonical.encode((1, 2)) == canonical.encode([1, 2])


def test_timestamps_have_one_canonical_text():
    moment = datetime(2026, 6, 7, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    assert canonical.format_timestamp(moment) == "2026-06-07T00:30:00.000000Z"
    assert canonical.parse_timestamp("2026-06-07T00:30:00.000000Z") == moment


@pytest.mark.parametrize("text", ["2026-06-07T00:30:00Z", "2026-06-07T00:30:00.000000+00:00",
                                  "2026-02-30T00:00:00.000000Z", "2026-06-07 00:30:00.000000Z"])
def test_parse_timestamp_rejects_other_spellings(text):
    with pytest.raises(NonCanonical):
        canonical.parse_timestamp(text)


def test_naive_datetime_is_refused():
    with pytest.raises(InputError, match="no UTC offset"):
        canonical.format_timestamp(datetime(2026, 6, 7))


@pytest.mark.parametrize("text", ["2026-06-07T08:30:00+08:00", "2026-06-07T00:30:00Z",
                                  "2026-06-07T00:30:00.5Z", "2026-06-07 08:30+08:00"])
def test_parse_rfc3339_accepts_what_people_type(text):
    assert canonical.parse_rfc3339(text).utcoffset() is not None


@pytest.mark.parametrize("text", ["2026-06-07T08:30:00", "yesterday", "2026-13-01T00:00:00Z", ""])
def test_parse_rfc3339_needs_an_offset_and_a_real_date(text):
    with pytest.raises(InputError):
        canonical.parse_rfc3339(text)
