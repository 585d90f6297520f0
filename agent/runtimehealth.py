"""Following the container engine: its event stream, re-subscribed after every loss, and its health.

The engine's event stream is how the agent sees exits at once. A stream can end or break
(dockerd restarted, socket cut); the watch then marks the runtime down, retries with back-off
(``retry_initial`` doubling to ``retry_cap``), and on every (re)subscription calls ``on_resync``
so that every pod is re-listed from the engine: nothing the agent believed before the gap is
trusted. A ping every ``ping_period`` (the kubelet checks its runtime every 5 s) catches an
engine that hangs without closing the stream.

While the runtime is down the node's Ready condition is False (:mod:`agent.nodehealth`) and each
pod's status says it is not ready (:func:`runtime_down_status`): its containers cannot be seen,
so nobody should send it traffic — as Kubernetes' node lifecycle controller marks the pods of a
NotReady node (``MarkPodsNotReady``). Container states stay the last ones observed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from kubelite.api.core import PodCondition, PodStatus
from kubelite.util.supervise import cancel_and_wait, spawn

from agent.metrics import AgentMetrics
from agent.nodehealth import NodeHealth
from agent.runtime.base import SUBSCRIBED, ContainerRuntime, ContainerRuntimeError, RuntimeEvent

log = logging.getLogger(__name__)

_NOT_READY = ("Ready", "ContainersReady")


def runtime_down_status(status: PodStatus | None, now: datetime) -> PodStatus | None:
    """``status`` with Ready/ContainersReady False and no container ready; None when already so."""
    if status is None:
        return None
    conditions: list[PodCondition] = []
    changed = False
    for condition in status.conditions or []:
        if condition.type in _NOT_READY and condition.status != "False":
            condition = condition.model_copy(update={"status": "False", "last_transition_time": now,
                                                     "reason": None, "message": None})
            changed = True
        conditions.append(condition)
    statuses = []
    for container in status.container_statuses or []:
        if container.ready:
            container = container.model_copy(update={"ready": False})
            changed = True
        statuses.append(container)
    if not changed:
        return None
    return status.model_copy(update={"conditions": conditions or None, "container_statuses": statuses or None})


class RuntimeWatch:
    """Supervised event follower + pinger; ``start()``/``stop()``."""

    def __init__(
        self, runtime: ContainerRuntime, health: NodeHealth, *, on_event: Callable[[RuntimeEvent], None],
        on_resync: Callable[[], None], ping_period: float = 5.0, ping_timeout: float = 5.0,
        retry_initial: float = 0.2, retry_cap: float = 5.0, metrics: AgentMetrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.runtime = runtime
        self.health = health
        self.on_event = on_event
        self.on_resync = on_resync
        self.ping_period = ping_period
        self.ping_timeout = ping_timeout
        self.retry_initial = retry_initial
        self.retry_cap = retry_cap
        self.subscriptions = 0
        self._stream_error: str | None = None
        self._ping_error: str | None = None
        self._ping_failures = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def healthy(self) -> bool:
        return self.health.facts.runtime_error is None

    async def start(self) -> None:
        self._tasks = [spawn("runtime-events", self._follow), spawn("runtime-ping", self._ping)]

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            await cancel_and_wait(task)
        self._tasks = []

    async def _follow(self) -> None:
        delay = self.retry_initial
        while True:
            try:
                async with contextlib.aclosing(self.runtime.events()) as stream:  # type: ignore[type-var]
                    async for event in stream:
                        if event.action == SUBSCRIBED:
                            self.subscriptions += 1
                            if self.metrics is not None:
                                self.metrics.runtime_subscriptions.inc()
                            delay = self.retry_initial
                            self._stream_error = None
                            self._update()
                            self.on_resync()  # whatever happened while not subscribed: re-list it all
                        else:
                            self.on_event(event)
                why = "the engine closed its event stream"
            except ContainerRuntimeError as exc:
                why = str(exc) or type(exc).__name__
            self._stream_error = why
            self._update()
            log.warning("runtime event stream lost (%s); re-subscribing in %.1fs", why, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_cap)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.ping_period)
            try:
                await asyncio.wait_for(self.runtime.ping(), self.ping_timeout)
                self._ping_failures, self._ping_error = 0, None
            except (ContainerRuntimeError, TimeoutError) as exc:
                # Two in a row: one failed ping may be a stale pooled connection, not a dead engine.
                self._ping_failures += 1
                if self._ping_failures >= 2:
                    self._ping_error = str(exc) or f"no answer within {self.ping_timeout:g}s"
            self._update()

    def _update(self) -> None:
        error = self._stream_error or self._ping_error
        was_healthy = self.healthy
        self.health.set_runtime(error)
        if self.metrics is not None:
            self.metrics.runtime_up.set(1 if error is None else 0)
        if was_healthy != (error is None):
            if error is None:
                log.info("container runtime is back")
            else:
                log.warning("container runtime is down: %s", error)
            self.on_resync()  # down: pods report not ready; up: pods are re-listed
