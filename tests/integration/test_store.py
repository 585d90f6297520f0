"""The store against a real etcd: Kubernetes semantics of create/update/delete/list."""

from __future__ import annotations

import asyncio
import json

import pytest

from kubelite.api import errors
from kubelite.api.core import Pod, PodStatus, ResourceRequirements
from kubelite.api.resources import NAMESPACES, PODS, SERVICEACCOUNTS
from kubelite.api.meta import OwnerReference
from kubelite.etcd.ops import range_
from kubelite.registry.strategy import Admission
from kubelite.storage.store import MAX_OBJECT_BYTES, Fence, NotLeader, Store
from tests.factories import make_pod


async def etcd_revision(store: Store) -> int:
    response = await range_(store.client, "/registry/", what="test revision")
    return int(response.header.revision)


async def test_create_sets_identity_and_get_reads_it_back(store: Store) -> None:
    created = await store.create(PODS, make_pod())
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert created.metadata.generation == 1
    fetched = await store.get(PODS, "web", "default")
    assert fetched.metadata.resource_version == created.metadata.resource_version
    assert fetched.metadata.uid == created.metadata.uid
    raw = await range_(store.client, "/registry/pods/default/web", what="raw")
    doc = json.loads(raw.kvs[0].value)
    assert doc["kind"] == "Pod" and "resourceVersion" not in doc["metadata"]


async def test_create_twice_is_already_exists_and_changes_nothing(store: Store) -> None:
    await store.create(PODS, make_pod())
    before = await etcd_revision(store)
    with pytest.raises(errors.ApiError) as info:
        await store.create(PODS, make_pod())
    assert info.value.code == 409 and info.value.reason == "AlreadyExists"
    assert await etcd_revision(store) == before


async def test_create_in_missing_namespace_is_not_found(store: Store) -> None:
    with pytest.raises(errors.ApiError) as info:
        await store.create(PODS, make_pod(namespace="nowhere"))
    assert info.value.code == 404 and "nowhere" in str(info.value)


async def test_generate_name(store: Store) -> None:
    pod = make_pod()
    pod.metadata.name, pod.metadata.generate_name = None, "web-"
    first = await store.create(PODS, pod)
    second = await store.create(PODS, pod)
    assert first.name.startswith("web-") and second.name.startswith("web-") and first.name != second.name


async def test_stale_update_is_conflict(store: Store) -> None:
    created = await store.create(PODS, make_pod())
    fresh = created.deep_copy()
    fresh.metadata.labels = {"a": "1"}
    await store.update(PODS, fresh)
    stale = created.deep_copy()
    stale.metadata.labels = {"a": "2"}
    with pytest.raises(errors.ApiError) as info:
        await store.update(PODS, stale)
    assert info.value.code == 409 and info.value.reason == "Conflict"
    assert (await store.get(PODS, "web", "default")).metadata.labels == {"a": "1"}


async def test_generation_counts_spec_changes_only(store: Store) -> None:
    created = await store.create(PODS, make_pod())
    relabeled = created.deep_copy()
    relabeled.metadata.labels = {"x": "y"}
    relabeled = await store.update(PODS, relabeled)
    assert relabeled.metadata.generation == 1
    respec = relabeled.deep_copy()
    respec.spec.containers[0].image = "other:1"
    respec = await store.update(PODS, respec)
    assert respec.metadata.generation == 2


async def test_an_update_that_changes_nothing_is_not_written(store: Store) -> None:
    """kube-apiserver skips the etcd write of an update whose object is unchanged after decoding and
    defaulting: same resourceVersion, same generation, no watch event. Spelling out nothing (an empty
    ``resources``, an empty ``env``, a default) is such an update."""
    created = await store.create(PODS, make_pod())
    before = await etcd_revision(store)
    same = await store.update(PODS, created.deep_copy())
    assert same.metadata.resource_version == created.metadata.resource_version
    spelled = created.deep_copy()
    spelled.spec.containers[0].resources = ResourceRequirements(requests={})
    spelled.spec.containers[0].env = []
    spelled.spec.restart_policy = "Always"  # the default
    spelled.metadata.labels = {}
    same = await store.update(PODS, spelled)
    assert same.metadata.resource_version == created.metadata.resource_version
    assert same.metadata.generation == 1
    assert await etcd_revision(store) == before
    changed = spelled.deep_copy()
    changed.metadata.labels = {"x": ""}  # a label with an empty value is a change
    changed = await store.update(PODS, changed)
    assert int(changed.metadata.resource_version or 0) > before and changed.metadata.generation == 1


async def test_status_subresource_and_main_resource_keep_each_others_part(store: Store) -> None:
    created = await store.create(PODS, make_pod())
    with_status = created.deep_copy()
    with_status.status = PodStatus(phase="Running")
    with_status.spec.containers[0].image = "ignored:1"
    updated = await store.update(PODS, with_status, subresource="status")
    assert updated.status.phase == "Running" and updated.spec.containers[0].image == "kubelite/demo:latest"
    main = updated.deep_copy()
    main.status = PodStatus(phase="Failed")
    main.metadata.labels = {"k": "v"}
    kept = await store.update(PODS, main)
    assert kept.status.phase == "Running" and kept.metadata.labels == {"k": "v"}


async def test_update_from_the_callers_read_keeps_the_precondition_and_its_copy(store: Store) -> None:
    """``read=``: the caller's own read (an informer's copy) instead of the store's re-read. The
    write still compares that revision: a stale read is a 409 with etcd untouched, and neither the
    read nor the caller's object is changed (both are shared with a cache)."""
    created = await store.create(PODS, make_pod())
    status_of_read = created.model_copy(update={"status": PodStatus(phase="Running")})
    written = await store.update(PODS, status_of_read, subresource="status", read=created)
    assert written.status.phase == "Running" and written.spec == created.spec
    assert created.status is not None and created.status.phase == "Pending"
    assert created.metadata.resource_version != written.metadata.resource_version
    assert status_of_read.status is not None and status_of_read.status.qos_class is None
    assert status_of_read.metadata.resource_version == created.metadata.resource_version
    assert (await store.get(PODS, "web", "default")).status.phase == "Running"

    before = await etcd_revision(store)
    stale = created.model_copy(update={"spec": created.spec.model_copy(update={"node_name": "n1"})})
    with pytest.raises(errors.ApiError) as info:
        await store.update(PODS, stale, read=created)  # created's revision is no longer the stored one
    assert info.value.code == 409 and info.value.reason == "Conflict"
    assert await etcd_revision(store) == before
    assert created.spec.node_name is None

    current = await store.get(PODS, "web", "default")
    bound = current.model_copy(update={"spec": current.spec.model_copy(update={"node_name": "n1"})})
    bound = await store.update(PODS, bound, read=current)
    assert bound.spec.node_name == "n1" and bound.status.phase == "Running"  # the main resource keeps the status
    assert current.spec.node_name is None and current.metadata.generation == 1


async def test_guaranteed_update_survives_concurrent_writers(store: Store) -> None:
    await store.create(PODS, make_pod())

    def bump(pod: Pod) -> Pod:
        labels = dict(pod.metadata.labels or {})
        labels["n"] = str(int(labels.get("n", "0")) + 1)
        pod.metadata.labels = labels
        return pod

    await asyncio.gather(*(store.guaranteed_update(PODS, "web", "default", bump) for _ in range(10)))
    assert (await store.get(PODS, "web", "default")).metadata.labels == {"n": "10"}


async def test_delete_with_preconditions(store: Store) -> None:
    created = await store.create(PODS, make_pod())
    with pytest.raises(errors.ApiError) as info:
        await store.delete(PODS, "web", "default", resource_version="1")
    assert info.value.code == 409
    with pytest.raises(errors.ApiError):
        await store.delete(PODS, "web", "default", uid="not-the-uid")
    _, deleted_now = await store.delete(PODS, "web", "default", uid=created.metadata.uid)
    assert deleted_now
    with pytest.raises(errors.ApiError) as info:
        await store.get(PODS, "web", "default")
    assert info.value.code == 404


async def test_bound_pod_is_deleted_gracefully_then_for_real(store: Store) -> None:
    await store.create(PODS, make_pod(node="node-1"))
    marked, deleted_now = await store.delete(PODS, "web", "default")
    assert not deleted_now
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.deletion_grace_period_seconds == 30
    _, deleted_now = await store.delete(PODS, "web", "default", grace_period_seconds=0)
    assert deleted_now


async def test_removing_last_finalizer_of_deleted_object_deletes_it(store: Store) -> None:
    pod = make_pod()
    pod.metadata.finalizers = ["example.com/hold"]
    await store.create(PODS, pod)
    marked, deleted_now = await store.delete(PODS, "web", "default")
    assert not deleted_now and marked.metadata.deletion_timestamp
    released = marked.deep_copy()
    released.metadata.finalizers = None
    await store.update(PODS, released)
    with pytest.raises(errors.ApiError) as info:
        await store.get(PODS, "web", "default")
    assert info.value.code == 404


async def test_oversized_object_is_rejected_before_etcd(store: Store) -> None:
    pod = make_pod()
    pod.spec.containers[0].args = ["x" * (MAX_OBJECT_BYTES + 10)]  # valid, only too big (annotations are capped)
    before = await etcd_revision(store)
    with pytest.raises(errors.ApiError) as info:
        await store.create(PODS, pod)
    assert info.value.code == 413
    assert await etcd_revision(store) == before


async def test_paginated_list_is_consistent_and_filtered(store: Store) -> None:
    for i in range(25):
        await store.create(PODS, make_pod(f"p{i:02d}", tier="a" if i % 2 else "b"))
    first = await store.list(PODS, "default", limit=10)
    assert len(first.items) == 10 and first.continue_token
    await store.create(PODS, make_pod("p99"))  # after the list's revision: must not appear
    names = [p.name for p in first.items]
    token = first.continue_token
    while token:
        page = await store.list(PODS, "default", limit=10, continue_token=token)
        assert page.resource_version == first.resource_version
        names += [p.name for p in page.items]
        token = page.continue_token
    assert names == [f"p{i:02d}" for i in range(25)]
    odd = await store.list(PODS, "default", predicate=lambda p: p.metadata.labels.get("tier") == "a", limit=5)
    assert [p.name for p in odd.items] == ["p01", "p03", "p05", "p07", "p09"]


async def test_bad_continue_token_is_bad_request(store: Store) -> None:
    with pytest.raises(errors.ApiError) as info:
        await store.list(PODS, "default", limit=1, continue_token="garbage!")
    assert info.value.code == 400


async def test_fence_rejects_writes_of_a_deposed_leader(store: Store) -> None:
    election_key = "/registry/leases/kube-system/test-election"
    from kubelite.api.coordination import Lease
    from kubelite.api.meta import ObjectMeta
    from kubelite.etcd.ops import op_put, txn
    from kubelite.storage.store import encode

    record = encode(Lease(metadata=ObjectMeta(name="test-election", namespace="kube-system")))
    first = await txn(store.client, [], [op_put(election_key, record)], [], what="test")
    fence = Fence(election_key, first.header.revision)
    await store.create(PODS, make_pod("a"), fence=fence)
    await store.client.delete(election_key.encode())
    await txn(store.client, [], [op_put(election_key, record)], [], what="test")  # a new reign
    with pytest.raises(NotLeader):
        await store.create(PODS, make_pod("b"), fence=fence)
    with pytest.raises(NotLeader):
        await store.delete(PODS, "a", "default", fence=fence)
    assert (await store.get(PODS, "a", "default")).name == "a"


async def test_cluster_scoped_namespaces_exist(store: Store) -> None:
    names = {ns.name for ns in (await store.list(NAMESPACES)).items}
    assert {"default", "kube-system", "kube-node-lease"} <= names


async def test_delete_without_preconditions_wins_over_concurrent_writers(store: Store) -> None:
    await store.create(PODS, make_pod())
    stop = asyncio.Event()
    writing = asyncio.Event()
    landed = 0

    async def keep_writing() -> None:
        nonlocal landed
        n = 0
        while not stop.is_set():
            n += 1
            try:
                await store.guaranteed_update(
                    PODS, "web", "default", lambda p: p.model_copy(update={"metadata": p.metadata.model_copy(
                        update={"labels": {"n": str(n)}})})
                )
                landed += 1
                if landed >= 5:
                    writing.set()
            except errors.ApiError as exc:
                if exc.code == 404:
                    return
                if exc.code != 409:  # three writers may starve one another: only the delete must win
                    raise

    writers = [asyncio.create_task(keep_writing()) for _ in range(3)]
    await asyncio.wait_for(writing.wait(), 10)  # the writers are racing before the delete starts
    _, deleted_now = await store.delete(PODS, "web", "default")
    stop.set()
    await asyncio.gather(*writers)
    assert deleted_now


async def test_pod_status_writes_keep_the_requests_labels_and_annotations(store: Store) -> None:
    """kube's podStatusStrategy: pods/status keeps the request's metadata but ownerReferences (and
    deletionTimestamp), so a node reports what has no status field (host ports) in an annotation
    without updating the pod; the spec stays the stored one."""
    created = await store.create(PODS, make_pod())
    sent = created.deep_copy()
    sent.metadata.annotations = {"kubelite.io/host-ports": "[]"}
    sent.metadata.labels = {**(created.metadata.labels or {}), "extra": "x"}
    sent.metadata.owner_references = [OwnerReference(api_version="v1", kind="Node", name="n", uid="u")]
    sent.spec.containers[0].image = "ignored:1"
    written = await store.update(PODS, sent, subresource="status")
    assert written.metadata.annotations == {"kubelite.io/host-ports": "[]"}
    assert written.metadata.labels == sent.metadata.labels
    assert not written.metadata.owner_references and written.spec.containers[0].image == created.spec.containers[0].image


async def test_every_writers_pod_is_created_pending_with_its_qos_class(store: Store) -> None:
    """kube's podStrategy.PrepareForCreate, for the controllers' and agents' writes as for the gateway's:
    the status sent is dropped; the pod is stored Pending, with the QoS class of its spec (GetPodQOS: a
    qosClass the writer sent is kept, as kube-apiserver reads it before it replaces the status)."""
    sent = make_pod()
    sent.spec.containers[0].resources = ResourceRequirements(limits={"cpu": "500m", "memory": "64Mi"})
    sent.status = PodStatus(phase="Running", pod_ip="10.0.0.9")
    created = await store.create(PODS, sent)
    assert created.status is not None and created.status.to_dict() == {"phase": "Pending", "qosClass": "Guaranteed"}
    raw = await range_(store.client, "/registry/pods/default/web", what="raw")
    assert json.loads(raw.kvs[0].value)["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    # SetDefaults_Pod, as a controller's POST gets it in Kubernetes: the limits stand in for the requests
    assert json.loads(raw.kvs[0].value)["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "500m",
                                                                                             "memory": "64Mi"}
    assert sent.status.phase == "Running"  # the caller's object is not changed
    assert sent.spec.containers[0].resources.requests is None
    assert sent.spec.tolerations is None and sent.spec.enable_service_links is None  # admission changed its own copy
    assert created.spec.tolerations and created.spec.enable_service_links is True
    sent.metadata.name, sent.status.qos_class = "quirk", "BestEffort"
    quirk = await store.create(PODS, sent)
    assert quirk.status is not None and quirk.status.to_dict() == {"phase": "Pending", "qosClass": "BestEffort"}


async def test_service_account_admission_changes_the_creates_copy_not_the_callers(store: Store) -> None:
    """Admission changes the create's own copy in place (issue 12: no copy per plugin); a controller's
    template, created a thousand times, stays as it was."""
    admitted = Store(store.client, admission=Admission(service_account=True))
    await admitted.create(SERVICEACCOUNTS, SERVICEACCOUNTS.model.model_validate(
        {"metadata": {"name": "default", "namespace": "default"}}))
    template = make_pod()
    before = template.to_dict()
    first = await admitted.create(PODS, template)
    template.metadata.name = "second"
    second = await admitted.create(PODS, template)
    assert template.to_dict() == {**before, "metadata": {**before["metadata"], "name": "second"}}
    for created in (first, second):
        assert created.spec.service_account_name == "default"
        assert [v.name for v in created.spec.volumes or []] == [created.spec.containers[0].volume_mounts[0].name]
    assert first.spec.volumes[0].name != second.spec.volumes[0].name  # each create's own random volume name


async def test_a_pod_status_write_without_qos_class_keeps_the_stored_one(store: Store) -> None:
    """kube's podStatusStrategy backfills qosClass (set on create, immutable) when a status leaves it out."""
    created = await store.create(PODS, make_pod())
    sent = created.deep_copy()
    sent.status = PodStatus(phase="Running")
    written = await store.update(PODS, sent, subresource="status")
    assert written.status is not None and written.status.phase == "Running"
    assert written.status.qos_class == "BestEffort"
    assert sent.status.qos_class is None  # the caller's object is not changed
