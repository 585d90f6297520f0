"""The garbage collector's reconcile on the in-memory Store: background propagation (dependents of a
gone owner deleted, a bound pod gracefully; a gone owner stripped from a dependent that has others;
an owner replaced under the same name counts as gone; an owner of a kind nobody serves never does),
the orphan policy and the foreground policy. Keys are ``<plural>|<ns>/<name>``. The real-etcd tests
(tests/controllers/test_gc.py) stay as they are; test_gc_updates.py covers which updates queue a key."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import errors
from kubelite.api.core import Pod
from kubelite.api.meta import KubeObject, OwnerReference
from kubelite.api.resources import CONFIGMAPS, PODS, Resource

from controllers.gc import FOREGROUND, ORPHAN, GarbageCollector
from tests.controllers.unit.conftest import MakeWorld, World

pytestmark = pytest.mark.timeout(30)


def ref(owner: KubeObject, *, block: bool | None = None) -> dict[str, Any]:
    return OwnerReference(api_version="v1", kind=owner.kind or "ConfigMap", name=owner.name,
                          uid=owner.metadata.uid or "", block_owner_deletion=block).to_dict()


async def config_map(world: World[Any], name: str, *owners: KubeObject | dict[str, Any],
                     finalizers: list[str] | None = None) -> KubeObject:
    refs = [o if isinstance(o, dict) else ref(o) for o in owners]
    return await world.store.create(CONFIGMAPS, CONFIGMAPS.model.model_validate({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default",
                                                              "ownerReferences": refs or None,
                                                              "finalizers": finalizers}}))


async def release(world: World[Any], name: str) -> None:
    """Whoever held the ConfigMap's finalizer is done."""
    def drop(cm: Any) -> Any:
        cm.metadata.finalizers = None
        return cm
    await world.store.guaranteed_update(CONFIGMAPS, name, "default", drop)


async def pod(world: World[Any], name: str, owner: KubeObject, *, node: str | None = None) -> KubeObject:
    return await world.store.create(PODS, Pod.model_validate({
        "metadata": {"name": name, "namespace": "default", "ownerReferences": [ref(owner)]},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]}}))


async def stored(world: World[Any], res: Resource, name: str) -> Any:
    try:
        return await world.store.get(res, name, "default")
    except errors.ApiError as exc:
        assert exc.code == 404
        return None


def owner_names(obj: KubeObject) -> list[str]:
    return [r.name for r in obj.metadata.owner_references or []]


async def test_background_dependents_of_a_deleted_owner_go_and_one_with_another_owner_stays(
        make_world: MakeWorld) -> None:
    world = await make_world(GarbageCollector)
    owner = await config_map(world, "owner")
    other = await config_map(world, "other")
    await config_map(world, "dep", owner)
    await config_map(world, "shared", owner, other)
    await pod(world, "loose", owner)
    await pod(world, "running", owner, node="n1")
    await world.store.delete(CONFIGMAPS, "owner", "default")  # background: gone at once

    for key in ("configmaps|default/dep", "configmaps|default/shared", "pods|default/loose", "pods|default/running"):
        await world.reconcile(key)
    assert await stored(world, CONFIGMAPS, "dep") is None
    assert await stored(world, PODS, "loose") is None
    running = await stored(world, PODS, "running")
    assert running is not None and running.metadata.deletion_timestamp is not None  # its agent stops it first
    shared = await stored(world, CONFIGMAPS, "shared")
    assert owner_names(shared) == ["other"]  # the gone owner stripped; the live one keeps it
    await world.assert_idempotent("configmaps|default/shared")


async def test_an_owner_recreated_under_its_name_is_gone_and_an_unknown_kind_is_never(make_world: MakeWorld) -> None:
    world = await make_world(GarbageCollector)
    first = await config_map(world, "owner")
    await config_map(world, "dep", first)
    unknown = OwnerReference(api_version="example.com/v1", kind="Gadget", name="g", uid="u-gadget").to_dict()
    await config_map(world, "foreign", unknown)
    await world.store.delete(CONFIGMAPS, "owner", "default")
    second = await config_map(world, "owner")  # same name, new uid: not the owner the dependent names
    assert second.metadata.uid != first.metadata.uid

    await world.reconcile("configmaps|default/dep")
    assert await stored(world, CONFIGMAPS, "dep") is None
    await world.assert_idempotent("configmaps|default/foreign")
    assert owner_names(await stored(world, CONFIGMAPS, "foreign")) == ["g"]


async def test_orphan_policy_strips_the_owner_from_its_dependents_then_lets_it_go(make_world: MakeWorld) -> None:
    world = await make_world(GarbageCollector)
    owner = await config_map(world, "owner")
    other = await config_map(world, "other")
    await config_map(world, "dep", owner)
    await config_map(world, "shared", owner, other)
    await pod(world, "running", owner, node="n1")
    await world.store.delete(CONFIGMAPS, "owner", "default", propagation_policy="Orphan")
    marked = await stored(world, CONFIGMAPS, "owner")
    assert marked.metadata.finalizers == [ORPHAN] and marked.metadata.deletion_timestamp is not None

    await world.reconcile("configmaps|default/owner")
    assert await stored(world, CONFIGMAPS, "owner") is None  # finalizer removed: the store deleted it
    assert owner_names(await stored(world, CONFIGMAPS, "dep")) == []
    assert owner_names(await stored(world, CONFIGMAPS, "shared")) == ["other"]
    running = await stored(world, PODS, "running")
    assert owner_names(running) == [] and running.metadata.deletion_timestamp is None
    for key in ("configmaps|default/dep", "configmaps|default/shared", "pods|default/running"):
        await world.assert_idempotent(key)  # orphans are nobody's garbage


async def test_foreground_deletes_every_dependent_and_the_owner_waits_for_the_blocking_ones(
        make_world: MakeWorld) -> None:
    world = await make_world(GarbageCollector)
    owner = await config_map(world, "owner")
    await config_map(world, "blocker", ref(owner, block=True), finalizers=["example.com/hold"])
    await config_map(world, "leaf", owner)
    await pod(world, "loose", owner)
    await world.store.delete(CONFIGMAPS, "owner", "default", propagation_policy="Foreground")

    await world.reconcile("configmaps|default/owner")
    assert await stored(world, CONFIGMAPS, "leaf") is None  # a leaf: deleted in the background
    assert await stored(world, PODS, "loose") is None
    blocker = await stored(world, CONFIGMAPS, "blocker")
    assert blocker.metadata.deletion_timestamp is not None and blocker.metadata.finalizers == ["example.com/hold"]
    assert (await stored(world, CONFIGMAPS, "owner")).metadata.finalizers == [FOREGROUND]  # blocked
    await world.assert_idempotent("configmaps|default/owner")

    await release(world, "blocker")
    await world.reconcile("configmaps|default/owner")
    assert await stored(world, CONFIGMAPS, "owner") is None


async def test_foreground_goes_down_the_tree_and_up_again(make_world: MakeWorld) -> None:
    world = await make_world(GarbageCollector)
    owner = await config_map(world, "owner")
    middle = await config_map(world, "middle", ref(owner, block=True))
    await config_map(world, "leaf", ref(middle, block=True), finalizers=["example.com/hold"])
    await world.store.delete(CONFIGMAPS, "owner", "default", propagation_policy="Foreground")

    await world.reconcile("configmaps|default/owner")
    middle_now = await stored(world, CONFIGMAPS, "middle")  # has dependents: deleted in the foreground too
    assert middle_now.metadata.finalizers == [FOREGROUND] and middle_now.metadata.deletion_timestamp is not None
    await world.reconcile("configmaps|default/middle")
    assert (await stored(world, CONFIGMAPS, "leaf")).metadata.deletion_timestamp is not None
    await release(world, "leaf")
    for key in ("configmaps|default/middle", "configmaps|default/owner"):
        await world.reconcile(key)
    assert [await stored(world, CONFIGMAPS, n) for n in ("owner", "middle", "leaf")] == [None, None, None]


async def test_foreground_does_not_wait_for_dependents_that_do_not_block_it(make_world: MakeWorld) -> None:
    """kube waits only on blockOwnerDeletion dependents: one held by its own finalizer, naming the
    owner without blockOwnerDeletion, is deleted but does not keep the owner (kubelite used to wait
    for it forever)."""
    world = await make_world(GarbageCollector)
    owner = await config_map(world, "owner")
    await config_map(world, "held", owner, finalizers=["example.com/hold"])
    await world.store.delete(CONFIGMAPS, "owner", "default", propagation_policy="Foreground")

    await world.reconcile("configmaps|default/owner")
    assert await stored(world, CONFIGMAPS, "owner") is None
    held = await stored(world, CONFIGMAPS, "held")
    assert held.metadata.deletion_timestamp is not None and held.metadata.finalizers == ["example.com/hold"]
