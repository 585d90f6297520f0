"""Scheduler against real etcd with fake kubelets: fit, reasons, taints, selectors, spreading."""

from __future__ import annotations

import pytest

from kubelite.api import errors
from kubelite.api.core import PodSchedulingGate, Taint, Toleration
from kubelite.api.resources import EVENTS, PODS
from kubelite.storage.store import Store

from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import bare_pod, delete_now, pods, replicaset
from tests.helpers import wait_for

SCHED = ("scheduler",)


async def bound_node(store: Store, name: str) -> str | None:
    return (await store.get(PODS, name, "default")).spec.node_name


async def test_binds_to_a_node_that_fits_and_reports_scheduled_event(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await make_kubelet("small", cpu="500m")
    await make_kubelet("big", cpu="4")
    await make_manager(controllers=SCHED)
    await store.create(PODS, bare_pod("p", cpu="1"))
    assert await wait_for(lambda: bound_node(store, "p"), 10) == "big"
    events = await wait_for(lambda: _events(store, "p", "Scheduled"), 10)
    assert "Successfully assigned default/p to big" in events[0].message


async def _events(store: Store, pod: str, reason: str) -> list:
    items = (await store.list(EVENTS, "default")).items
    return [e for e in items if e.involved_object.name == pod and e.reason == reason]


async def test_unschedulable_pod_gets_reason_and_schedules_when_a_node_is_added(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await make_kubelet("n1", cpu="1")
    await make_kubelet("n2", cpu="1")
    await make_kubelet("n3", cpu="8", taints=[Taint(key="dedicated", value="gpu", effect="NoSchedule")])
    await make_manager(controllers=SCHED)
    await store.create(PODS, bare_pod("big", cpu="2"))

    async def condition() -> object:
        pod = await store.get(PODS, "big", "default")
        c = pod.status.condition("PodScheduled") if pod.status else None
        return c if c is not None and c.status == "False" else None

    cond = await wait_for(condition, 10)
    assert cond.reason == "Unschedulable"
    assert cond.message == ("0/3 nodes are available: 2 Insufficient cpu, "
                            "1 node(s) had untolerated taint {dedicated: gpu}.")
    warning = await wait_for(lambda: _events(store, "big", "FailedScheduling"), 10)
    assert warning[0].type == "Warning" and "Insufficient cpu" in warning[0].message

    await make_kubelet("n4", cpu="4")  # a node change, not a timer, retries the pod
    assert await wait_for(lambda: bound_node(store, "big"), 10) == "n4"
    pod = await wait_for(lambda: _scheduled_true(store, "big"), 10)
    assert pod


async def _scheduled_true(store: Store, name: str) -> bool:
    pod = await store.get(PODS, name, "default")
    c = pod.status.condition("PodScheduled") if pod.status else None
    return c is not None and c.status == "True"


async def test_taints_tolerations_and_node_selector(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await make_kubelet("plain")
    await make_kubelet("gpu", labels={"accel": "gpu"}, taints=[Taint(key="accel", value="gpu", effect="NoSchedule")])
    await make_manager(controllers=SCHED)
    tolerate = [Toleration(key="accel", operator="Equal", value="gpu", effect="NoSchedule")]
    await store.create(PODS, bare_pod("wants-gpu", node_selector={"accel": "gpu"}, tolerations=tolerate))
    await store.create(PODS, bare_pod("selector-only", node_selector={"accel": "gpu"}))
    await store.create(PODS, bare_pod("anything"))
    assert await wait_for(lambda: bound_node(store, "wants-gpu"), 10) == "gpu"
    assert await wait_for(lambda: bound_node(store, "anything"), 10) == "plain"
    pod = await wait_for(lambda: _unschedulable_message(store, "selector-only"), 10)
    assert "1 node(s) didn't match Pod's node affinity/selector" in pod
    assert "1 node(s) had untolerated taint {accel: gpu}" in pod


async def _unschedulable_message(store: Store, name: str) -> str | None:
    pod = await store.get(PODS, name, "default")
    c = pod.status.condition("PodScheduled") if pod.status else None
    return c.message if c is not None and c.status == "False" else None


async def test_resource_fit_counts_bound_pods_and_host_ports(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await make_kubelet("only", cpu="1", pods=3)
    await make_manager(controllers=SCHED)
    for i in range(3):
        await store.create(PODS, bare_pod(f"half-{i}", cpu="400m"))
    await wait_for(lambda: _count_bound(store, 2), 10)
    message = await wait_for(lambda: _unschedulable_message(store, "half-2"), 10)
    assert message == "0/1 nodes are available: 1 Insufficient cpu."
    await delete_now(store, "half-0")  # frees room: retried at once
    assert await wait_for(lambda: bound_node(store, "half-2"), 10) == "only"


async def _count_bound(store: Store, count: int) -> bool:
    return sum(1 for p in await pods(store) if p.spec.node_name) == count


async def test_host_port_conflict(store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet) -> None:
    await make_kubelet("a")
    await make_kubelet("b")
    await make_manager(controllers=SCHED)
    for i in range(3):
        await store.create(PODS, bare_pod(f"web-{i}", host_port=8080))
    await wait_for(lambda: _count_bound(store, 2), 10)
    nodes = {(await store.get(PODS, f"web-{i}", "default")).spec.node_name for i in range(3)}
    assert {"a", "b"} <= nodes
    message = await wait_for(lambda: _unschedulable_pod_message(store), 10)
    assert message == "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."


async def _unschedulable_pod_message(store: Store) -> str | None:
    for pod in await pods(store):
        c = pod.status.condition("PodScheduled") if pod.status else None
        if c is not None and c.status == "False":
            return c.message
    return None


async def test_spreads_pods_of_one_owner_across_nodes(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    for name in ("n1", "n2", "n3"):
        await make_kubelet(name)
    await make_manager(controllers=("scheduler", "replicaset"))
    from kubelite.api.resources import REPLICASETS
    await store.create(REPLICASETS, replicaset("spread", 6))
    await wait_for(lambda: _count_bound(store, 6), 15)
    per_node: dict[str, int] = {}
    for pod in await pods(store, "spread"):
        per_node[pod.spec.node_name or ""] = per_node.get(pod.spec.node_name or "", 0) + 1
    assert per_node == {"n1": 2, "n2": 2, "n3": 2}


async def test_not_ready_node_and_missing_lease_are_filtered(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    sick = await make_kubelet("sick")
    await sick.set_ready(False)
    gone = await make_kubelet("gone")
    await gone.stop(revoke=True)  # lease key removed; node object still says Ready
    await make_manager(controllers=SCHED)
    await store.create(PODS, bare_pod("p"))
    message = await wait_for(lambda: _unschedulable_message(store, "p"), 10)
    assert message == ("0/2 nodes are available: 1 node(s) had no heartbeat lease, "
                       "1 node(s) were not ready.")
    await sick.set_ready(True)
    assert await wait_for(lambda: bound_node(store, "p"), 10) == "sick"


async def test_a_gated_pod_waits_for_its_last_gate_to_go(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    """spec.schedulingGates: created PodScheduled=False/SchedulingGated, left alone by the scheduler (no
    FailedScheduling either), refused by pods/binding; removing the gates queues it."""
    await make_kubelet("n1")
    await make_manager(controllers=SCHED)
    gated = bare_pod("gated")
    gated.spec.scheduling_gates = [PodSchedulingGate(name="example.com/quota"), PodSchedulingGate(name="b")]
    created = await store.create(PODS, gated)
    condition = created.status.condition("PodScheduled") if created.status else None
    assert condition is not None and (condition.status, condition.reason, condition.message) == (
        "False", "SchedulingGated", "Scheduling is blocked due to non-empty scheduling gates")
    assert condition.last_transition_time == created.metadata.creation_timestamp
    await store.create(PODS, bare_pod("plain"))  # created after it: once it is bound, the scheduler saw both
    assert await wait_for(lambda: bound_node(store, "plain"), 10) == "n1"
    assert await bound_node(store, "gated") is None
    assert not await _events(store, "gated", "FailedScheduling")
    with pytest.raises(errors.ApiError) as refused:
        await store.bind("default", "gated", "n1")
    assert refused.value.code == 409
    assert "pod gated has non-empty .spec.schedulingGates" in (refused.value.status.message or "")

    for left in ([PodSchedulingGate(name="b")], None):
        current = await store.get(PODS, "gated", "default")
        current.spec.scheduling_gates = left
        await store.update(PODS, current)
    assert await wait_for(lambda: bound_node(store, "gated"), 10) == "n1"
    assert await wait_for(lambda: _scheduled_true(store, "gated"), 10)
