"""A Docker container's usage read from its cgroup files, as cAdvisor reads it for the kubelet.

Docker's stats API answers a one-shot request only at its collector's next
1 s tick, so sampling 50 containers through it holds threads for seconds per
round. When the engine runs on this host with the ``cgroupfs`` driver, each
container's cgroup is ``/sys/fs/cgroup/<controller>/docker/<id>`` (v1) or
``/sys/fs/cgroup/docker/<id>`` (v2), and three small files give the same
figures in microseconds:

- v1: ``cpuacct/…/cpuacct.usage`` (ns), ``memory/…/memory.usage_in_bytes`` and
  ``memory.stat`` ``total_inactive_file``;
- v2: ``cpu.stat`` ``usage_usec``, ``memory.current`` and ``memory.stat`` ``inactive_file``.

Working set = usage − inactive file pages, never below 0. None when the
files are not there (another driver, a remote engine, a stopped container):
the runtime then asks the stats API.
"""

from __future__ import annotations

from pathlib import Path

from agent.runtime.base import ContainerUsage

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _stat_value(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def read_cgroup_usage(container_id: str, root: Path = CGROUP_ROOT, parent: str = "docker") -> ContainerUsage | None:
    """One sample of a container's cgroup (blocking reads of three small files)."""
    try:
        v1_cpu = root / "cpuacct" / parent / container_id / "cpuacct.usage"
        if v1_cpu.exists():
            memory = root / "memory" / parent / container_id
            usage = int((memory / "memory.usage_in_bytes").read_text())
            inactive = _stat_value((memory / "memory.stat").read_text(), "total_inactive_file")
            return ContainerUsage(int(v1_cpu.read_text()), max(usage - inactive, 0))
        v2 = root / parent / container_id
        if (v2 / "cpu.stat").exists():
            cpu_ns = _stat_value((v2 / "cpu.stat").read_text(), "usage_usec") * 1000
            usage = int((v2 / "memory.current").read_text())
            inactive = _stat_value((v2 / "memory.stat").read_text(), "inactive_file")
            return ContainerUsage(cpu_ns, max(usage - inactive, 0))
    except (OSError, ValueError):
        return None
    return None
