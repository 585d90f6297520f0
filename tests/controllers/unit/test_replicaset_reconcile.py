"""The ReplicaSet controller's reconcile on the in-memory Store (kubelite.storage.memstore): informers, reconcile,
claims and status without etcd, in milliseconds. The real-etcd tests (tests/controllers/test_replicaset.py)
stay as they are."""

from __future__ import annotations


import pytest

from kubelite.api.resources import PODS, REPLICASETS
from kubelite.client.informer import object_key

from controllers.replicaset import ReplicaSetController
from tests.controllers.objects import bare_pod, replicaset
from tests.controllers.unit.conftest import MakeWorld

pytestmark = pytest.mark.timeout(30)


async def test_creates_missing_replicas_owned_by_the_replicaset_and_reports_status(make_world: MakeWorld) -> None:
    world = await make_world(ReplicaSetController)
    rs = await world.store.create(REPLICASETS, replicaset("web", 3))
    key = object_key(rs)
    await world.reconcile(key)
    created = await world.pods()
    assert len(created) == 3
    assert all(p.metadata.owner_references[0].uid == rs.metadata.uid for p in created)  # type: ignore[index]
    await world.reconcile(key)
    stored = await world.store.get(REPLICASETS, "web", "default")
    assert stored.status is not None and stored.status.replicas == 3 and stored.status.observed_generation == 1
    before = world.store.revision
    await world.reconcile(key)  # idempotent: nothing more to do
    assert world.store.revision == before and len(await world.pods()) == 3


async def test_scale_down_deletes_the_surplus_and_adopts_a_matching_orphan(make_world: MakeWorld) -> None:
    world = await make_world(ReplicaSetController)
    await world.store.create(PODS, bare_pod("orphan", labels={"app": "web"}))
    rs = await world.store.create(REPLICASETS, replicaset("web", 2))
    key = object_key(rs)
    await world.reconcile(key)
    by_name = {p.name: p for p in await world.pods()}
    assert len(by_name) == 2 and by_name["orphan"].metadata.owner_references[0].uid == rs.metadata.uid  # type: ignore[index]
    current = await world.store.get(REPLICASETS, "web", "default")
    current.spec.replicas = 1
    await world.store.update(REPLICASETS, current)
    await world.reconcile(key)
    assert len(await world.pods()) == 1
