"""The machine a benchmark ran on, and how busy other processes kept it meanwhile.

A timing taken while something else uses the cores is not the machine's speed; ``Load``
measures, from ``/proc/stat`` and our own ``getrusage``, the share of all cores that other
processes used during a block, so each table can say how clean its numbers are.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import time
from datetime import datetime, timezone


def revision() -> str:
    """The commit benchmarked, and whether ledger/ had uncommitted changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "ledger"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"commit {head}" + (" + uncommitted changes in ledger/" if dirty else "")


def describe() -> str:
    """One line: cores, CPU model, Python, date, revision."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {revision()}")


def installed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment to time a command in as it runs installed: with Python's bytecode
    cache. A shell with ``PYTHONDONTWRITEBYTECODE`` set makes every process compile each
    module it imports from source (100-300 ms for a recording command, a third of that for
    ``--version``), which an installed copy never pays: pip writes the ``.pyc`` files when it
    installs, and an editable checkout writes them on its first run."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra or {})
    return env


def _proc_stat() -> tuple[int, int]:
    """(busy, iowait) clock ticks of all cores since boot."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return user + nice + system + irq + softirq + steal, iowait


def _own_cpu() -> float:
    """CPU seconds used by this process and every child it has reaped."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class Load:
    """``with Load() as load: ...`` then ``load.others`` (share of all cores used by other
    processes) and ``load.iowait`` (share of all cores idle waiting on the disk)."""

    others: float = 0.0
    iowait: float = 0.0

    def __enter__(self) -> "Load":
        self._stat, self._own, self._wall = _proc_stat(), _own_cpu(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, iowait = _proc_stat()
        tick = os.sysconf("SC_CLK_TCK")
        capacity = (time.monotonic() - self._wall) * (os.cpu_count() or 1)
        other = (busy - self._stat[0]) / tick - (_own_cpu() - self._own)
        self.others = max(0.0, other / capacity)
        self.iowait = (iowait - self._stat[1]) / tick / capacity

    def __str__(self) -> str:
        return f"other processes {100 * self.others:.0f}% of all cores, iowait {100 * self.iowait:.0f}%"
