"""SpillMap behaves exactly like a dict while keeping at most `capacity` values in memory."""

from __future__ import annotations

import gc
import os
import stat
import tracemalloc
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core.custody import LotState
from ledger.verify.spill import SpillMap


def lot(i: int) -> LotState:
    return LotState(lot_id=f"LOT-{i:05d}", exam="EX-2026", subject="MATH", kind="answer_sheet",
                    count=40 + i, seals=("SEAL-1", f"SEAL-{i}"), holder=None,
                    last_occurred_at="2026-06-06T05:00:00.000000Z")


def files(path) -> list[str]:
    return sorted(os.listdir(path))


def ops_for(capacity: int) -> st.SearchStrategy[list[tuple]]:
    keys = st.one_of(st.just(""), st.integers(0, 2 * capacity + 4).map(lambda i: f"k{i}"))
    values = st.one_of(st.integers(), st.binary(max_size=8),
                       st.tuples(st.integers(), st.text(max_size=4)))
    return st.lists(st.one_of(
        st.tuples(st.just("set"), keys, values),
        st.tuples(st.just("fill"), st.integers(0, capacity + 4), st.integers(1, 2 * capacity + 4)),
        st.tuples(st.sampled_from(["get", "getitem", "del", "contains", "pop"]), keys),
        st.tuples(st.sampled_from(["len", "iter", "items", "clear"])),
    ), max_size=120)


def apply(target, op: tuple):
    """Run one operation; return what it returned, or the type of exception it raised."""
    name, *args = op
    try:
        if name == "set":
            target[args[0]] = args[1]
        elif name == "fill":
            for i in range(args[0], args[0] + args[1]):
                target[f"k{i}"] = ("filled", i)
        elif name == "get":
            return target.get(args[0], "default")
        elif name == "getitem":
            return target[args[0]]
        elif name == "del":
            del target[args[0]]
        elif name == "contains":
            return args[0] in target
        elif name == "pop":
            return target.pop(args[0], "default")
        elif name == "len":
            return len(target)
        elif name == "iter":
            return sorted(target)
        elif name == "items":
            return sorted(target.items(), key=lambda kv: kv[0])
        elif name == "clear":
            target.clear()
    except KeyError as e:
        return KeyError, e.args
    return None


@pytest.mark.parametrize("capacity", [1, 3, 64])
def test_behaves_like_a_dict_under_random_operations(tmp_path, capacity):
    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(ops_for(capacity))
    def check(ops):
        expected: dict = {}
        with SpillMap(capacity, directory=str(tmp_path)) as spill:
            for op in ops:
                assert apply(spill, op) == apply(expected, op), op
                assert len(spill) == len(expected)
                assert len(spill._mem) <= capacity
            assert sorted(spill) == sorted(expected)
            assert {k: spill[k] for k in list(spill)} == expected
        assert files(tmp_path) == []

    check()


def test_values_survive_eviction_unchanged(tmp_path):
    values = {
        "lot": lot(7),
        "head": (12, "ab" * 32),
        "raw": bytes(range(256)),
        "nested": (lot(8), (b"\x00", None, 1.5), frozenset({"a", "b"})),
        "none": None,
    }
    with SpillMap(1, directory=str(tmp_path)) as spill:
        spill.update(values)
        assert len(files(tmp_path)) == 1  # all but the last one were evicted
        assert {k: spill[k] for k in values} == values
        assert spill["lot"] is not values["lot"] and spill.get("head") == (12, "ab" * 32)
        assert spill.get("absent") is None and "none" in spill and "absent" not in spill


def test_nothing_is_written_before_the_first_eviction(tmp_path):
    spill = SpillMap(8, directory=str(tmp_path))
    for i in range(8):
        spill[f"k{i}"] = lot(i)
    for i in range(8):
        spill[f"k{i}"] = lot(i + 100)  # overwriting is not growing
    assert spill.get("missing") is None and "missing" not in spill and len(spill) == 8
    assert files(tmp_path) == []
    spill["k8"] = lot(8)
    (name,) = files(tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    spill.close()


def test_close_removes_the_file_and_is_idempotent(tmp_path):
    spill = SpillMap(2, directory=str(tmp_path))
    for i in range(10):
        spill[f"k{i}"] = i
    assert len(files(tmp_path)) == 1
    spill.close()
    assert files(tmp_path) == [] and len(spill) == 0
    spill.close()
    assert files(tmp_path) == []


def test_the_file_is_removed_when_an_unclosed_map_is_collected(tmp_path):
    spill = SpillMap(2, directory=str(tmp_path))
    for i in range(10):
        spill[f"k{i}"] = i
    assert len(files(tmp_path)) == 1
    del spill
    gc.collect()
    assert files(tmp_path) == []


def test_a_context_manager_closes_the_map(tmp_path):
    with SpillMap(1, directory=str(tmp_path)) as spill:
        spill["a"], spill["b"] = 1, 2
        assert len(files(tmp_path)) == 1
    assert files(tmp_path) == []


@pytest.mark.parametrize("capacity", [0, -1])
def test_capacity_below_one_is_refused(capacity):
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        SpillMap(capacity)


def test_iterating_ten_thousand_entries_lists_each_key_once(tmp_path):
    keys = [f"LOT-{i:05d}" for i in range(10_000)]
    with SpillMap(16, directory=str(tmp_path)) as spill:
        for i, key in enumerate(keys):
            spill[key] = (i, key)
        spill["LOT-00003"] = (-1, "recent")  # one key read back into memory, still on disk
        listed = list(spill)
        assert len(listed) == 10_000 and sorted(listed) == keys
        items = dict(spill.items())  # reads every value back while iterating, evicting others
        assert len(items) == 10_000 and items["LOT-00003"] == (-1, "recent")
        assert all(items[key] == (i, key) for i, key in enumerate(keys) if i != 3)


def test_deleting_a_spilled_key_removes_it_from_memory_and_disk(tmp_path):
    with SpillMap(2, directory=str(tmp_path)) as spill:
        for i in range(6):
            spill[f"k{i}"] = i
        assert spill["k0"] == 0  # back in memory, its row still on disk
        del spill["k0"]
        del spill["k1"]  # only on disk
        assert "k0" not in spill and "k1" not in spill and len(spill) == 4
        assert sorted(spill) == ["k2", "k3", "k4", "k5"]
        with pytest.raises(KeyError):
            del spill["k0"]


def test_memory_stays_flat_as_the_map_grows(tmp_path):
    def traced_after(count: int) -> int:
        with SpillMap(64, directory=str(tmp_path)) as spill:
            tracemalloc.start()
            for i in range(count):
                spill[f"LOT-{i:06d}"] = lot(i)
            size = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            return size

    small, large = traced_after(2_000), traced_after(40_000)
    assert large < small + 64 * 1024  # 20x the entries, not 20x the memory


def test_scratch_space_that_cannot_be_written_is_a_resource_error_at_the_first_spill(tmp_path):
    from ledger.core.errors import ResourceError

    missing = tmp_path / "gone"
    spill = SpillMap(1, directory=str(missing))
    spill["a"] = 1  # fits in memory: no file yet
    with pytest.raises(ResourceError, match=f"cannot write scratch space in {missing}"):
        spill["b"] = 2


def test_a_map_with_a_codec_writes_its_entries_in_it_and_reads_them_back(tmp_path):
    """The verifier's lots spill in the saved state's compact entry encoding, not pickled:
    what is on disk is exactly ``encode_entry``'s bytes, and reads give the values back."""
    from ledger.core import state_codec

    lots = {f"lot:LOT-{i:05d}": replace(lot(i), hashes=(f"{i:064x}", "ab" * 32))
            for i in range(40)}
    with SpillMap(4, directory=str(tmp_path), **state_codec.entry_codec("lots")) as spill:
        spill.update(lots)
        on_disk = {key: blob for key, _, blob in spill.sorted_encoded() if blob is not None}
        assert len(on_disk) == 36  # all but the four most recent
        assert on_disk == {key: state_codec.encode_entry("lots", key, lots[key]) for key in on_disk}
        assert dict(spill.items()) == lots
