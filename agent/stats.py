"""Resource usage of this node and its pods' containers: the kubelet's stats provider, in small.

A supervised loop samples every ``interval`` seconds (10 s: the kubelet's
housekeeping period) each running container of the node with one cheap runtime
call (Docker: a one-shot stats request, ~10 ms, in the runtime's thread pool),
at most ``concurrency`` at once, and the host from ``/proc`` (or, for the sim
runtime, the sum of its containers). A request never triggers a sample: it
reads the last two.

CPU is a rate: nanocores = Δ cumulative CPU time / Δ time between the last two
samples of the same container (a restarted container is a new container id, so
a counter never goes backwards within one); the *window* is that Δ time, as
metrics-server reports it. A container seen for the first time is sampled again
after ``first_rate_after`` seconds so its rate is known soon. Memory is the
latest working set.

``summary()`` has the shape of the kubelet's Summary API (``/stats/summary``:
``node`` and ``pods[].containers[]`` with ``cpu.usageNanoCores``,
``cpu.usageCoreNanoSeconds``, ``memory.workingSetBytes`` and ``time``), plus
``cpu.window`` (seconds) for metrics-server's window. Containers without two
samples yet, and pods without any such container, are left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubelite.api.core import Pod
from kubelite.util.supervise import BackgroundTask
from kubelite.util import clock

from agent.hostusage import read_host_usage
from agent.runtime.base import (
    LABEL_CONTAINER,
    LABEL_NAMESPACE,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_UID,
    ContainerInfo,
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerUsage,
)

log = logging.getLogger(__name__)

PodLookup = Callable[[str], Pod | None]  # "namespace/name" → the pod, from the agent's informer


@dataclass(frozen=True)
class Sample:
    wall: float  # epoch seconds, for the reported ``time``
    mono: float  # monotonic seconds, for windows
    usage: ContainerUsage


@dataclass(frozen=True)
class Rate:
    """What one container (or the node) used over its last window."""

    wall: float
    window: float  # seconds
    nano_cores: int
    cpu_core_ns: int  # cumulative, at ``wall``
    working_set_bytes: int


def rate(previous: Sample | None, current: Sample) -> Rate | None:
    """The rate between two samples; None without an earlier one, a window of 0, or a counter that went
    backwards (the runtime restarted the cgroup)."""
    if previous is None:
        return None
    if current.usage.at is not None and previous.usage.at is not None:
        window = current.usage.at - previous.usage.at
    else:
        window = current.mono - previous.mono
    spent = current.usage.cpu_core_ns - previous.usage.cpu_core_ns
    if window <= 0 or spent < 0:
        return None
    return Rate(wall=current.wall, window=window, nano_cores=round(spent / window),
                cpu_core_ns=current.usage.cpu_core_ns, working_set_bytes=current.usage.memory_working_set_bytes)


def summed(rates: list[Rate], wall: float, window: float) -> Rate:
    """A node's usage as the sum of its containers' (the sim runtime has no host of its own)."""
    return Rate(wall=wall, window=window, nano_cores=sum(r.nano_cores for r in rates),
                cpu_core_ns=sum(r.cpu_core_ns for r in rates), working_set_bytes=sum(r.working_set_bytes for r in rates))


@dataclass
class _Tracked:
    info: ContainerInfo
    previous: Sample | None
    current: Sample


class StatsCollector:
    """``start()`` / ``stop()``; ``summary()`` for the API; ``sample_once()`` for tests."""

    def __init__(
        self, *, node: str, runtime: ContainerRuntime, pods: PodLookup, host_usage: bool,
        interval: float = 10.0, first_rate_after: float = 1.0, concurrency: int = 4,
    ) -> None:
        self.node = node
        self.runtime = runtime
        self.pods = pods
        self.host_usage = host_usage
        self.interval = interval
        self.first_rate_after = min(first_rate_after, interval)
        self._limit = asyncio.Semaphore(concurrency)
        self._containers: dict[str, _Tracked] = {}
        self._host: tuple[Sample | None, Sample] | None = None
        self._task = BackgroundTask()

    async def start(self) -> None:
        self._task.start(f"stats-{self.node}", self._run, restart_delay=self.interval)

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            new = await self.sample_once()
            await asyncio.sleep(self.first_rate_after if new else self.interval)

    async def sample_once(self) -> int:
        """Sample every running container and the host; returns how many containers were new."""
        infos = [c for c in await self.runtime.list_containers({LABEL_NODE: self.node})
                 if c.state == "running" and not c.is_sandbox]
        samples = await asyncio.gather(*(self._sample(c) for c in infos))
        new = 0
        seen = set()
        for info, sample in zip(infos, samples, strict=True):
            if sample is None:
                continue
            seen.add(info.id)
            tracked = self._containers.get(info.id)
            if tracked is None:
                new += 1
                self._containers[info.id] = _Tracked(info, None, sample)
            else:
                tracked.previous, tracked.current = tracked.current, sample
        for gone in set(self._containers) - seen:
            del self._containers[gone]
        if self.host_usage:
            with contextlib.suppress(OSError, ValueError):  # no /proc (not Linux): no node figures
                usage = await asyncio.to_thread(read_host_usage)
                current = Sample(clock.wall(), clock.monotonic(), usage)
                self._host = (self._host[1] if self._host else None, current)
        return new

    async def _sample(self, info: ContainerInfo) -> Sample | None:
        pod = self.pods(f"{info.labels.get(LABEL_NAMESPACE, '')}/{info.labels.get(LABEL_POD_NAME, '')}")
        annotations = (pod.metadata.annotations or {}) if pod is not None else {}
        async with self._limit:
            try:
                usage = await self.runtime.container_usage(info.id, annotations=annotations)
            except ContainerRuntimeError as exc:
                log.debug("no usage sample of container %s: %s", info.id, exc)
                return None
        return Sample(clock.wall(), clock.monotonic(), usage) if usage is not None else None

    # -- reading ---------------------------------------------------------------

    def container_rates(self) -> list[tuple[ContainerInfo, Rate]]:
        found = []
        for tracked in self._containers.values():
            measured = rate(tracked.previous, tracked.current)
            if measured is not None:
                found.append((tracked.info, measured))
        return found

    def node_rate(self) -> Rate | None:
        """The host's rate; for the sim runtime the sum of its containers' (zero without any)."""
        if self.host_usage:
            return rate(*self._host) if self._host else None
        rates = [r for _, r in self.container_rates()]
        if not rates:
            return Rate(clock.wall(), self.interval, 0, 0, 0)
        return summed(rates, max(r.wall for r in rates), max(r.window for r in rates))

    def summary(self) -> dict[str, Any]:
        """The Summary API document (see the module docstring)."""
        node: dict[str, Any] = {"nodeName": self.node}
        node_rate = self.node_rate()
        if node_rate is not None:
            node.update(_stats(node_rate))
        pods: dict[str, dict[str, Any]] = {}
        for info, measured in self.container_rates():
            uid = info.labels.get(LABEL_POD_UID, "")
            pod = pods.setdefault(uid, {"podRef": {"name": info.labels.get(LABEL_POD_NAME, ""),
                                                   "namespace": info.labels.get(LABEL_NAMESPACE, ""), "uid": uid},
                                        "containers": []})
            pod["containers"].append({"name": info.labels.get(LABEL_CONTAINER, ""), **_stats(measured)})
        return {"node": node, "pods": list(pods.values())}


class ResourceMetrics(Collector):
    """The kubelet's ``/metrics/resource`` names on the agent's ``/metrics``, from the last samples:
    ``node_cpu_usage_seconds_total``, ``node_memory_working_set_bytes``, and per container
    ``container_cpu_usage_seconds_total`` / ``container_memory_working_set_bytes`` labelled
    ``container, pod, namespace`` (cumulative CPU: graph ``rate()`` of it)."""

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        node_cpu = CounterMetricFamily("node_cpu_usage_seconds", "Cumulative cpu time consumed by the node in "
                                       "core-seconds")
        node_memory = GaugeMetricFamily("node_memory_working_set_bytes", "Current working set of the node in bytes")
        node = self.stats.node_rate()
        if node is not None:
            node_cpu.add_metric([], node.cpu_core_ns / 1e9)
            node_memory.add_metric([], node.working_set_bytes)
        labels = ["container", "pod", "namespace"]
        cpu = CounterMetricFamily("container_cpu_usage_seconds", "Cumulative cpu time consumed by the container in "
                                  "core-seconds", labels=labels)
        memory = GaugeMetricFamily("container_memory_working_set_bytes", "Current working set of the container in "
                                   "bytes", labels=labels)
        for info, measured in self.stats.container_rates():
            values = [info.labels.get(LABEL_CONTAINER, ""), info.labels.get(LABEL_POD_NAME, ""),
                      info.labels.get(LABEL_NAMESPACE, "")]
            cpu.add_metric(values, measured.cpu_core_ns / 1e9)
            memory.add_metric(values, measured.working_set_bytes)
        yield from (node_cpu, node_memory, cpu, memory)


def _stats(measured: Rate) -> dict[str, Any]:
    stamp = clock.format_micro_time(datetime.fromtimestamp(measured.wall, UTC))
    return {
        "cpu": {"time": stamp, "usageNanoCores": measured.nano_cores, "usageCoreNanoSeconds": measured.cpu_core_ns,
                "window": round(measured.window, 3)},
        "memory": {"time": stamp, "workingSetBytes": measured.working_set_bytes},
    }
