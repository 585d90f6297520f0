"""The ReplicaSet controller's reconcile on the in-memory Store (kubelite.storage.memstore): informers, reconcile,
claims and status without etcd, in milliseconds. The real-etcd tests (tests/controllers/test_replicaset.py)
stay as they are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from kubelite.api.resources import PODS, REPLICASETS
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.client.informer import object_key
from kubelite.storage.memstore import MemStore

from controllers.context import ControllerContext, SharedInformers
from controllers.replicaset import ReplicaSetController
from tests.controllers.objects import bare_pod, replicaset
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(30)


@dataclass
class World:
    store: MemStore
    informers: SharedInformers
    controller: ReplicaSetController

    async def settle(self) -> None:
        """Until the pod and ReplicaSet caches hold exactly what the store holds."""
        async def caught_up() -> bool:
            for res, informer in ((PODS, self.informers.pods), (REPLICASETS, self.informers.replicasets)):
                stored = {object_key(o): o.metadata.resource_version for o in (await self.store.list(res)).items}
                cached = {object_key(o): o.metadata.resource_version for o in informer.list()}
                if stored != cached:
                    return False
            return True
        await wait_for(caught_up, 5)

    async def pods(self) -> list[object]:
        return (await self.store.list(PODS, "default")).items


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store = MemStore()
    await ensure_system_namespaces(store)
    informers = SharedInformers.create(store)
    controller = ReplicaSetController(ControllerContext(store=store, informers=informers))
    controller.register()
    for informer in informers.all():
        await informer.start()
    for informer in informers.all():
        await informer.wait_synced(5)
    try:
        yield World(store, informers, controller)
    finally:
        for informer in informers.all():
            await informer.stop()


async def _reconcile(world: World, key: str) -> None:
    await wait_for(lambda: world.informers.replicasets.get(key) is not None, 5)
    await world.controller.reconcile(key)
    await world.settle()


async def test_creates_missing_replicas_owned_by_the_replicaset_and_reports_status(world: World) -> None:
    rs = await world.store.create(REPLICASETS, replicaset("web", 3))
    key = object_key(rs)
    await _reconcile(world, key)
    pods = await world.pods()
    assert len(pods) == 3
    assert all(p.metadata.owner_references[0].uid == rs.metadata.uid for p in pods)  # type: ignore[attr-defined]
    await _reconcile(world, key)
    stored = await world.store.get(REPLICASETS, "web", "default")
    assert stored.status.replicas == 3 and stored.status.observed_generation == 1
    await _reconcile(world, key)  # idempotent: nothing more to do
    assert len(await world.pods()) == 3


async def test_scale_down_deletes_the_surplus_and_adopts_a_matching_orphan(world: World) -> None:
    await world.store.create(PODS, bare_pod("orphan", labels={"app": "web"}))
    rs = await world.store.create(REPLICASETS, replicaset("web", 2))
    key = object_key(rs)
    await _reconcile(world, key)
    pods = {p.name: p for p in await world.pods()}  # type: ignore[attr-defined]
    assert len(pods) == 2 and pods["orphan"].metadata.owner_references[0].uid == rs.metadata.uid
    current = await world.store.get(REPLICASETS, "web", "default")
    current.spec.replicas = 1
    await world.store.update(REPLICASETS, current)
    await world.settle()
    await _reconcile(world, key)
    assert len(await world.pods()) == 1
