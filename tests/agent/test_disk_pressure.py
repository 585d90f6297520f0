"""Disk pressure end to end on a sim agent with injected filesystem stats: the node's DiskPressure
condition (and no taint: the node lifecycle controller adds that, tests/controllers), the kubelet's
eviction order, the evicted pod's status and Event, recovery."""

from __future__ import annotations

from kubelite.api.core import Container, Node, Pod, PodSpec, ResourceRequirements
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import EVENTS, NODES, PODS
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent
from tests.helpers import wait_for

from agent.eviction import DISK_PRESSURE_TAINT
from agent.runtime.base import FsStats
from agent.runtime.sim import SimRuntime
from kubelite.node.evictionflags import KUBELET_EVICTION_HARD, parse_eviction_hard

GI = 1 << 30


def pod(name: str, node: str, container: str, *, request: str | None = None) -> Pod:
    resources = ResourceRequirements(requests={"ephemeral-storage": request}) if request else None
    return Pod(metadata=ObjectMeta(name=name, namespace="default"),
               spec=PodSpec(node_name=node, containers=[Container(name=container, image="kubelite/demo:latest",
                                                                  resources=resources)]))


def condition(node: Node, type_: str) -> str | None:
    found = next((c for c in node.status.conditions or [] if c.type == type_), None)
    return found.status if found else None


async def test_disk_pressure_condition_and_eviction_in_the_kubelets_order(
    store: Store, start_agent: StartAgent, node_name: str,
) -> None:
    runtime = SimRuntime(node=node_name)
    runtime.disk_usages = {"hog": 3 * GI, "chatty": 1 * GI, "reserved": 5 * GI}
    disk = {"stats": FsStats(capacity_bytes=100 * GI, available_bytes=60 * GI)}

    async def observe() -> dict[str, FsStats]:
        return {"nodefs.available": disk["stats"], "imagefs.available": disk["stats"]}

    agent = await start_agent(node_name, runtime=runtime, observe_disk=observe, eviction_interval=0.3,
                              pressure_transition_period=1.0,
                              eviction_hard=parse_eviction_hard(KUBELET_EVICTION_HARD))
    await store.create(PODS, pod("hog", node_name, "hog"))
    await store.create(PODS, pod("chatty", node_name, "chatty"))
    await store.create(PODS, pod("reserved", node_name, "reserved", request="10Gi"))  # within its request
    for name in ("hog", "chatty", "reserved"):
        await wait_for(lambda n=name: _phase(store, n, "Running"), 10, message=f"{name} Running")

    async def node_has(value: str) -> Node | None:
        node = await store.get(NODES, node_name)
        return node if condition(node, "DiskPressure") == value else None

    await wait_for(lambda: node_has("False"), 10, message="DiskPressure False reported")
    disk["stats"] = FsStats(capacity_bytes=100 * GI, available_bytes=8 * GI)  # below both thresholds
    node = await wait_for(lambda: node_has("True"), 10, message="DiskPressure True")
    # the node reports the condition only: its taints are the control plane's (NodeRestriction)
    assert not any(t.key == DISK_PRESSURE_TAINT.key for t in node.taints)
    assert next(c for c in node.status.conditions if c.type == "DiskPressure").reason == "KubeletHasDiskPressure"

    # A new pod is not admitted while the node is under disk pressure (the kubelet's admission).
    await store.create(PODS, pod("late", node_name, "late"))
    refused = await wait_for(lambda: _phase(store, "late", "Failed"), 10, message="late refused")
    assert (refused.status.reason, refused.status.message) == ("Evicted", "The node had condition: [DiskPressure]. ")
    assert not any(c.labels.get("kubelite.pod.name") == "late" for c in runtime.containers_info())

    evicted = await wait_for(lambda: _phase(store, "hog", "Failed"), 10, message="hog evicted")
    disk["stats"] = FsStats(capacity_bytes=100 * GI, available_bytes=60 * GI)
    assert agent.disk.evicted[0] == "default/hog"  # over requests (none), largest usage: first
    status = evicted.status
    assert status.reason == "Evicted"
    assert status.message.startswith("The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, "
                                     "available: 8Gi. Container hog was using 3Gi, request is 0")
    assert status.condition("DisruptionTarget").reason == "TerminationByKubelet"
    assert status.container_statuses[0].state.terminated is not None
    assert not any(c.state in ("running", "created") for c in runtime.containers_info()
                   if c.labels.get("kubelite.pod.name") == "hog")

    async def evicted_event() -> bool:  # Events are written in the background
        return any(e.reason == "Evicted" and e.involved_object.name == "hog"
                   for e in (await store.list(EVENTS, "default")).items)

    await wait_for(evicted_event, 10, message="an Evicted Event about hog")
    # The pod within its requests is never the one picked while others exceed theirs.
    assert "default/reserved" not in agent.disk.evicted[:2]
    # Pressure gone: after the transition period the condition goes.
    await wait_for(lambda: node_has("False"), 10, message="DiskPressure cleared")
    assert (await store.get(PODS, "reserved", "default")).phase == "Running"


async def _phase(store: Store, name: str, phase: str) -> Pod | None:
    current = await store.get(PODS, name, "default")
    return current if current.phase == phase else None
