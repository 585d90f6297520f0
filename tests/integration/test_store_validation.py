"""The store validates every write, whoever makes it, against a real etcd; nothing refused is written.

Components write through ``Store`` directly (not through the gateway), so the
store is where kube-apiserver's "the registry validates every client" holds.
An object stored before a rule existed is not held against later writers
(status writes, finalizer removals): only what a write adds must be valid.
"""

from __future__ import annotations

import json

import pytest

from kubelite.api import errors
from kubelite.api.apps import Deployment, DeploymentStatus
from kubelite.api.core import PodStatus
from kubelite.api.resources import DEPLOYMENTS, PODS
from kubelite.etcd.ops import op_put, txn
from kubelite.storage.store import Store
from tests.factories import make_pod
from tests.int_fields import base_object
from tests.integration.test_store import etcd_revision


async def test_component_writes_are_refused_like_user_writes(store: Store) -> None:
    pod = make_pod("p")
    pod.spec.containers[0].name = "Not_A_Label"
    before = await etcd_revision(store)
    with pytest.raises(errors.ApiError) as info:
        await store.create(PODS, pod)
    assert info.value.code == 422 and "spec.containers[0].name" in str(info.value)
    created = await store.create(PODS, make_pod("p"))
    created.spec.termination_grace_period_seconds = 2**63
    with pytest.raises(errors.ApiError, match="of type int64"):
        await store.update(PODS, created)
    assert await etcd_revision(store) == before + 1  # only the valid create


async def test_a_legacy_invalid_object_still_takes_status_writes_and_finalizer_removal(store: Store) -> None:
    doc = base_object("Deployment", "legacy")
    doc["spec"]["replicas"] = 2**31  # stored before the int32 rule existed
    doc["metadata"].update(uid="u-1", generation=1, finalizers=["example.com/hold"])
    key = DEPLOYMENTS.key("legacy", "default")
    await txn(store.client, [], [op_put(key, json.dumps(doc).encode())], [], what="store a legacy object")

    status = await store.get(DEPLOYMENTS, "legacy", "default")
    status.status = DeploymentStatus(observed_generation=1, replicas=0)
    await store.update(DEPLOYMENTS, status, subresource="status")  # the stored problem is not the writer's

    def new_problem(d: Deployment) -> Deployment:
        d.spec.min_ready_seconds = -1
        return d

    with pytest.raises(errors.ApiError) as info:
        await store.guaranteed_update(DEPLOYMENTS, "legacy", "default", new_problem)
    assert info.value.code == 422
    assert [c.field for c in info.value.status.details.causes or []] == ["spec.minReadySeconds"]  # type: ignore[union-attr]

    await store.delete(DEPLOYMENTS, "legacy", "default")  # marked (finalizer): not validated

    def release(d: Deployment) -> Deployment:
        d.metadata.finalizers = None
        return d

    await store.guaranteed_update(DEPLOYMENTS, "legacy", "default", release)
    with pytest.raises(errors.ApiError) as gone:
        await store.get(DEPLOYMENTS, "legacy", "default")
    assert gone.value.code == 404


async def test_a_pod_status_write_checks_the_labels_it_brings_not_the_stored_spec(store: Store) -> None:
    """pods/status keeps the stored spec (validated when it was stored, or ratcheted) and takes the
    writer's labels and annotations: those are checked, the spec is not held against the status writer."""
    doc = make_pod("legacy").to_dict()
    doc["spec"]["containers"][0]["name"] = "Not_A_Label"  # stored before the rule existed
    doc["metadata"].update(uid="u-2", generation=1)
    await txn(store.client, [], [op_put(PODS.key("legacy", "default"), json.dumps(doc).encode())], [],
              what="store a legacy pod")
    pod = await store.get(PODS, "legacy", "default")
    pod.status = PodStatus(phase="Running")
    running = await store.update(PODS, pod, subresource="status")
    assert running.phase == "Running"

    running.metadata.labels = {"bad label": "x"}
    before = await etcd_revision(store)
    with pytest.raises(errors.ApiError) as info:
        await store.update(PODS, running, subresource="status")
    assert info.value.code == 422
    assert [c.field for c in info.value.status.details.causes or []] == ["metadata.labels"]  # type: ignore[union-attr]
    assert await etcd_revision(store) == before
    await store.delete(PODS, "legacy", "default", grace_period_seconds=0)  # the strict etcd check at teardown
