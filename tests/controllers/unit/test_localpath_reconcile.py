"""The local-path provisioner's reconcile on the in-memory Store: a WaitForFirstConsumer claim whose node
the scheduler chose gets a node-local PersistentVolume and both are Bound; claims not ours or without a
node wait; an interrupted binding is finished; a volume whose claim is gone is Released, then deleted
(held by its finalizer) or, with ``Retain``, kept. Keys are ``pvc|<ns>/<name>`` and ``pv|<name>``. The
real-etcd test (tests/controllers/test_localpath.py) stays as it is."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import errors
from kubelite.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES, Resource
from kubelite.registry.storageclass import (
    HOSTNAME_LABEL,
    LOCAL_PATH_PROVISIONER,
    PROVISIONER_FINALIZER,
    SELECTED_NODE_ANNOTATION,
)

from controllers import localpath_plan as plan
from controllers.localpath import LocalPathProvisioner
from tests.controllers.unit.conftest import MakeWorld, World

pytestmark = pytest.mark.timeout(30)


async def provisioner(make_world: MakeWorld) -> World[LocalPathProvisioner]:
    world = await make_world(LocalPathProvisioner)
    await world.controller.prepare()  # what it does on becoming leader: the local-path class
    await world.settle()
    return world


async def claim(world: World[Any], name: str, *, node: str | None = "n1", storage_class: str = "local-path") -> Any:
    annotations = {SELECTED_NODE_ANNOTATION: node} if node else None
    return await world.store.create(PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMECLAIMS.model.model_validate({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "2Mi"}}}}))


async def doc(world: World[Any], res: Resource[Any], name: str, namespace: str | None = None) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = (await world.store.get(res, name, namespace)).to_dict()
        return found
    except errors.ApiError as exc:
        assert exc.code == 404
        return None


async def test_a_claim_with_its_selected_node_gets_a_volume_on_that_node_and_both_are_bound(
        make_world: MakeWorld) -> None:
    world = await provisioner(make_world)
    storage_class = await doc(world, STORAGECLASSES, "local-path")
    assert storage_class is not None and storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    created = await claim(world, "data")
    await world.reconcile("pvc|default/data")

    name = f"pvc-{created.metadata.uid}"
    volume = await doc(world, PERSISTENTVOLUMES, name)
    assert volume is not None
    spec = volume["spec"]
    assert spec["capacity"] == {"storage": "2Mi"} and spec["persistentVolumeReclaimPolicy"] == "Delete"
    assert spec["hostPath"]["path"] == f"{plan.ROOT}/{name}_default_data"
    assert spec["nodeAffinity"]["required"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": ["n1"]}]}]
    assert (spec["claimRef"]["name"], spec["claimRef"]["uid"]) == ("data", created.metadata.uid)
    assert volume["metadata"]["finalizers"] == [PROVISIONER_FINALIZER]
    assert volume["status"]["phase"] == "Bound"
    bound = await doc(world, PERSISTENTVOLUMECLAIMS, "data", "default")
    assert bound is not None and bound["spec"]["volumeName"] == name
    assert bound["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"] == LOCAL_PATH_PROVISIONER
    assert bound["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "2Mi"}}
    await world.assert_idempotent("pvc|default/data")
    await world.assert_idempotent(f"pv|{name}")


async def test_claims_without_a_node_or_of_another_class_wait(make_world: MakeWorld) -> None:
    world = await provisioner(make_world)
    await world.store.create(STORAGECLASSES, STORAGECLASSES.model.model_validate({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "elsewhere"},
        "provisioner": "example.com/nfs"}))
    await claim(world, "unscheduled", node=None)  # no pod placed yet
    await claim(world, "foreign", storage_class="elsewhere")
    await world.assert_idempotent("pvc|default/unscheduled")
    await world.assert_idempotent("pvc|default/foreign")
    assert (await world.store.list(PERSISTENTVOLUMES)).items == []


async def test_a_binding_interrupted_after_the_volume_name_is_finished(make_world: MakeWorld) -> None:
    world = await provisioner(make_world)
    created = (await claim(world, "data")).to_dict()
    volume = plan.volume_for(created, {"reclaimPolicy": "Delete"}, "n1")
    await world.store.create(PERSISTENTVOLUMES, PERSISTENTVOLUMES.model.model_validate(volume))
    await world.store.update(PERSISTENTVOLUMECLAIMS,  # the claim's status write never happened
                             PERSISTENTVOLUMECLAIMS.model.model_validate(plan.bound_claim(created, volume)))
    await world.reconcile("pvc|default/data")
    finished = await doc(world, PERSISTENTVOLUMECLAIMS, "data", "default")
    assert finished is not None and finished["status"]["phase"] == "Bound"
    assert [v.name for v in (await world.store.list(PERSISTENTVOLUMES)).items] == [volume["metadata"]["name"]]
    await world.assert_idempotent("pvc|default/data")


async def test_a_volume_whose_claim_is_gone_is_released_then_deleted_and_a_retained_one_stays(
        make_world: MakeWorld) -> None:
    world = await provisioner(make_world)
    await world.store.create(STORAGECLASSES, STORAGECLASSES.model.model_validate({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "keep"},
        "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer"}))
    names = {}
    for name, storage_class in (("scratch", "local-path"), ("archive", "keep")):
        created = await claim(world, name, storage_class=storage_class)
        await world.reconcile(f"pvc|default/{name}")
        names[name] = f"pv|pvc-{created.metadata.uid}"
        await world.store.delete(PERSISTENTVOLUMECLAIMS, name, "default")

    for key in names.values():
        await world.reconcile(key)
        volume = await doc(world, PERSISTENTVOLUMES, key.partition("|")[2])
        assert volume is not None and volume["status"]["phase"] == "Released"

    await world.reconcile(names["scratch"])
    scratch = await doc(world, PERSISTENTVOLUMES, names["scratch"].partition("|")[2])
    # deleted, but its finalizer holds it until the node's agent removed the directory
    assert scratch is not None and scratch["metadata"]["deletionTimestamp"]
    assert scratch["metadata"]["finalizers"] == [PROVISIONER_FINALIZER]
    await world.assert_idempotent(names["scratch"])
    await world.assert_idempotent(names["archive"])  # Retain: kept, Released, with its directory
    archive = await doc(world, PERSISTENTVOLUMES, names["archive"].partition("|")[2])
    assert archive is not None and "deletionTimestamp" not in archive["metadata"]
    assert not archive["metadata"].get("finalizers")
