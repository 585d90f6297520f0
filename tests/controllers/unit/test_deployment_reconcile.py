"""The Deployment controller's reconcile on the in-memory Store: the ReplicaSet it makes, the status
it writes, and a rolling update taken one reconcile at a time. The ReplicaSet controller runs beside
it (it turns ReplicaSets into pods and pod readiness into the ReplicaSet status the Deployment reads);
pods become Ready only when the test writes their status. Real-etcd tests: tests/controllers/test_deployment.py."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.apps import Deployment, ReplicaSet
from kubelite.api.resources import DEPLOYMENTS, PODS, REPLICASETS
from kubelite.client.informer import object_key
from kubelite.util.clock import FakeClock

from controllers import rollout
from controllers.deployment import DeploymentController
from controllers.replicaset import ReplicaSetController
from tests.controllers.objects import deployment
from tests.controllers.unit.conftest import MakeWorld, World
from tests.controllers.unit.kubelet import run_ready

pytestmark = pytest.mark.timeout(30)


class Cluster:
    """The Deployment world plus a ReplicaSet controller on the same store and informers."""

    def __init__(self, world: World[DeploymentController]) -> None:
        self.world, self.store = world, world.store
        self.replicasets = ReplicaSetController(world.controller.ctx)
        self.replicasets.register()  # a late handler is replayed the cache: its expectations see every pod

    async def deployment(self, name: str) -> Deployment:
        return await self.store.get(DEPLOYMENTS, name, "default")

    async def sets(self) -> list[ReplicaSet]:
        return (await self.store.list(REPLICASETS, "default")).items

    async def rs_reconcile(self, rs: ReplicaSet) -> None:
        await self.world.settle()
        await self.replicasets.reconcile(object_key(rs))
        await self.world.settle()

    async def step(self, key: str, *, ready: bool = True) -> None:
        """One pass of everything: the Deployment, then its ReplicaSets (pods made or deleted), then — if
        ``ready`` — every live pod turns Running and Ready, and the ReplicaSets count them."""
        await self.world.reconcile(key)
        for rs in await self.sets():
            await self.rs_reconcile(rs)
        if ready:
            for pod in (await self.store.list(PODS, "default")).items:
                if pod.metadata.deletion_timestamp is None and not pod.is_ready():
                    await run_ready(self.store, pod)
            for rs in await self.sets():
                await self.rs_reconcile(rs)


@pytest.fixture
async def cluster(make_world: MakeWorld) -> Cluster:
    clock = FakeClock()
    return Cluster(await make_world(DeploymentController, clock=clock.now, monotonic=clock.monotonic))


async def test_creates_one_hashed_replicaset_and_reports_status_idempotently(cluster: Cluster) -> None:
    d = await cluster.store.create(DEPLOYMENTS, deployment("web", 3))
    key = object_key(d)
    await cluster.world.reconcile(key)
    [rs] = await cluster.sets()
    assert rs.spec.replicas == 3
    assert rs.metadata.controller_ref() is not None and rs.metadata.controller_ref().uid == d.metadata.uid  # type: ignore[union-attr]
    assert rs.name == f"web-{rs.metadata.labels[rollout.HASH_LABEL]}"  # type: ignore[index]
    assert rs.spec.template is not None and rs.spec.template.metadata is not None
    assert rs.spec.template.metadata.labels == {"app": "web", rollout.HASH_LABEL: rs.metadata.labels[rollout.HASH_LABEL]}  # type: ignore[index]
    assert (rs.metadata.annotations or {}).get(rollout.REVISION) == "1"
    stored = await cluster.deployment("web")
    assert (stored.metadata.annotations or {}).get(rollout.REVISION) == "1"
    assert stored.status is not None and stored.status.observed_generation == 1
    progressing = next(c for c in stored.status.conditions or [] if c.type == "Progressing")
    assert progressing.status == "True" and progressing.reason == "NewReplicaSetCreated"

    before = cluster.store.revision
    await cluster.world.reconcile(key)  # nothing changed: nothing written
    assert cluster.store.revision == before


async def test_status_follows_the_replicasets_pods_becoming_available(cluster: Cluster) -> None:
    d = await cluster.store.create(DEPLOYMENTS, deployment("web", 2))
    key = object_key(d)
    await cluster.step(key)
    await cluster.world.reconcile(key)
    status = (await cluster.deployment("web")).status
    assert status is not None
    assert (status.replicas, status.updated_replicas, status.ready_replicas, status.available_replicas) == (2, 2, 2, 2)
    available = next(c for c in status.conditions or [] if c.type == "Available")
    assert available.status == "True" and available.reason == "MinimumReplicasAvailable"
    progressing = next(c for c in status.conditions or [] if c.type == "Progressing")
    assert progressing.reason == "NewReplicaSetAvailable"


async def test_rolling_update_keeps_within_max_surge_and_max_unavailable_at_every_step(cluster: Cluster) -> None:
    d = await cluster.store.create(DEPLOYMENTS, deployment("web", 4, max_surge=1, max_unavailable=1))
    key = object_key(d)
    await cluster.step(key)
    await cluster.step(key)
    current = await cluster.deployment("web")
    current.spec.template.spec.containers[0].image = "demo:2"  # type: ignore[union-attr]
    await cluster.store.update(DEPLOYMENTS, current)

    steps = 0
    while True:
        await cluster.step(key)
        steps += 1
        sets = await cluster.sets()
        # maxSurge: never more than 4 + 1 pods asked for; maxUnavailable: never fewer than 4 - 1 available
        assert sum(rs.spec.replicas or 0 for rs in sets) <= 5, [(rs.name, rs.spec.replicas) for rs in sets]
        assert sum((rs.status.available_replicas or 0) if rs.status else 0 for rs in sets) >= 3
        status = (await cluster.deployment("web")).status
        if status is not None and status.updated_replicas == 4 and status.available_replicas == 4 and \
                status.replicas == 4:
            break
        assert steps < 12, "the rollout did not finish"
    assert steps > 2  # it went in steps, not all at once
    new = [rs for rs in await cluster.sets() if rs.spec.template.spec.containers[0].image == "demo:2"]  # type: ignore[union-attr]
    old = [rs for rs in await cluster.sets() if rs not in new]
    assert [rs.spec.replicas for rs in new] == [4] and [rs.spec.replicas for rs in old] == [0]
    assert (new[0].metadata.annotations or {}).get(rollout.REVISION) == "2"
    assert ((await cluster.deployment("web")).metadata.annotations or {}).get(rollout.REVISION) == "2"


async def test_recreate_makes_no_new_replicaset_until_the_old_pods_are_gone(cluster: Cluster) -> None:
    d = await cluster.store.create(DEPLOYMENTS, deployment("web", 2, strategy="Recreate"))
    key = object_key(d)
    await cluster.step(key)
    current = await cluster.deployment("web")
    current.spec.template.spec.containers[0].image = "demo:2"  # type: ignore[union-attr]
    await cluster.store.update(DEPLOYMENTS, current)

    await cluster.world.reconcile(key)
    [old] = await cluster.sets()  # kube's rolloutRecreate: old scaled to 0, no new ReplicaSet yet
    assert old.spec.replicas == 0
    await cluster.world.reconcile(key)  # its pods still run: still nothing new
    assert len(await cluster.sets()) == 1 and len(await live_pods(cluster)) == 2

    await cluster.rs_reconcile(old)  # the ReplicaSet controller deletes them
    assert await live_pods(cluster) == []
    await cluster.world.reconcile(key)
    sets = {rs.spec.template.spec.containers[0].image: rs.spec.replicas for rs in await cluster.sets()}  # type: ignore[union-attr]
    assert sets == {"demo:1": 0, "demo:2": 2}


async def live_pods(cluster: Cluster) -> list[Any]:
    return [p for p in (await cluster.store.list(PODS, "default")).items if p.metadata.deletion_timestamp is None]
