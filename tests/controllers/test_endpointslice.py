"""The EndpointSlice and Endpoints controllers on a real etcd with a leading manager: pods written
as a kubelet writes them (podIP, Ready), then made unready, terminating, scaled past 100, and the
Service deleted."""

from __future__ import annotations

from typing import Any

from controllers.manager import ControllerManager
from kubelite.api.core import Pod
from kubelite.api.resources import ENDPOINTS, ENDPOINTSLICES, PODS, SERVICES
from kubelite.storage.store import Store
from tests.helpers import wait_for

CONTROLLERS = ("endpointslice", "endpoints", "garbagecollector")


async def add_pod(store: Store, name: str, ip: str, *, ready: bool = True, node: str | None = "node-1") -> None:
    doc: dict[str, Any] = {"metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                           "spec": {"containers": [{"name": "c", "image": "x",
                                                    "ports": [{"name": "web", "containerPort": 8080}]}]}}
    if node:
        doc["spec"]["nodeName"] = node
    created = await store.create(PODS, Pod.model_validate(doc))
    await set_ready(store, created.name, ready, ip=ip)


async def set_ready(store: Store, name: str, ready: bool, *, ip: str | None = None) -> None:
    def change(pod: Pod) -> Pod:
        status = {"phase": "Running", "podIP": ip or (pod.status.pod_ip if pod.status else None),
                  "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
        pod.status = Pod.model_validate({"status": status}).status
        return pod
    await store.guaranteed_update(PODS, name, "default", change, subresource="status")


async def slices(store: Store) -> list[dict[str, Any]]:
    listed = await store.list(ENDPOINTSLICES, "default")
    return [s.to_dict() for s in listed.items if (s.metadata.labels or {}).get("kubernetes.io/service-name") == "web"]


async def conditions(store: Store) -> dict[str, dict[str, bool]]:
    return {e["targetRef"]["name"]: e["conditions"] for s in await slices(store) for e in s["endpoints"]}


async def endpoints(store: Store) -> dict[str, list[str]]:
    doc = (await store.get(ENDPOINTS, "web", "default")).to_dict()
    subsets = doc.get("subsets") or []
    return {kind: sorted(a["targetRef"]["name"] for s in subsets for a in s.get(kind) or [])
            for kind in ("addresses", "notReadyAddresses")}


async def test_slices_and_endpoints_follow_pod_readiness_termination_scale_and_deletion(
        make_manager: Any, store: Store) -> None:
    manager: ControllerManager = await make_manager(controllers=CONTROLLERS)
    assert manager.is_leader
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}}
    await store.create(SERVICES, SERVICES.model.model_validate(service))
    # a service without pods has one empty slice, and Endpoints without subsets
    await wait_for(lambda: slices(store), message="the placeholder slice")
    for i in range(3):
        await add_pod(store, f"web-{i}", f"10.1.0.{i + 1}")
    ready = {"ready": True, "serving": True, "terminating": False}
    await wait_for(lambda: _equals(conditions(store), {f"web-{i}": ready for i in range(3)}), 15)
    (only,) = await slices(store)
    assert only["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert only["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert only["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    await wait_for(lambda: _equals(endpoints(store), {"addresses": ["web-0", "web-1", "web-2"], "notReadyAddresses": []}))

    await set_ready(store, "web-1", False)  # unready: out of the ready set at once
    await wait_for(lambda: _equals(conditions(store), {"web-0": ready, "web-2": ready, "web-1": {
        "ready": False, "serving": False, "terminating": False}}), 15)
    await wait_for(lambda: _equals(endpoints(store), {"addresses": ["web-0", "web-2"], "notReadyAddresses": ["web-1"]}))

    await store.delete(PODS, "web-2", "default", grace_period_seconds=30)  # bound: terminating until its kubelet ends it
    await wait_for(lambda: _equals(conditions(store), {"web-0": ready, "web-1": {
        "ready": False, "serving": False, "terminating": False}, "web-2": {
        "ready": False, "serving": True, "terminating": True}}), 15)
    await wait_for(lambda: _equals(endpoints(store), {"addresses": ["web-0"], "notReadyAddresses": ["web-1"]}))

    for i in range(3, 150):  # 150 pods in all: two slices, none over 100
        await add_pod(store, f"web-{i}", f"10.1.{i // 200}.{i % 200 + 1}")
    await wait_for(lambda: _count(store, 150), 30)
    assert sorted(len(s["endpoints"]) for s in await slices(store)) == [50, 100]

    await store.delete(SERVICES, "web", "default")
    await wait_for(lambda: _gone(store), 15, message="slices and Endpoints removed with the service")


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected


async def _count(store: Store, n: int) -> bool:
    return sum(len(s["endpoints"]) for s in await slices(store)) == n


async def _gone(store: Store) -> bool:
    listed = await store.list(ENDPOINTS, "default")
    return not await slices(store) and all(e.metadata.name != "web" for e in listed.items)


async def test_a_pod_on_a_node_whose_lease_expired_leaves_the_ready_set(
        make_manager: Any, make_kubelet: Any, store: Store) -> None:
    """The kubelet dies: node-lifecycle marks its pods not Ready once the lease key is gone (plus its
    0.5 s grace here), and the slice drops them from the ready set at once (nothing waits for the
    eviction: the pod tolerates the unreachable taint for the default 300 s).

    The kubelet's lease is revoked rather than left to run out: etcd deletes the lease key the same
    way either way, and the controllers only see that deletion, but revoking does it at a moment
    the test chooses instead of a TTL after the last keepalive (expiry proper is
    test_nodelifecycle.py's lost-node test)."""
    await make_manager(controllers=("nodelifecycle", *CONTROLLERS))
    doomed = await make_kubelet("node-1", lease_ttl=5)  # long: a stalled keepalive must not end it early
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    await store.create(SERVICES, SERVICES.model.model_validate(service))
    pod = {"metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}},
           "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "x"}]}}
    await store.create(PODS, Pod.model_validate(pod))
    await wait_for(lambda: _equals(conditions(store), {"web-0": {"ready": True, "serving": True, "terminating": False}}),
                   30, message="the fake kubelet's pod ready in the slice")
    await doomed.stop(revoke=True)  # dies; its lease and the lease key end now
    await wait_for(lambda: _equals(conditions(store), {"web-0": {"ready": False, "serving": False,
                                                                 "terminating": False}}),
                   30, message="the pod out of the ready set after the node's lease expired")
