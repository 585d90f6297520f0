"""The EndpointSlice controller's reconcile on the in-memory Store: endpoint conditions, named target
ports resolved per pod, a pod leaving the selector, the 100-endpoint split without churn, and the
service's slices going with its selector. The real-etcd test (tests/controllers/test_endpointslice.py)
stays as it is."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kubelite.api.resources import ENDPOINTSLICES, PODS, SERVICES

from controllers.endpointslice import EndpointSliceController, services_selecting
from kubelite.api.core import Pod
from controllers.endpointslice_plan import LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY
from tests.controllers.unit.conftest import MakeWorld, World
from tests.controllers.unit.service_pods import add_pod, add_service, relabel, set_status

pytestmark = pytest.mark.timeout(30)

KEY = "default/web"
READY = {"ready": True, "serving": True, "terminating": False}
NOT_READY = {"ready": False, "serving": False, "terminating": False}


async def slices(world: World[Any]) -> list[dict[str, Any]]:
    listed = await world.store.list(ENDPOINTSLICES, "default")
    return sorted((s.to_dict() for s in listed.items), key=lambda s: s["metadata"]["name"])


async def conditions(world: World[Any]) -> dict[str, dict[str, bool]]:
    return {e["targetRef"]["name"]: e["conditions"] for s in await slices(world) for e in s.get("endpoints") or []}


async def test_one_slice_with_ready_serving_and_terminating_endpoints_on_the_named_port(
        make_world: MakeWorld) -> None:
    world = await make_world(EndpointSliceController)
    service = await add_service(world.store)
    await add_pod(world.store, "a", "10.1.0.1")
    await add_pod(world.store, "b", "10.1.0.2", ready=False)
    await add_pod(world.store, "c", "10.1.0.3")
    await add_pod(world.store, "d", None)  # no IP yet: not an endpoint
    await world.store.delete(PODS, "c", "default", grace_period_seconds=30)  # bound: terminating, still serving
    await world.reconcile(KEY)

    (only,) = await slices(world)
    assert only["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]  # targetPort "web" resolved
    assert only["addressType"] == "IPv4"
    assert only["metadata"]["labels"][LABEL_SERVICE_NAME] == "web"
    assert only["metadata"]["labels"][LABEL_MANAGED_BY] == MANAGED_BY
    (owner,) = only["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Service", "web", service.metadata.uid, True)
    assert await conditions(world) == {"a": READY, "b": NOT_READY,
                                       "c": {"ready": False, "serving": True, "terminating": True}}
    assert {e["targetRef"]["name"]: (e["addresses"], e["nodeName"]) for e in only["endpoints"]} == {
        "a": (["10.1.0.1"], "node-1"), "b": (["10.1.0.2"], "node-1"), "c": (["10.1.0.3"], "node-1")}
    await world.assert_idempotent(KEY)


async def test_pods_whose_named_port_differs_get_their_own_slice(make_world: MakeWorld) -> None:
    world = await make_world(EndpointSliceController)
    await add_service(world.store)
    await add_pod(world.store, "a", "10.1.0.1", port=8080)
    await add_pod(world.store, "b", "10.1.0.2", port=9090)
    await world.reconcile(KEY)
    by_port = {s["ports"][0]["port"]: [e["targetRef"]["name"] for e in s["endpoints"]] for s in await slices(world)}
    assert by_port == {8080: ["a"], 9090: ["b"]}
    await world.assert_idempotent(KEY)


async def test_a_pod_leaving_the_selector_or_readiness_leaves_its_endpoint_then_one_empty_slice_stays(
        make_world: MakeWorld) -> None:
    world = await make_world(EndpointSliceController)
    await add_service(world.store)
    await add_pod(world.store, "a", "10.1.0.1")
    await add_pod(world.store, "b", "10.1.0.2")
    await world.reconcile(KEY)
    (first,) = await slices(world)
    assert await conditions(world) == {"a": READY, "b": READY}

    await set_status(world.store, "a", ready=False)
    await relabel(world.store, "b", "other")
    await world.reconcile(KEY)
    (updated,) = await slices(world)
    assert updated["metadata"]["name"] == first["metadata"]["name"]  # updated in place, not replaced
    assert await conditions(world) == {"a": NOT_READY}

    await relabel(world.store, "a", "other")
    await world.reconcile(KEY)
    (placeholder,) = await slices(world)  # no endpoints at all: one empty slice, as kube keeps
    assert placeholder["metadata"]["name"] == first["metadata"]["name"]
    assert not placeholder.get("endpoints") and not placeholder.get("ports")
    await world.assert_idempotent(KEY)


async def test_more_than_100_endpoints_split_across_slices_and_a_new_one_fills_the_slice_with_room(
        make_world: MakeWorld) -> None:
    world = await make_world(EndpointSliceController)
    await add_service(world.store)
    for i in range(150):
        await add_pod(world.store, f"web-{i:03}", f"10.1.{i // 200}.{i % 200 + 1}")
    await world.reconcile(KEY)
    assert sorted(len(s["endpoints"]) for s in await slices(world)) == [50, 100]
    await world.assert_idempotent(KEY)

    full = next(s for s in await slices(world) if len(s["endpoints"]) == 100)
    await add_pod(world.store, "web-150", "10.1.0.151")
    await world.reconcile(KEY)
    after = {s["metadata"]["name"]: s for s in await slices(world)}
    assert sorted(len(s["endpoints"]) for s in after.values()) == [51, 100]
    # no churn: the full slice was not rewritten
    assert after[full["metadata"]["name"]]["metadata"]["resourceVersion"] == full["metadata"]["resourceVersion"]
    assert len(await conditions(world)) == 151  # each pod exactly once


async def test_slices_go_with_the_selector_or_the_service_and_a_users_slice_stays(make_world: MakeWorld) -> None:
    world = await make_world(EndpointSliceController)
    await add_service(world.store)
    await add_pod(world.store, "a", "10.1.0.1")
    await world.store.create(ENDPOINTSLICES, ENDPOINTSLICES.model.model_validate({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": "web-by-hand", "namespace": "default", "labels": {LABEL_SERVICE_NAME: "web"}},
        "endpoints": [{"addresses": ["10.9.9.9"]}]}))
    await world.reconcile(KEY)
    assert len(await slices(world)) == 2

    def no_selector(service: Any) -> Any:
        service.spec.pop("selector")  # a generic kind: spec is its document
        return service
    await world.store.guaranteed_update(SERVICES, "web", "default", no_selector)
    await world.reconcile(KEY)
    assert [s["metadata"]["name"] for s in await slices(world)] == ["web-by-hand"]

    await world.store.delete(SERVICES, "web", "default")
    await world.reconcile(KEY)
    assert [s["metadata"]["name"] for s in await slices(world)] == ["web-by-hand"]
    await world.assert_idempotent(KEY)


def test_a_pod_event_concerns_the_services_whose_selector_matches_its_labels() -> None:
    def service(name: str, **spec: Any) -> Any:
        return SERVICES.model.model_validate({"apiVersion": "v1", "kind": "Service",
                                              "metadata": {"name": name, "namespace": "default"}, "spec": spec})

    listed = [service("web", selector={"app": "web"}), service("web-canary", selector={"app": "web", "track": "canary"}),
              service("db", selector={"app": "db"}), service("kubernetes"), service("empty", selector={}),
              service("external", type="ExternalName", externalName="example.com")]

    class Services:
        def list(self, namespace: str) -> list[Any]:
            return listed if namespace == "default" else []

    pod = Pod.model_validate({"metadata": {"name": "p", "namespace": "default", "labels": {"app": "web", "track": "canary"}},
                              "spec": {"containers": [{"name": "c", "image": "x"}]}})
    assert services_selecting(cast(Any, Services()), pod) == ["default/web", "default/web-canary"]
    pod.metadata.labels = {"app": "web"}
    assert services_selecting(cast(Any, Services()), pod) == ["default/web"]
    pod.metadata.namespace = "other"
    assert services_selecting(cast(Any, Services()), pod) == []
