"""The legacy Endpoints controller's reconcile on the in-memory Store: ready and not-ready addresses
on the resolved port, terminating pods left out, readiness changes, publishNotReadyAddresses, and
the Endpoints going with the Service while a selector-less service's stay its user's."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.resources import ENDPOINTS, PODS, SERVICES

from controllers.endpoints import EndpointsController
from controllers.endpointslice_plan import LABEL_HEADLESS
from tests.controllers.unit.conftest import MakeWorld, World
from tests.controllers.unit.service_pods import add_pod, add_service, relabel, set_status

pytestmark = pytest.mark.timeout(30)

KEY = "default/web"


async def endpoints(world: World[Any], name: str = "web") -> dict[str, Any]:
    return (await world.store.get(ENDPOINTS, name, "default")).to_dict()


def addresses(doc: dict[str, Any]) -> dict[str, list[str]]:
    subsets = doc.get("subsets") or []
    return {kind: [a["targetRef"]["name"] for s in subsets for a in s.get(kind) or []]
            for kind in ("addresses", "notReadyAddresses")}


async def test_ready_and_not_ready_addresses_on_the_resolved_port_without_terminating_pods(
        make_world: MakeWorld) -> None:
    world = await make_world(EndpointsController)
    await add_service(world.store)
    await add_pod(world.store, "a", "10.1.0.1")
    await add_pod(world.store, "b", "10.1.0.2", ready=False)
    await add_pod(world.store, "c", "10.1.0.3")
    await world.store.delete(PODS, "c", "default", grace_period_seconds=30)  # terminating: left out
    await world.reconcile(KEY)
    doc = await endpoints(world)
    assert addresses(doc) == {"addresses": ["a"], "notReadyAddresses": ["b"]}
    (subset,) = doc["subsets"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert subset["addresses"][0]["ip"] == "10.1.0.1" and subset["addresses"][0]["nodeName"] == "node-1"
    await world.assert_idempotent(KEY)


async def test_readiness_and_selector_changes_rewrite_the_same_object(make_world: MakeWorld) -> None:
    world = await make_world(EndpointsController)
    await add_service(world.store)
    await add_pod(world.store, "a", "10.1.0.1")
    await add_pod(world.store, "b", "10.1.0.2")
    await world.reconcile(KEY)
    first = await endpoints(world)
    assert addresses(first) == {"addresses": ["a", "b"], "notReadyAddresses": []}

    await set_status(world.store, "a", ready=False)
    await relabel(world.store, "b", "other")
    await world.reconcile(KEY)
    second = await endpoints(world)
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert addresses(second) == {"addresses": [], "notReadyAddresses": ["a"]}

    await relabel(world.store, "a", "other")
    await world.reconcile(KEY)
    assert "subsets" not in await endpoints(world)  # no pods: an Endpoints without subsets, as kube writes
    await world.assert_idempotent(KEY)


async def test_publish_not_ready_addresses_and_a_headless_service_label(make_world: MakeWorld) -> None:
    world = await make_world(EndpointsController)
    await add_service(world.store, publishNotReadyAddresses=True, clusterIP="None")
    await add_pod(world.store, "a", "10.1.0.1", ready=False)
    await world.reconcile(KEY)
    doc = await endpoints(world)
    assert addresses(doc) == {"addresses": ["a"], "notReadyAddresses": []}
    assert doc["metadata"]["labels"] == {LABEL_HEADLESS: ""}
    await world.assert_idempotent(KEY)


async def test_endpoints_go_with_the_service_and_a_selectorless_services_belong_to_its_user(
        make_world: MakeWorld) -> None:
    world = await make_world(EndpointsController)
    await add_service(world.store)
    await add_pod(world.store, "a", "10.1.0.1")
    await world.reconcile(KEY)
    await world.store.delete(SERVICES, "web", "default")
    await world.reconcile(KEY)
    assert [e.name for e in (await world.store.list(ENDPOINTS, "default")).items] == []

    await world.store.create(SERVICES, SERVICES.model.model_validate({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "external", "namespace": "default"},
        "spec": {"ports": [{"port": 5432}]}}))
    by_hand = await world.store.create(ENDPOINTS, ENDPOINTS.model.model_validate({
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "external", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "192.0.2.7"}], "ports": [{"port": 5432}]}]}))
    before = world.store.revision
    await world.reconcile("default/external")
    assert world.store.revision == before
    assert (await endpoints(world, "external"))["metadata"]["resourceVersion"] == by_hand.metadata.resource_version
