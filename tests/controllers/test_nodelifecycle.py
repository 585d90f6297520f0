"""Node lifecycle against real etcd with fake kubelets: unreachable → taint → eviction →
replacement elsewhere; return → Ready; agent NotReady → not-ready taint; Node deleted."""

from __future__ import annotations

import time
from typing import Any

from kubelite.api.core import Pod, Toleration
from kubelite.client.informer import FuncHandler, Informer
from kubelite.api.resources import DEPLOYMENTS, EVENTS, NODES, PODS, REPLICASETS
from kubelite.storage.store import Store

from controllers.taints import DISK_PRESSURE, NOT_READY, UNREACHABLE
from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import (
    bare_pod, delete_retrying, deployment, pods, replicaset, report_condition, running_ready,
)
from tests.helpers import wait_for


async def node_state(store: Store, name: str) -> tuple[str | None, set[str]]:
    node = await store.get(NODES, name)
    condition = node.status.condition("Ready") if node.status else None
    return (condition.status if condition else None), {t.key for t in node.taints}


async def test_dead_agent_pods_are_replaced_on_live_nodes_and_node_recovers(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    doomed = await make_kubelet("doomed", lease_ttl=2)
    await make_kubelet("healthy")
    await make_manager()  # everything; toleration 2 s, grace 0.5 s
    tolerant = [Toleration(key=UNREACHABLE, operator="Exists", effect="NoExecute")]  # tolerates forever
    await store.create(PODS, bare_pod("stays", tolerations=tolerant))
    await store.create(REPLICASETS, replicaset("web", 4))
    await wait_for(lambda: _ready_count(store, "web", 4), 15)
    on_doomed = {p.name for p in await pods(store, "web") if p.spec.node_name == "doomed"}
    assert on_doomed, "spreading put some pods on both nodes"
    # pods the ReplicaSet controller created got the manager's default tolerations (admission in the store)
    for p in await pods(store, "web"):
        assert {(t.key, t.effect, t.toleration_seconds) for t in p.spec.tolerations} == {
            (NOT_READY, "NoExecute", 2), (UNREACHABLE, "NoExecute", 2)}

    started = time.monotonic()
    await doomed.stop(revoke=False)  # the agent dies; its lease expires after its TTL (2 s)

    async def tainted() -> bool:
        status, keys = await node_state(store, "doomed")
        return status == "Unknown" and UNREACHABLE in keys

    await wait_for(tainted, 10)

    async def replaced() -> bool:
        live = await running_ready(store, "web")
        names = {p.name for p in await pods(store, "web", active_only=False)}
        return (len(live) == 4 and all(p.spec.node_name == "healthy" for p in live)
                and not (names & on_doomed))  # evicted pods force-deleted: nothing left behind

    await wait_for(replaced, 20)
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 0.5 + 2 + 1 + 6, f"replacement took {elapsed:.1f}s"  # ttl + grace + toleration + grace + slack
    assert (await store.get(PODS, "stays", "default")).metadata.deletion_timestamp is None
    events = (await store.list(EVENTS, "default")).items
    assert any(e.reason == "TaintManagerEviction" for e in events)

    await doomed.start()  # back

    async def recovered() -> bool:
        status, keys = await node_state(store, "doomed")
        return status == "True" and not keys

    await wait_for(recovered, 10)


async def _ready_count(store: Store, app: str, n: int) -> bool:
    return len(await running_ready(store, app)) == n


async def test_agent_reported_not_ready_taints_and_evicts(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    sick = await make_kubelet("sick")
    await make_manager()
    # the pod's own toleration decides (admission would add 300 s; this one says 2 s)
    two_seconds = [Toleration(key=NOT_READY, operator="Exists", effect="NoExecute", toleration_seconds=2)]
    await store.create(PODS, bare_pod("p", tolerations=two_seconds))
    await wait_for(lambda: _bound(store, "p"), 10)
    await sick.set_ready(False)

    async def not_ready_taint() -> bool:
        _status, keys = await node_state(store, "sick")
        return keys == {NOT_READY}

    await wait_for(not_ready_taint, 10)
    last_seen: list[Pod] = []
    informer = Informer(store, PODS, namespace="default")
    informer.add_handler(FuncHandler(delete=last_seen.append))
    await informer.start()
    await informer.wait_synced(10)
    try:
        # its toleration (2 s) runs out: evicted; the (live) kubelet finishes the deletion
        await wait_for(lambda: _gone(store, "p"), 10)
        await wait_for(lambda: bool(last_seen), 5)
    finally:
        await informer.stop()
    target = last_seen[0].status.condition("DisruptionTarget")  # set before the eviction (PodDisruptionConditions)
    assert target is not None and (target.status, target.reason) == ("True", "DeletionByTaintManager")
    await sick.set_ready(True)

    async def untainted() -> bool:
        return (await node_state(store, "sick"))[1] == set()

    await wait_for(untainted, 10)


async def test_disk_pressure_condition_taints_and_untaints_the_node(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    """TaintNodesByCondition: the kubelet reports DiskPressure, the controller keeps the NoSchedule
    taint in step (the node's credentials may not write taints); the scheduler then keeps new pods off."""
    await make_kubelet("pressed")
    await make_manager()


    async def disk_pressure_taint(present: bool) -> bool:
        node = await store.get(NODES, "pressed")
        return any(t.key == DISK_PRESSURE and t.effect == "NoSchedule" for t in node.taints) == present

    await report_condition(store, "pressed", "DiskPressure", "True")
    await wait_for(lambda: disk_pressure_taint(True), 10, message="disk-pressure taint added")
    await store.create(PODS, bare_pod("waits"))

    async def refused_for_the_taint() -> bool:
        pod = await store.get(PODS, "waits", "default")
        scheduled = pod.status.condition("PodScheduled") if pod.status else None
        return (scheduled is not None and scheduled.status == "False" and not pod.spec.node_name
                and DISK_PRESSURE in (scheduled.message or ""))

    await wait_for(refused_for_the_taint, 10, message="the scheduler keeps the pod off the tainted node")
    await report_condition(store, "pressed", "DiskPressure", "False")
    await wait_for(lambda: disk_pressure_taint(False), 10, message="disk-pressure taint removed")
    await wait_for(lambda: _bound(store, "waits"), 10, message="pod bound once the taint went")


async def _bound(store: Store, name: str) -> bool:
    return bool((await store.get(PODS, name, "default")).spec.node_name)


async def _gone(store: Store, name: str) -> bool:
    return name not in {p.name for p in (await store.list(PODS, "default")).items}


async def test_deleting_a_node_deletes_its_pods(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    kubelet = await make_kubelet("n1")
    await make_manager()
    await store.create(PODS, bare_pod("p"))
    await wait_for(lambda: _bound(store, "p"), 10)
    await kubelet.stop()
    await delete_retrying(store, NODES, "n1", None)
    await wait_for(lambda: _gone(store, "p"), 10)


async def test_pods_on_a_lost_node_turn_not_ready_and_deployments_stop_counting_them(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    """MarkPodsNotReady: the node goes Unknown → its pods' Ready=False at once (not at eviction),
    the Deployment's ready/available counts drop; the agent coming back reports them Ready again."""
    lost = await make_kubelet("lost", lease_ttl=2)
    await make_manager()
    forever = [Toleration(key=UNREACHABLE, operator="Exists", effect="NoExecute")]  # never evicted
    await store.create(DEPLOYMENTS, deployment("web", 2, tolerations=forever))

    async def counts() -> tuple[int, int]:
        d = await store.get(DEPLOYMENTS, "web", "default")
        return (d.status.ready_replicas or 0, d.status.available_replicas or 0) if d.status else (0, 0)

    await wait_for(lambda: _counts_are(counts, (2, 2)), 15)
    await lost.stop(revoke=False)
    await wait_for(lambda: _counts_are(counts, (0, 0)), 10, message="deployment still counts pods of a lost node")
    for p in await pods(store, "web"):
        ready = p.status.condition("Ready")
        assert ready is not None and ready.status == "False" and p.metadata.deletion_timestamp is None
        assert ready.last_transition_time is not None
    events = (await store.list(EVENTS, "default")).items
    assert any(e.reason == "NodeNotReady" and e.type == "Warning" for e in events)

    await lost.start()
    await wait_for(lambda: _counts_are(counts, (2, 2)), 15, message="pods not ready again after the agent returned")


async def _counts_are(counts: Any, wanted: tuple[int, int]) -> bool:
    return bool(await counts() == wanted)
