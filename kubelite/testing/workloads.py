"""Workloads that run while faults happen: the acknowledged-write probe, Deployment churn, and
any async function of the user's."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kubelite.api.resources import DEPLOYMENTS, PODS, REPLICASETS
from kubelite.storage.store import Store
from kubelite.testing.api import LEASES_PATH, NAMESPACE, Api
from kubelite.testing.checks import Expect, controller_uid
from kubelite.testing.waiting import wait_for
from kubelite.util import clock
from kubelite.util.supervise import cancel_and_wait


@dataclass
class ProbeWriter:
    """Writes a Lease every ~50 ms through the gateway; records each attempt."""

    api: Api
    prefix: str = "probe"
    attempts: list[tuple[float, float, bool]] = field(default_factory=list)  # (started, ended, acknowledged)
    acknowledged: set[str] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    async def _run(self) -> None:
        n = 0
        while True:
            name = f"{self.prefix}-{n}"
            started = clock.monotonic()
            status, doc = await self.api.call("POST", LEASES_PATH, {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
                "spec": {"holderIdentity": "chaos"}})
            reason = doc.get("reason") if isinstance(doc, dict) else None
            ok = status == 201 or reason == "AlreadyExists"  # AlreadyExists: an unanswered try landed
            self.attempts.append((started, clock.monotonic(), ok))
            if ok:
                self.acknowledged.add(name)
                n += 1
            await asyncio.sleep(0.05)

    def first_success_after(self, fault_at: float) -> float | None:
        """Seconds from the fault to the first acknowledged write sent after it."""
        ends = [end for start, end, ok in self.attempts if ok and start >= fault_at]
        return min(ends) - fault_at if ends else None

    async def wait_success_after(self, fault_at: float, timeout: float = 30.0) -> float:
        await wait_for(lambda: self.first_success_after(fault_at) is not None, timeout, 0.05,
                       message="a write acknowledged after the fault")
        value = self.first_success_after(fault_at)
        assert value is not None
        return value

    async def check_present(self, store: Store) -> None:
        from kubelite.api.resources import LEASES
        stored = {item.name for item in (await store.list(LEASES, NAMESPACE)).items}
        lost = self.acknowledged - stored
        assert not lost, f"acknowledged writes lost: {sorted(lost)[:10]}"


@dataclass
class DeploymentChurn:
    """Scales Deployment ``name`` between ``low`` and ``high`` replicas and rolls its template every
    ``every`` seconds (each change retried until acknowledged); ``expect`` is the last acknowledged
    state, what the cluster must converge to. Seeded: the same seed makes the same changes."""

    api: Api
    name: str = "churn"
    low: int = 1
    high: int = 10
    every: float = 2.0
    seed: int = 0
    roll_chance: float = 0.3
    replicas: int = 0
    version: int = 1
    changes: int = 0
    _task: asyncio.Task[None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def expect(self) -> Expect:
        return Expect(self.replicas, f"v{self.version}")

    async def start(self) -> None:
        """Create the Deployment (retried until acknowledged), then churn in the background."""
        self.replicas = self.low
        await self.api.until_ok(lambda: self.api.create_deployment(self.name, self.replicas), 60,
                                what=f"create {self.name}")
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        rng = random.Random(self.seed)
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), self.every)
                return
            except TimeoutError:
                pass
            # Never cancelled mid-change (stop() waits): ``expect`` is always the acknowledged state.
            if rng.random() < self.roll_chance:
                version = self.version + 1
                await self.api.until_ok(lambda: self.api.roll(self.name, f"v{version}"), 120, what="roll")
                self.version = version
            else:
                replicas = rng.randint(self.low, self.high)
                await self.api.until_ok(lambda: self.api.scale(self.name, replicas), 120, what="scale")
                self.replicas = replicas
            self.changes += 1

    async def stop(self) -> None:
        """Stop churning; a change under way is finished first, so ``expect`` is what was acknowledged.
        Raises AssertionError when that change was never acknowledged (until_ok's deadline)."""
        self._stopping.set()
        if self._task is not None:
            await self._task


@dataclass
class UpdateBurst:
    """``count`` concurrent merge-patches of Deployment ``name``'s replicas (values drawn with
    ``seed`` between ``low`` and ``high``) through the gateway, as docs/chaos.md scenario 7.
    ``results``: (HTTP status, resourceVersion of the answer or None, replicas sent) per patch;
    ``last_acknowledged``: the replicas of the acknowledged answer with the highest
    resourceVersion, what etcd must hold and the cluster converge to."""

    api: Api
    name: str = "web"
    count: int = 500
    low: int = 1
    high: int = 12
    seed: int = 0
    patch_timeout: float = 120.0  # seconds each patch may take (scenario 7's p99 was 18.5 s)
    results: list[tuple[int, int | None, int]] = field(default_factory=list)
    seconds: float = 0.0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        rng = random.Random(self.seed)
        wanted = [rng.randint(self.low, self.high) for _ in range(self.count)]

        async def patch(replicas: int) -> tuple[int, int | None, int]:
            # the gateway queues unconditional writes of one object: the last waits for all others
            status, doc = await self.api.scale(self.name, replicas, timeout=self.patch_timeout)
            ok = status == 200 and isinstance(doc, dict)
            return status, int(doc["metadata"]["resourceVersion"]) if ok else None, replicas

        began = clock.monotonic()
        self.results = list(await asyncio.gather(*(patch(n) for n in wanted)))
        self.seconds = clock.monotonic() - began

    async def wait(self) -> None:
        if self._task is not None:
            await self._task

    @property
    def last_acknowledged(self) -> int | None:
        acknowledged = [(rv, replicas) for status, rv, replicas in self.results if rv is not None]
        return max(acknowledged)[1] if acknowledged else None


@dataclass
class PodCountMonitor:
    """Samples every ``interval`` s how many live (not terminating) pods each Deployment's
    ReplicaSets own beyond its ``spec.replicas``; ``max_excess`` keeps the worst per Deployment
    (a rolling update's surge counts: bound it with the strategy's ``maxSurge``)."""

    store: Store
    interval: float = 0.5
    max_excess: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # etcd may be electing: skip this sample
                for name, excess in (await pod_excess(self.store)).items():
                    self.max_excess[name] = max(self.max_excess.get(name, excess), excess)
                self.samples += 1
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)


async def pod_excess(store: Store) -> dict[str, int]:
    """Per Deployment: live pods it owns (through its ReplicaSets) minus ``spec.replicas``."""
    deployments = (await store.list(DEPLOYMENTS, NAMESPACE)).items
    rs_owner = {rs.metadata.uid: controller_uid(rs) for rs in (await store.list(REPLICASETS, NAMESPACE)).items}
    live: dict[str | None, int] = {}
    for pod in (await store.list(PODS, NAMESPACE)).items:
        if pod.metadata.deletion_timestamp is None:
            owner = rs_owner.get(controller_uid(pod))
            live[owner] = live.get(owner, 0) + 1
    return {d.name: live.get(d.metadata.uid, 0) - (d.spec.replicas or 0) for d in deployments}


@dataclass
class UserWorkload:
    """Your own ``async def fn(stop: asyncio.Event) -> None``, run for the scenario: return (or
    raise) when ``stop`` is set. An exception fails the scenario's ``workload`` check."""

    fn: Callable[[asyncio.Event], Awaitable[None]]
    error: BaseException | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.fn(self._stop)
        except Exception as exc:  # noqa: BLE001 - the user's failure, reported by the check
            self.error = exc

    async def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                self.error = TimeoutError(f"the workload did not return {timeout}s after stop")
