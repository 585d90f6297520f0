"""The disk side of the kubelet's eviction manager: observe, report DiskPressure, evict one pod per check.

Every ``interval`` seconds: read the filesystem stats (the runtime's, or an injected function
for tests), decide with the pure rules of :mod:`agent.eviction`, set DiskPressure in
:class:`~agent.nodehealth.NodeHealth` (the node heartbeat posts the condition and the taint),
and while a threshold is met rank this node's pods by disk usage and hand the first one to the
pod manager for eviction. The kubelet first reclaims node-level resources (dead containers,
unused images); the agent already keeps only one dead attempt per container, and it removes no
images: on a machine without a registry they could not be pulled again.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from kubelite.api.core import Pod
from kubelite.api.podresources import pod_requests
from kubelite.api.quantity import to_bytes
from kubelite.node.evictionflags import Threshold
from kubelite.client.informer import object_key
from kubelite.util.supervise import BackgroundTask
from kubelite.util import clock

from agent.eviction import (
    ContainerUsage,
    PodUsage,
    empty_dir_over_limit,
    eviction_message,
    rank_for_disk_eviction,
    thresholds_met,
    under_pressure,
)
from agent.nodehealth import NodeHealth
from agent.runtime.base import LABEL_NODE, LABEL_POD_UID, ContainerRuntimeError, FsStats

if TYPE_CHECKING:
    from agent.pods import PodManager

log = logging.getLogger(__name__)

Observe = Callable[[], Awaitable[dict[str, FsStats]]]


def pod_priority(pod: Pod) -> int:
    """``spec.priority`` (set from priorityClassName by priority admission), 0 when unset."""
    return pod.spec.priority or 0


def ephemeral_request(pod: Pod, container: str) -> int:
    """A container's ``ephemeral-storage`` request in bytes (0 without one); sidecars are containers too."""
    spec = next((c for c in (*pod.spec.containers, *(pod.spec.init_containers or ())) if c.name == container), None)
    requests = (spec.resources.requests or {}) if spec is not None and spec.resources else {}
    value = requests.get("ephemeral-storage")
    return 0 if value is None else to_bytes(value)


def pod_ephemeral_request(pod: Pod) -> int:
    """The pod's ``ephemeral-storage`` request in bytes as the kubelet's eviction ranks it
    (``GetResourceRequestQuantity``: the containers and sidecars add up, a one-off init container's peak
    counts if larger; :mod:`kubelite.api.podresources`)."""
    value = pod_requests(pod).get("ephemeral-storage")
    return 0 if value is None else math.ceil(value)


class DiskPressureMonitor:
    def __init__(
        self, manager: PodManager, health: NodeHealth, *, thresholds: Sequence[Threshold], observe: Observe,
        interval: float = 10.0, transition_period: float = 300.0, monotonic: Callable[[], float] = clock.monotonic,
    ) -> None:
        self.manager = manager
        self.health = health
        self.thresholds = tuple(thresholds)
        self.observe = observe
        self.interval = interval
        self.transition_period = transition_period
        self.monotonic = monotonic
        self.last_met_at: float | None = None
        self.evicted: list[str] = []  # pod keys, in order
        self._task = BackgroundTask()

    async def start(self) -> None:
        if self.thresholds:
            self._task.start(f"disk-pressure-{self.manager.node}", self._run)

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(self.interval)

    async def check_once(self) -> str | None:
        """One observation; returns the key of the pod sent to eviction, if any."""
        if not self.manager.watch.healthy:
            return None
        try:
            observations = await self.observe()
        except ContainerRuntimeError as exc:
            log.warning("node %s: no disk stats (%s)", self.manager.node, exc)
            return None
        met = thresholds_met(self.thresholds, observations)
        now = self.monotonic()
        if met:
            self.last_met_at = now
        pressure = under_pressure(self.last_met_at, now, self.transition_period)
        if pressure != self.health.facts.disk_pressure:
            log.warning("node %s: DiskPressure %s (%s)", self.manager.node, pressure,
                        ", ".join(f"{m.threshold} available {m.available}" for m in met) or "thresholds clear")
        self.health.set_disk_pressure(pressure)
        self.manager.metrics.disk_pressure.set(1 if pressure else 0)
        candidates = [p for p in (self.manager.informer.get(k) for k in self.manager.informer.keys())
                      if p is not None and not p.is_terminated() and p.metadata.deletion_timestamp is None
                      and object_key(p) not in self.manager.evictions]
        over = await self._empty_dir_over_limit(candidates)
        if over is not None:
            return over
        if not met:
            return None
        if not candidates:
            return None
        usages = [await self._usage(pod) for pod in candidates]
        victim = rank_for_disk_eviction(usages)[0]
        message = eviction_message(met[0], victim)
        log.warning("node %s: evicting %s: %s", self.manager.node, victim.key, message)
        self.evicted.append(victim.key)
        self.manager.evict(next(p for p in candidates if object_key(p) == victim.key), message)
        return victim.key

    async def _empty_dir_over_limit(self, pods: list[Pod]) -> str | None:
        """The kubelet's local-storage eviction, pressure or not: a pod past an emptyDir ``sizeLimit``."""
        for pod in pods:
            if not any(v.empty_dir is not None and v.empty_dir.size_limit is not None for v in pod.spec.volumes or []):
                continue
            message = empty_dir_over_limit(pod, await self.manager.config.volumes.empty_dir_usage(pod.metadata.uid or ""))
            if message is not None:
                log.warning("node %s: evicting %s: %s", self.manager.node, object_key(pod), message)
                self.evicted.append(object_key(pod))
                self.manager.evict(pod, message)
                return object_key(pod)
        return None

    async def _usage(self, pod: Pod) -> PodUsage:
        containers = await self.manager.runtime.list_containers(
            {LABEL_NODE: self.manager.node, LABEL_POD_UID: pod.metadata.uid or ""})
        per_name: dict[str, int] = {}
        for info in containers:
            if info.is_sandbox:
                continue
            usage = await self.manager.runtime.disk_usage(info.id)
            per_name[info.container_name] = per_name.get(info.container_name, 0) + (usage or 0)
        return PodUsage(
            key=object_key(pod), priority=pod_priority(pod),
            containers=tuple(ContainerUsage(n, u, ephemeral_request(pod, n)) for n, u in sorted(per_name.items())),
            pod_request_bytes=pod_ephemeral_request(pod),
            volumes_bytes=await self.manager.config.volumes.disk_usage(pod.metadata.uid or ""),
        )
