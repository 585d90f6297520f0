"""The DaemonSet controller's reconcile on the in-memory Store: one pod per eligible node (nodeSelector,
taints), nodes coming and going, status, and a rolling update one node at a time. The test plays the
scheduler (binds the pinned pod to its node) and the kubelet (writes Running/Ready). Real-etcd tests:
tests/controllers/test_daemonset.py."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.core import Pod, Taint
from kubelite.api.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from kubelite.api.workloads import REVISION_HASH_LABEL

from controllers.daemonset import DaemonSetController
from tests.controllers.test_daemonset import daemonset
from tests.controllers.unit.conftest import MakeWorld, World
from tests.controllers.unit.kubelet import ready_node, run_ready

pytestmark = pytest.mark.timeout(30)

KEY = "default/agent"


@pytest.fixture
async def world(make_world: MakeWorld) -> World[DaemonSetController]:
    return await make_world(DaemonSetController)


async def live(world: World[Any]) -> list[Pod]:
    return [p for p in (await world.store.list(PODS, "default")).items if p.metadata.deletion_timestamp is None]


def pinned_node(pod: Pod) -> str:
    terms = pod.spec.affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]  # type: ignore[index]
    [term] = terms
    [field] = term["matchFields"]
    assert field["key"] == "metadata.name" and field["operator"] == "In"
    [node] = field["values"]
    return str(node)


async def bind_and_run(world: World[Any]) -> None:
    """The scheduler binds every pod to the node it is pinned to; the kubelet runs it Ready."""
    for pod in await live(world):
        if not pod.spec.node_name:
            pod.spec.node_name = pinned_node(pod)
            pod = await world.store.update(PODS, pod)
        if not pod.is_ready():
            await run_ready(world.store, pod)


async def status(world: World[Any]) -> dict[str, Any]:
    doc = (await world.store.get(DAEMONSETS, "agent", "default")).to_dict()
    return dict(doc.get("status") or {})


async def test_one_pod_per_eligible_node_with_status_and_idempotence(world: World[DaemonSetController]) -> None:
    await ready_node(world.store, "n1", labels={"disk": "ssd"})
    await ready_node(world.store, "n2", labels={"disk": "ssd"}, taints=[Taint(key="dedicated", value="x", effect="NoSchedule")])
    await ready_node(world.store, "n3", labels={"disk": "hdd"})
    await ready_node(world.store, "n4", labels={"disk": "ssd"})
    await world.store.create(DAEMONSETS, daemonset("agent", node_selector={"disk": "ssd"}))
    await world.reconcile(KEY)
    pods = await live(world)
    assert sorted(pinned_node(p) for p in pods) == ["n1", "n4"]  # n2: untolerated taint; n3: no match
    [revision] = (await world.store.list(CONTROLLERREVISIONS, "default")).items
    assert {(p.metadata.labels or {}).get(REVISION_HASH_LABEL) for p in pods} == {revision.name.rsplit("-", 1)[-1]}
    tolerated = {(t.key, t.effect) for t in pods[0].spec.tolerations or []}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in tolerated

    await bind_and_run(world)
    await world.reconcile(KEY)
    s = await status(world)
    assert {k: s.get(k) for k in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                                  "numberAvailable", "numberMisscheduled", "updatedNumberScheduled",
                                  "observedGeneration")} == {
        "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 2, "numberAvailable": 2,
        "numberMisscheduled": 0, "updatedNumberScheduled": 2, "observedGeneration": 1}

    before = world.store.revision
    await world.reconcile(KEY)
    assert world.store.revision == before  # nothing to do: nothing written


async def test_nodes_coming_going_and_a_noexecute_taint(world: World[DaemonSetController]) -> None:
    await ready_node(world.store, "n1")
    await world.store.create(DAEMONSETS, daemonset("agent"))
    await world.reconcile(KEY)
    await ready_node(world.store, "n2")
    await world.reconcile(KEY)
    assert sorted(pinned_node(p) for p in await live(world)) == ["n1", "n2"]
    await bind_and_run(world)

    await world.store.delete(NODES, "n2")
    await world.reconcile(KEY)
    assert sorted(pinned_node(p) for p in await live(world)) == ["n1"]

    def taint(node: Any) -> Any:
        node.spec.taints = [Taint(key="evict", effect="NoExecute")]
        return node
    await world.store.guaranteed_update(NODES, "n1", None, taint)
    await world.reconcile(KEY)
    assert await live(world) == []  # the daemon pod does not tolerate it: it goes
    await world.reconcile(KEY)
    assert await live(world) == []  # and is not made again


async def test_rolling_update_replaces_one_node_at_a_time(world: World[DaemonSetController]) -> None:
    for name in ("n1", "n2", "n3"):
        await ready_node(world.store, name)
    await world.store.create(DAEMONSETS, daemonset("agent"))  # maxUnavailable 1
    await world.reconcile(KEY)
    await bind_and_run(world)
    await world.reconcile(KEY)
    current = await world.store.get(DAEMONSETS, "agent", "default")
    doc = current.to_dict()
    doc["spec"]["template"]["spec"]["containers"][0]["image"] = "demo:2"
    await world.store.update(DAEMONSETS, DAEMONSETS.model.model_validate(doc))

    for _ in range(12):
        await world.reconcile(KEY)
        pods = await live(world)
        unavailable = 3 - sum(1 for p in pods if p.is_ready())
        assert unavailable <= 1, [(p.name, p.spec.containers[0].image, p.is_ready()) for p in pods]
        if len(pods) == 3 and all(p.spec.containers[0].image == "demo:2" and p.is_ready() for p in pods):
            break
        await bind_and_run(world)
    else:
        raise AssertionError("the rolling update did not finish")
    assert len((await world.store.list(CONTROLLERREVISIONS, "default")).items) == 2
