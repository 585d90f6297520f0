"""The node-lifecycle controller's reconcile on the in-memory Store with a fake clock. The store has no
TTLs, so a node's lease expiring is modelled as what etcd does then: the Lease object is deleted.
Ready=Unknown and the unreachable taint after the grace period, its pods Ready=False at once,
eviction when their tolerations run out, force-deletion once the grace period of a pod that no agent
will confirm is over, recovery when the lease is back; a node reporting NotReady itself; a deleted
Node's pods. The real-etcd tests (tests/controllers/test_nodelifecycle.py) stay as they are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from kubelite.api import errors
from kubelite.api.coordination import Lease, LeaseSpec
from kubelite.api.core import Node, NodeCondition, NodeSpec, NodeStatus, Pod, Toleration
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import LEASES, NODES, PODS
from kubelite.storage.memstore import MemStore
from kubelite.util.clock import FakeClock

from controllers.context import NODE_LEASE_NAMESPACE, Settings
from controllers.nodelifecycle import NodeLifecycleController
from controllers.taints import DISK_PRESSURE, NOT_READY, UNREACHABLE, UNSCHEDULABLE
from tests.controllers.objects import report_condition
from tests.controllers.unit.conftest import MakeWorld, World
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(30)

GRACE = 40.0  # node_monitor_grace_seconds, as kube-controller-manager's default
TOLERATION = 300  # the default not-ready/unreachable tolerationSeconds admission gives every pod
POD_GRACE = 30


@dataclass
class Cluster:
    world: World[NodeLifecycleController]
    clock: FakeClock

    @property
    def store(self) -> MemStore:
        return self.world.store

    async def reconcile(self, node: str = "n1") -> Any:
        return await self.world.reconcile(node)

    async def node(self, name: str = "n1") -> tuple[str | None, list[tuple[str, str, datetime | None]]]:
        """(Ready status, [(taint key, effect, timeAdded)])."""
        node = await self.store.get(NODES, name)
        condition = node.status.condition("Ready") if node.status else None
        return (condition.status if condition else None), [(t.key, t.effect, t.time_added) for t in node.taints]

    async def pod(self, name: str) -> Pod | None:
        try:
            return await self.store.get(PODS, name, "default")
        except errors.ApiError as exc:
            assert exc.code == 404
            return None

    async def pod_ready(self, name: str) -> str | None:
        pod = await self.pod(name)
        condition = pod.status.condition("Ready") if pod is not None and pod.status else None
        return condition.status if condition else None


@pytest.fixture
async def cluster(make_world: MakeWorld) -> Cluster:
    clock = FakeClock()
    world = await make_world(NodeLifecycleController, store=MemStore(clock=clock.now_seconds), clock=clock.now,
                             monotonic=clock.monotonic, settings=Settings(node_monitor_grace_seconds=GRACE))
    return Cluster(world, clock)


async def add_node(cluster: Cluster, name: str, *, ready: str = "True", since: datetime | None = None) -> None:
    await cluster.store.create(LEASES, Lease(metadata=ObjectMeta(name=name, namespace=NODE_LEASE_NAMESPACE),
                                             spec=LeaseSpec(holder_identity=name, lease_duration_seconds=40)))
    status = NodeStatus(conditions=[NodeCondition(type="Ready", status=ready, reason="KubeletReady",
                                                  last_transition_time=since or cluster.clock.now())])
    created = await cluster.store.create(NODES, Node(metadata=ObjectMeta(name=name), spec=NodeSpec()))
    created.status = status
    await cluster.store.update(NODES, created, subresource="status")


async def add_pod(cluster: Cluster, name: str, node: str = "n1", *, ready_since: datetime | None = None,
                  tolerations: list[Toleration] | None = None) -> None:
    """A pod its agent runs on ``node``, Ready since ``ready_since`` (default: now)."""
    created = await cluster.store.create(PODS, Pod.model_validate({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": POD_GRACE,
                 "tolerations": [t.to_dict() for t in tolerations or []],
                 "containers": [{"name": "c", "image": "x"}]}}))
    since = (ready_since or cluster.clock.now()).isoformat()
    created.status = Pod.model_validate({"status": {"phase": "Running", "podIP": "10.1.0.1", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": since}]}}).status
    await cluster.store.update(PODS, created, subresource="status")


async def lease_expires(cluster: Cluster, node: str = "n1") -> None:
    """What etcd does when the agent's lease TTL runs out: the Lease key goes. The controller's
    grace runs from when its informer sees that, so the caches settle before the clock moves."""
    await cluster.store.delete(LEASES, node, NODE_LEASE_NAMESPACE)
    await cluster.world.settle()


async def assert_idempotent(cluster: Cluster, node: str = "n1") -> None:
    before = cluster.store.revision
    await cluster.reconcile(node)
    assert cluster.store.revision == before, "a second reconcile wrote something"


async def test_a_lost_lease_makes_the_node_unknown_after_the_grace_and_its_pods_not_ready(cluster: Cluster) -> None:
    await add_node(cluster, "n1")
    await add_pod(cluster, "web")
    assert await cluster.reconcile() is None  # healthy: nothing to do
    await assert_idempotent(cluster)

    await lease_expires(cluster)
    cluster.clock.advance(GRACE - 1)
    before = cluster.store.revision
    result = await cluster.reconcile()
    assert cluster.store.revision == before  # within the grace: nothing yet
    assert result is not None and result.requeue_after == pytest.approx(1.05)

    cluster.clock.advance(1)
    result = await cluster.reconcile()
    now = cluster.clock.now()
    # the taint manager's NoExecute taint, and TaintNodesByCondition's NoSchedule one for Ready=Unknown
    assert await cluster.node() == ("Unknown", [(UNREACHABLE, "NoExecute", now), (UNREACHABLE, "NoSchedule", now)])
    assert await cluster.pod_ready("web") == "False"  # MarkPodsNotReady, before any eviction
    assert result is not None and result.requeue_after == pytest.approx(TOLERATION)  # when its toleration ends
    await assert_idempotent(cluster)


async def test_pods_are_evicted_when_their_toleration_ends_then_force_deleted_and_the_node_recovers(
        cluster: Cluster) -> None:
    await add_node(cluster, "n1")
    await add_pod(cluster, "web")
    await add_pod(cluster, "stays", tolerations=[Toleration(key=UNREACHABLE, operator="Exists", effect="NoExecute")])
    await lease_expires(cluster)
    await cluster.reconcile()
    cluster.clock.advance(GRACE)
    await cluster.reconcile()  # Unknown, tainted: the tolerations' clocks start now

    cluster.clock.advance(TOLERATION - 1)
    before = cluster.store.revision
    await cluster.reconcile()
    assert cluster.store.revision == before  # a second short of the toleration

    cluster.clock.advance(1)
    await cluster.reconcile()
    evicted = await cluster.pod("web")
    assert evicted is not None and evicted.status is not None
    assert evicted.metadata.deletion_timestamp == cluster.clock.now() + timedelta(seconds=POD_GRACE)
    disruption = evicted.status.condition("DisruptionTarget")
    assert disruption is not None and (disruption.status, disruption.reason) == ("True", "DeletionByTaintManager")
    stays = await cluster.pod("stays")
    assert stays is not None and stays.metadata.deletion_timestamp is None  # tolerates forever

    result = await cluster.reconcile()  # its agent is gone: nobody confirms the pod stopped
    assert await cluster.pod("web") is not None
    assert result is not None and result.requeue_after == pytest.approx(POD_GRACE)
    cluster.clock.advance(POD_GRACE)
    await cluster.reconcile()
    assert await cluster.pod("web") is None  # force-deleted once its grace period is over

    await cluster.store.create(LEASES, Lease(metadata=ObjectMeta(name="n1", namespace=NODE_LEASE_NAMESPACE),
                                             spec=LeaseSpec(holder_identity="n1", lease_duration_seconds=40)))
    await cluster.reconcile()
    assert await cluster.node() == ("True", [])
    await assert_idempotent(cluster)


async def test_a_node_reporting_not_ready_is_tainted_and_only_pods_ready_before_it_are_marked(
        cluster: Cluster) -> None:
    start = cluster.clock.now()
    await add_node(cluster, "n1", ready="False", since=start + timedelta(seconds=10))
    await add_pod(cluster, "before", ready_since=start)
    await add_pod(cluster, "after", ready_since=start + timedelta(seconds=20))  # its live agent's word
    cluster.clock.advance(30)
    await cluster.reconcile()
    now = cluster.clock.now()
    assert await cluster.node() == ("False", [(NOT_READY, "NoExecute", now), (NOT_READY, "NoSchedule", now)])
    assert await cluster.pod_ready("before") == "False"
    assert await cluster.pod_ready("after") == "True"
    await assert_idempotent(cluster)


async def test_condition_taints_follow_disk_pressure_and_cordon(cluster: Cluster) -> None:
    """TaintNodesByCondition: the agent reports DiskPressure, the controller taints (NoSchedule only:
    nothing is evicted for it); a cordon gets the unschedulable taint; both go with their cause."""
    await add_node(cluster, "n1")
    await add_pod(cluster, "web")


    await report_condition(cluster.store, "n1", "DiskPressure", "True")
    await cluster.reconcile()
    now = cluster.clock.now()
    assert await cluster.node() == ("True", [(DISK_PRESSURE, "NoSchedule", now)])
    assert (await cluster.pod("web")) is not None and await cluster.pod_ready("web") == "True"
    await assert_idempotent(cluster)

    def cordon(node: Node) -> Node:
        node.spec = NodeSpec(unschedulable=True, taints=node.spec.taints if node.spec else None)
        return node
    await cluster.store.guaranteed_update(NODES, "n1", None, cordon)
    cluster.clock.advance(5)
    await cluster.reconcile()
    assert await cluster.node() == ("True", [(DISK_PRESSURE, "NoSchedule", now),
                                             (UNSCHEDULABLE, "NoSchedule", cluster.clock.now())])
    await report_condition(cluster.store, "n1", "DiskPressure", "False")
    await cluster.reconcile()
    assert [key for key, _effect, _at in (await cluster.node())[1]] == [UNSCHEDULABLE]
    await assert_idempotent(cluster)


async def test_the_pods_of_a_deleted_node_are_deleted_at_once(cluster: Cluster) -> None:
    await add_node(cluster, "n1")
    await add_node(cluster, "n2")
    await add_pod(cluster, "on-n1", "n1")
    await add_pod(cluster, "on-n2", "n2")
    await cluster.store.delete(NODES, "n1")
    await cluster.reconcile("n1")
    assert await cluster.pod("on-n1") is None  # bound, yet no grace: no agent will ever stop it
    assert await cluster.pod("on-n2") is not None
    await assert_idempotent(cluster, "n1")


async def test_a_node_missing_only_from_the_node_cache_keeps_its_pods(cluster: Cluster) -> None:
    """The nodes and pods informers are separate watches: a pod bound to a node registered just
    before it can reach the pod cache first. Taking the Node's absence from the cache for its
    deletion force-deleted such pods (CI: test_endpointslice's lease test waited 30 s for a pod
    deleted as NodeDeleted milliseconds after it was made). The node informer is stopped here, the
    extreme of that lag; "deleted" must come from the store."""
    await cluster.world.informers.nodes.stop()
    await add_node(cluster, "n1")
    await add_pod(cluster, "web", "n1")
    pods = cluster.world.informers.pods
    await wait_for(lambda: len(pods.by_index("node", "n1")) == 1, 5)
    assert cluster.world.informers.nodes.get("n1") is None
    await cluster.world.controller.reconcile("n1")  # not world.reconcile: that waits for every cache
    assert await cluster.pod("web") is not None
    await cluster.store.delete(NODES, "n1")
    await cluster.world.controller.reconcile("n1")
    assert await cluster.pod("web") is None
