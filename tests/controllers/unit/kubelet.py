"""What a kubelet would write, done by hand in unit tests: a pod's status moving on, a Ready node.

The controllers under test only read these; writing them directly keeps each step explicit and
the tests free of timing (no agent, no scheduler)."""

from __future__ import annotations

from datetime import UTC, datetime

from kubelite.api.core import Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodCondition, PodStatus, Taint
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import NODES, PODS
from kubelite.storage.store import Store

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


async def set_pod_status(store: Store, pod: Pod, *, phase: str, ready: bool = False,
                         since: datetime = EPOCH, ip: str | None = None) -> Pod:
    """Write ``pod``'s status: ``phase``, a Ready condition (True/False) that changed at ``since``,
    and ``ip`` as its podIP (None keeps the one it has)."""
    current = await store.get(PODS, pod.name, pod.namespace)
    pod_ip = ip or (current.status.pod_ip if current.status else None)
    current.status = PodStatus(phase=phase, start_time=since, pod_ip=pod_ip, conditions=[
        PodCondition(type="Ready", status="True" if ready else "False", last_transition_time=since)])
    return await store.update(PODS, current, subresource="status")


async def run_ready(store: Store, pod: Pod, *, since: datetime = EPOCH) -> Pod:
    """The pod is Running and Ready since ``since``."""
    return await set_pod_status(store, pod, phase="Running", ready=True, since=since)


async def ready_node(store: Store, name: str, *, labels: dict[str, str] | None = None,
                     taints: list[Taint] | None = None) -> Node:
    """A Ready node with the given labels and taints."""
    status = NodeStatus(capacity={"cpu": "4", "memory": "8Gi", "pods": "110"},
                        allocatable={"cpu": "4", "memory": "8Gi", "pods": "110"},
                        conditions=[NodeCondition(type="Ready", status="True", reason="KubeletReady")])
    created = await store.create(NODES, Node(metadata=ObjectMeta(name=name, labels=labels),
                                             spec=NodeSpec(taints=taints), status=status))
    created.status = status
    return await store.update(NODES, created, subresource="status")
