"""How much memory a long fold may keep: the memory available, read as Linux and a
container's control group give it, and how many per-stream states fit in an eighth of it."""

from __future__ import annotations

import pytest

from ledger.storage.memory import (
    ENTRY_BYTES, MEMORY_SHARE, MOST_RESIDENT, RESIDENT, available_memory, resident_for,
)


def machine(tmp_path, meminfo: str | None, cgroup: str, limits: dict[str, str]):
    """A /proc and a /sys/fs/cgroup to read: ``cgroup`` is /proc/self/cgroup's text, and
    ``limits`` the control group files (relative path -> content)."""
    proc, groups = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    if meminfo is not None:
        (proc / "meminfo").write_text(meminfo)
    (proc / "self" / "cgroup").write_text(cgroup)
    for name, text in limits.items():
        (groups / name).parent.mkdir(parents=True, exist_ok=True)
        (groups / name).write_text(text)
    return str(proc), str(groups)


MEMINFO = "MemTotal:       24683776 kB\nMemFree:        20000000 kB\nMemAvailable:    8000000 kB\n"


@pytest.mark.parametrize("cgroup, limits, expected", [
    ("0::/\n", {}, 8_192_000_000),  # no limit file: the machine's
    ("0::/job\n", {"job/memory.max": "max\n", "job/memory.current": "5\n"}, 8_192_000_000),
    ("0::/job\n", {"job/memory.max": "1000000000\n", "job/memory.current": "400000000\n"},
     600_000_000),  # cgroup v2: a container's limit, less what it uses
    ("4:memory:/job\n0::/\n", {"memory/job/memory.limit_in_bytes": "1000000000\n",
                               "memory/job/memory.usage_in_bytes": "999000000\n"},
     1_000_000),  # cgroup v1
    ("0::/job\n", {"job/memory.max": "100\n", "job/memory.current": "400\n"}, 0),
], ids=["machine", "v2 no limit", "v2 limit", "v1 limit", "over the limit"])
def test_available_memory_is_the_least_of_the_machine_and_its_control_group(
        tmp_path, cgroup, limits, expected):
    proc, groups = machine(tmp_path, MEMINFO, cgroup, limits)
    assert available_memory(proc, groups) == expected


def test_available_memory_is_unknown_where_nothing_can_be_read(tmp_path):
    proc, groups = machine(tmp_path, None, "garbage\n", {})
    assert available_memory(proc, groups) is None
    proc, groups = machine(tmp_path / "b", "MemAvailable: lots kB\n", "", {})
    assert available_memory(proc, groups) is None


@pytest.mark.parametrize("available, resident", [
    (None, RESIDENT),  # unknown: the fewest
    (0, RESIDENT),
    (MEMORY_SHARE * ENTRY_BYTES * 100_000, 100_000),
    (2**60, MOST_RESIDENT),
])
def test_a_long_fold_keeps_as_many_states_in_memory_as_an_eighth_of_it_holds(
        available, resident):
    assert resident_for(available) == resident
