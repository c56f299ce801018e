"""How much of the machine's memory a long fold may keep.

A fold of a whole log (``verify``, a rebuild or long catch-up of the view) keeps per-stream
states (lots, chain heads, lots in rooms) in memory and spills or drops the rest. How many it
keeps is set here from the memory available when it starts: Linux's ``MemAvailable``, lowered
to what the process's control group (a container's limit, cgroup v2 or v1) leaves.
"""

from __future__ import annotations

import os

# Per-stream states a long fold keeps in memory, per kind (the verifier's lots, heads and lots
# in rooms; the view's saved-fold entries between pages). A province's season works on tens of
# thousands of lots at once, and each miss is a read, a decode and, later, a write: so as many
# as an eighth of the memory available when the fold starts holds, at ENTRY_BYTES a lot with
# its head and room entry (measured on the season's ledgers), never fewer than RESIDENT nor
# more than MOST_RESIDENT.
RESIDENT = 65536
MOST_RESIDENT = 1 << 20
MEMORY_SHARE = 8
ENTRY_BYTES = 2048


def resident_for(available: int | None) -> int:
    """How many per-stream states of each kind stay in memory, given the bytes of memory
    ``available`` (None: unknown, the fewest)."""
    if available is None:
        return RESIDENT
    return max(RESIDENT, min(MOST_RESIDENT, available // MEMORY_SHARE // ENTRY_BYTES))


def available_memory(proc: str = "/proc", cgroups: str = "/sys/fs/cgroup") -> int | None:
    """Bytes of memory this process can still take: the machine's (Linux's ``MemAvailable``),
    lowered to what its control group's limit leaves (a container's, cgroup v2 or v1); None
    where neither can be read."""
    found: list[int | None] = []
    for line in _lines(os.path.join(proc, "meminfo")):
        if line.startswith("MemAvailable:"):
            found.append(_number(line.split()[1:2], 1024))
    for line in _lines(os.path.join(proc, "self", "cgroup")):
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if number == "0":
            files = [os.path.join(cgroups, path.strip("/"), name)
                     for name in ("memory.max", "memory.current")]
        elif "memory" in controllers.split(","):
            files = [os.path.join(cgroups, "memory", path.strip("/"), name)
                     for name in ("memory.limit_in_bytes", "memory.usage_in_bytes")]
        else:
            continue
        limit, used = (_number(_lines(name)) for name in files)
        if limit is not None and used is not None:
            found.append(max(0, limit - used))
    known = [value for value in found if value is not None]
    return min(known) if known else None


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read(1 << 16).splitlines()
    except OSError:
        return []


def _number(words: list[str], unit: int = 1) -> int | None:
    """The first word as a count of ``unit``s; None if there is none or it is no number
    (cgroup v2 writes "max" for no limit)."""
    try:
        return int(words[0].split()[0]) * unit
    except (IndexError, ValueError):
        return None
