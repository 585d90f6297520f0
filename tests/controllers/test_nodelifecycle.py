"""Node lifecycle against real etcd with fake kubelets: unreachable → taint → eviction →
replacement elsewhere; return → Ready; agent NotReady → not-ready taint; Node deleted."""

from __future__ import annotations

import time
from typing import Any

from kubelite.api.core import Toleration
from kubelite.api.resources import EVENTS, NODES, PODS, REPLICASETS
from kubelite.store import Store

from controllers.taints import NOT_READY, UNREACHABLE
from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import bare_pod, delete_retrying, pods, replicaset, running_ready
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
    await store.create(PODS, bare_pod("p"))
    await wait_for(lambda: _bound(store, "p"), 10)
    await sick.set_ready(False)

    async def not_ready_taint() -> bool:
        _status, keys = await node_state(store, "sick")
        return keys == {NOT_READY}

    await wait_for(not_ready_taint, 10)
    # default toleration (2 s) runs out: evicted; the (live) kubelet finishes the deletion
    await wait_for(lambda: _gone(store, "p"), 10)
    await sick.set_ready(True)

    async def untainted() -> bool:
        return (await node_state(store, "sick"))[1] == set()

    await wait_for(untainted, 10)


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


def test_eviction_times_follow_tolerations() -> None:
    from datetime import UTC, datetime, timedelta

    from kubelite.api.core import Taint
    from controllers.taints import eviction_time
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    unreachable = Taint(key=UNREACHABLE, effect="NoExecute", time_added=t0)
    custom = Taint(key="maintenance", effect="NoExecute", time_added=t0)

    def pod(*tolerations: Any) -> Any:
        return bare_pod("p", tolerations=list(tolerations) or None)

    assert eviction_time(pod(), [unreachable], default_toleration_seconds=30, now=t0) == t0 + timedelta(seconds=30)
    assert eviction_time(pod(), [custom], default_toleration_seconds=30, now=t0) == t0
    five = Toleration(key=UNREACHABLE, operator="Exists", effect="NoExecute", toleration_seconds=5)
    assert eviction_time(pod(five), [unreachable], default_toleration_seconds=30, now=t0) == t0 + timedelta(seconds=5)
    forever = Toleration(operator="Exists")
    assert eviction_time(pod(forever), [unreachable, custom], default_toleration_seconds=30, now=t0) is None
    no_schedule_only = Taint(key="x", effect="NoSchedule", time_added=t0)
    assert eviction_time(pod(), [no_schedule_only], default_toleration_seconds=30, now=t0) is None
