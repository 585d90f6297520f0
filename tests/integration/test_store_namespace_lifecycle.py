"""The store's namespace rules against real etcd: a create can never land in a namespace that another
writer (another Store, another process) has meanwhile marked Terminating or deleted, whatever the
first store saw before; graceful pod deletion timestamps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kubelite.api import errors
from kubelite.api.core import Container, Namespace, Pod, PodSpec
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import NAMESPACES, PODS
from kubelite.etcd.client import EtcdClient
from kubelite.storage.store import Store


def pod(name: str, namespace: str = "team", node: str | None = None) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace=namespace),
               spec=PodSpec(containers=[Container(name="c", image="x")], node_name=node))


async def test_creates_follow_the_namespace_as_etcd_has_it(etcd_client: EtcdClient) -> None:
    first, other = Store(etcd_client), Store(etcd_client)
    await first.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="team")))
    await first.create(PODS, pod("before"))  # `first` has now seen "team" open
    await other.delete(NAMESPACES, "team")  # another writer marks it Terminating
    with pytest.raises(errors.ApiError) as refused:
        await first.create(PODS, pod("after"))
    assert refused.value.code == 403 and "being terminated" in refused.value.status.message
    stored = await other.get(NAMESPACES, "team")
    assert stored.status.phase == "Terminating" and stored.spec.finalizers == ["kubernetes"]

    await first.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="short")))
    await first.create(PODS, pod("x", "short"))
    finalize = (await other.get(NAMESPACES, "short")).deep_copy()
    finalize.spec.finalizers = []
    await other.update(NAMESPACES, finalize, subresource="finalize")  # not deleting: it just loses it
    await other.delete(NAMESPACES, "short")  # nothing to wait for: gone at once
    with pytest.raises(errors.ApiError) as missing:
        await first.create(PODS, pod("y", "short"))
    assert missing.value.code == 404


async def test_graceful_pod_deletion_sets_the_time_it_may_be_killed_by(etcd_client: EtcdClient) -> None:
    store = Store(etcd_client)
    await store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="team")))
    created = await store.create(PODS, pod("bound", node="n1"))
    assert {t.key for t in created.spec.tolerations} == {"node.kubernetes.io/not-ready",
                                                         "node.kubernetes.io/unreachable"}
    marked, now = await store.delete(PODS, "bound", "team", grace_period_seconds=60)
    assert not now and marked.metadata.deletion_grace_period_seconds == 60
    requested = marked.metadata.deletion_timestamp - timedelta(seconds=60)
    shorter, _ = await store.delete(PODS, "bound", "team", grace_period_seconds=10)
    assert shorter.metadata.deletion_timestamp == requested + timedelta(seconds=10)
    longer, _ = await store.delete(PODS, "bound", "team", grace_period_seconds=120)
    assert longer.metadata.deletion_timestamp == shorter.metadata.deletion_timestamp
    _, gone = await store.delete(PODS, "bound", "team", grace_period_seconds=0)
    assert gone
