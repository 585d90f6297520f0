"""The scheduler's two cycles on the in-memory Store: decisions are made one at a time, in priority
order, and never wait for a write — kube-scheduler's serial scheduling cycle beside concurrent
binding cycles. The writes are held at a gate, so what the scheduling cycle did while they were in
flight is observable without any timing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelite.api.coordination import Lease, LeaseSpec
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import LEASES, NODES, PODS, PRIORITYCLASSES, Resource
from kubelite.storage.memstore import MemStore
from kubelite.storage.store import T

from controllers.scheduler import Scheduler
from tests.controllers.objects import bare_pod
from tests.controllers.unit.conftest import MakeWorld
from tests.controllers.unit.kubelet import ready_node
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(30)


class GatedStore(MemStore):
    """Pod writes (binds and status reports) wait at ``gate``; the order binds were asked in is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.binds: list[str] = []
        self.reports = 0

    async def update(self, res: Resource[T], obj: T, *, subresource: Any = None, **kwargs: Any) -> T:
        if res is PODS and subresource == "status":
            self.reports += 1
            await self.gate.wait()
        return await super().update(res, obj, subresource=subresource, **kwargs)

    async def bind(self, namespace: str, name: str, node: str, **kwargs: Any) -> str:
        self.binds.append(name)
        await self.gate.wait()
        return await super().bind(namespace, name, node, **kwargs)


@pytest.fixture
async def world(make_world: MakeWorld) -> AsyncIterator[tuple[GatedStore, Scheduler]]:
    store = GatedStore()
    scheduler = (await make_world(Scheduler, store=store)).controller
    await scheduler.start_leading(None)
    try:
        yield store, scheduler
    finally:
        store.gate.set()  # let the held writes end before the world is stopped


async def add_node(store: MemStore, name: str) -> None:
    """A Ready node (4 CPUs) with its heartbeat lease."""
    await store.create(LEASES, Lease(metadata=ObjectMeta(name=name, namespace="kube-node-lease"),
                                     spec=LeaseSpec(holder_identity=name, lease_duration_seconds=40)))
    await ready_node(store, name)


async def test_the_highest_priority_pod_binds_first_while_earlier_reports_are_still_in_flight(
    world: tuple[GatedStore, Scheduler],
) -> None:
    store, scheduler = world
    await store.create(PRIORITYCLASSES, PRIORITYCLASSES.model.model_validate({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "urgent"}, "value": 100}))
    for i in range(5):
        await store.create(PODS, bare_pod(f"low-{i}", cpu="3"))
    high = bare_pod("high", cpu="3")
    high.spec.priority_class_name = "urgent"
    await store.create(PODS, high)
    # no node: six decisions, six PodScheduled=False reports held at the gate
    await wait_for(lambda: store.reports == 6, 10)

    await add_node(store, "n1")  # 4 CPUs: room for one
    # every pod is decided again although its report is still in flight; the first decision taken
    # is the highest priority's, so it is the one bound and the others no longer fit
    await wait_for(lambda: store.binds == ["high"] and scheduler.unschedulable == {f"default/low-{i}" for i in range(5)},
                   10)
    assert store.binds == ["high"]

    store.gate.set()

    async def placed() -> dict[str, str | None]:
        return {p.name: p.spec.node_name for p in (await store.list(PODS, "default")).items}
    await wait_for(lambda: _is(placed, {"high": "n1", **{f"low-{i}": None for i in range(5)}}), 10)
    stored = await store.get(PODS, "high", "default")
    condition = stored.status.condition("PodScheduled") if stored.status else None
    assert condition is not None and condition.status == "True"  # the bind won over its own stale report


async def _is(get: Any, wanted: object) -> bool:
    return bool(await get() == wanted)


async def test_a_large_cluster_is_decided_on_columns_kept_in_step(world: tuple[GatedStore, Scheduler]) -> None:
    """70 nodes: the scheduling cycle decides on the node table (controllers/scheduling/table.py),
    which the scheduler refreshes as it assumes pods and as nodes change; its rows always equal a
    table built anew, and a cordoned node gets nothing."""
    store, scheduler = world
    store.gate.set()
    for i in range(70):
        await add_node(store, f"n{i:02d}")
    for i in range(150):
        await store.create(PODS, bare_pod(f"p{i:03d}", cpu="1"))

    async def placed() -> dict[str, str | None]:
        return {p.name: p.spec.node_name for p in (await store.list(PODS, "default")).items}
    await wait_for(lambda: _all_bound(placed), 20)
    table = scheduler.node_table(scheduler.node_infos())
    assert table is not None and table.matches(scheduler.node_infos())
    per_node = Counter((await placed()).values())
    assert max(per_node.values()) <= 4  # 4 CPUs each: the columns filtered on what was assumed

    cordoned = await store.get(NODES, "n00")
    cordoned.spec.unschedulable = True
    await store.update(NODES, cordoned)
    before = per_node["n00"]
    for i in range(150, 200):
        await store.create(PODS, bare_pod(f"p{i:03d}", cpu="1"))
    await wait_for(lambda: _all_bound(placed), 20)
    assert Counter((await placed()).values())["n00"] == before
    table = scheduler.node_table(scheduler.node_infos())
    assert table is not None and table.matches(scheduler.node_infos())


async def _all_bound(placed: Any) -> bool:
    return all(node is not None for node in (await placed()).values())
