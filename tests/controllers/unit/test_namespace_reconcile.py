"""The namespace controller's reconcile on the in-memory Store: a Terminating namespace's content
(built-in kinds and custom resources) is deleted, what is still going (a bound pod's graceful
deletion, an object's finalizer) is reported in the namespace's conditions, and the ``kubernetes``
finalizer goes — so the namespace with it — only when nothing is left. A fake clock keeps the
conditions' times exact. The real-etcd tests (tests/controllers/test_namespace.py) stay as they are."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import errors
from kubelite.api.core import Namespace, Pod
from kubelite.api.crd import storage_resource
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import CONFIGMAPS, CUSTOMRESOURCEDEFINITIONS, DEPLOYMENTS, NAMESPACES, PODS
from kubelite.registry.strategy import NAMESPACE_FINALIZER
from kubelite.storage.memstore import MemStore
from kubelite.util.clock import FakeClock

from controllers.namespace import NamespaceController
from controllers.namespace_plan import MAX_RECHECK_SECONDS
from tests.controllers.objects import deployment
from tests.controllers.unit.conftest import MakeWorld, World

pytestmark = pytest.mark.timeout(30)

NS = "team"
WIDGETS_CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "widgets.example.com"},
               "spec": {"group": "example.com", "scope": "Namespaced",
                        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                            "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


async def world_with_clock(make_world: MakeWorld) -> tuple[World[NamespaceController], FakeClock]:
    clock = FakeClock()
    world = await make_world(NamespaceController, store=MemStore(clock=clock.now_seconds), clock=clock.now_seconds)
    await world.store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name=NS)))
    return world, clock


async def config_map(world: World[Any], name: str, *, finalizers: list[str] | None = None) -> None:
    await world.store.create(CONFIGMAPS, CONFIGMAPS.model.model_validate({
        "apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
        "metadata": {"name": name, "namespace": NS, "finalizers": finalizers}}))


async def pod(world: World[Any], name: str, *, node: str | None = None) -> None:
    await world.store.create(PODS, Pod.model_validate({
        "metadata": {"name": name, "namespace": NS},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5,
                 "containers": [{"name": "c", "image": "x"}]}}))


async def namespace(world: World[Any]) -> Namespace | None:
    try:
        return await world.store.get(NAMESPACES, NS)
    except errors.ApiError as exc:
        assert exc.code == 404
        return None


def conditions(ns: Namespace) -> dict[str, tuple[str, str, Any]]:
    assert ns.status is not None
    return {c.type: (c.status, c.message or "", c.last_transition_time) for c in ns.status.conditions or []}


async def test_content_and_custom_resources_are_deleted_then_the_namespace_finalized(make_world: MakeWorld) -> None:
    world, _clock = await world_with_clock(make_world)
    crd = await world.store.create(CUSTOMRESOURCEDEFINITIONS,
                                   CUSTOMRESOURCEDEFINITIONS.model.model_validate(WIDGETS_CRD))
    widgets = storage_resource(crd.to_dict())
    assert widgets is not None
    await world.store.create(widgets, widgets.model.model_validate({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": NS}}))
    web = deployment("web", 2)
    web.metadata.namespace = NS
    await world.store.create(DEPLOYMENTS, web)
    await config_map(world, "settings")
    await pod(world, "unbound")  # no node: nothing to stop, deleted at once
    await world.store.delete(NAMESPACES, NS)
    marked = await namespace(world)
    assert marked is not None and marked.spec is not None and marked.spec.finalizers == [NAMESPACE_FINALIZER]

    result = await world.reconcile(NS)
    assert result is None
    assert await namespace(world) is None  # emptied, finalized, so deleted by the store
    for res in (widgets, DEPLOYMENTS, CONFIGMAPS, PODS):
        assert (await world.store.list(res, NS)).items == [], res.plural


async def test_what_remains_is_reported_and_the_finalizer_waits_for_it(make_world: MakeWorld) -> None:
    world, clock = await world_with_clock(make_world)
    await pod(world, "running", node="n1")  # its agent must stop it: a graceful deletion
    await config_map(world, "held", finalizers=["example.com/hold"])
    await world.store.delete(NAMESPACES, NS)

    result = await world.reconcile(NS)
    # a look again at the latest (the pod's deletion event usually comes first)
    assert result is not None and result.requeue_after is not None and 0 < result.requeue_after <= MAX_RECHECK_SECONDS
    stored_pod = await world.store.get(PODS, "running", NS)
    held = await world.store.get(CONFIGMAPS, "held", NS)
    assert stored_pod.metadata.deletion_timestamp is not None and held.metadata.deletion_timestamp is not None
    ns = await namespace(world)
    assert ns is not None and ns.status is not None and ns.status.phase == "Terminating"
    assert ns.spec is not None and ns.spec.finalizers == [NAMESPACE_FINALIZER]
    found = conditions(ns)
    assert found["NamespaceContentRemaining"][:2] == (
        "True", "Some resources are remaining: configmaps has 1 resource instances, pods has 1 resource instances")
    assert found["NamespaceFinalizersRemaining"][:2] == (
        "True", "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
    assert found["NamespaceDeletionContentFailure"][0] == "False"

    clock.advance(3)  # later, nothing changed: no write, the transition times stay
    before = world.store.revision
    result = await world.reconcile(NS)
    assert world.store.revision == before
    assert result is not None and result.requeue_after == 2.0  # when the pod's grace period is over

    await world.store.delete(PODS, "running", NS, grace_period_seconds=0)  # its agent stopped it
    clock.advance(1)
    await world.reconcile(NS)
    ns = await namespace(world)
    assert ns is not None
    found_now = conditions(ns)
    assert found_now["NamespaceContentRemaining"][:2] == (
        "True", "Some resources are remaining: configmaps has 1 resource instances")
    # still True: the condition keeps the time it became True
    assert found_now["NamespaceContentRemaining"][2] == found["NamespaceContentRemaining"][2]

    def release(cm: Any) -> Any:
        cm.metadata.finalizers = None
        return cm
    await world.store.guaranteed_update(CONFIGMAPS, "held", NS, release)
    await world.reconcile(NS)
    assert await namespace(world) is None


async def test_an_active_namespace_is_left_alone(make_world: MakeWorld) -> None:
    world, _clock = await world_with_clock(make_world)
    await config_map(world, "settings")
    before = world.store.revision
    assert await world.reconcile(NS) is None
    assert world.store.revision == before
    assert [c.name for c in (await world.store.list(CONFIGMAPS, NS)).items] == ["settings"]
