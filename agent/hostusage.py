"""The host's own CPU time and working-set memory, from ``/proc`` (stdlib only: two small files).

The kubelet takes node usage from the root cgroup; on cgroup v1 that is the
same figures as these: CPU = the time every CPU spent outside idle and iowait
(``/proc/stat``, in USER_HZ ticks, 100 per second on Linux), memory working
set = used memory including the page cache minus the inactive file pages
(``MemTotal − MemFree − Inactive(file)`` from ``/proc/meminfo``).
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.runtime.base import ContainerUsage

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_IDLE_FIELDS = (3, 4)  # idle, iowait in the "cpu" line's fields after the label


def cpu_core_ns(stat_text: str, ticks_per_second: int = _TICKS_PER_SECOND) -> int:
    """Busy CPU time of all CPUs, nanoseconds, from ``/proc/stat``'s aggregate ``cpu`` line.

    guest/guest_nice (fields 9, 10) are already counted in user/nice, so they are left out.
    """
    for line in stat_text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            ticks = [int(v) for v in parts[1:9]]
            busy = sum(v for i, v in enumerate(ticks) if i not in _IDLE_FIELDS)
            return busy * 1_000_000_000 // ticks_per_second
    raise ValueError("/proc/stat has no aggregate cpu line")


def memory_working_set_bytes(meminfo_text: str) -> int:
    """``MemTotal − MemFree − Inactive(file)`` in bytes, from ``/proc/meminfo`` (values in kB)."""
    values: dict[str, int] = {}
    for line in meminfo_text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields:
            values[key.strip()] = int(fields[0]) * 1024
    try:
        return max(values["MemTotal"] - values["MemFree"] - values.get("Inactive(file)", 0), 0)
    except KeyError as exc:
        raise ValueError(f"/proc/meminfo lacks {exc.args[0]}") from None


def read_host_usage(proc: Path = Path("/proc")) -> ContainerUsage:
    """One sample of the host (blocking file reads of a few kB: call it off the event loop)."""
    return ContainerUsage(cpu_core_ns=cpu_core_ns((proc / "stat").read_text()),
                          memory_working_set_bytes=memory_working_set_bytes((proc / "meminfo").read_text()))
