"""Admission's reads under a burst of creates (a ReplicaSet's 500): each kind is read once, not once
per create (kubelite.storage.sharedreads), and what it read is applied to every pod."""

from __future__ import annotations

import asyncio
from collections import Counter

from kubelite.api.resources import LIMITRANGES, PODS
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.metrics import operation_and_type
from kubelite.storage.store import Store
from tests.factories import make_pod


async def test_a_burst_of_pod_creates_reads_each_admission_kind_once(etcd_client: EtcdClient) -> None:
    store = Store(etcd_client)
    await ensure_system_namespaces(store)
    await store.create(LIMITRANGES, LIMITRANGES.model.model_validate({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": "default"},
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "150m"}}]}}))
    await store.create(PODS, make_pod("first"))  # the namespace and its ServiceAccount seen
    await store.create(LIMITRANGES, LIMITRANGES.model.model_validate({  # a write of the kind: read it again
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "more", "namespace": "default"},
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"memory": "64Mi"}}]}}))
    calls: Counter[str] = Counter()
    etcd_client.request_observer = lambda what, seconds: calls.update([" ".join(operation_and_type(what))])
    try:
        created = await asyncio.gather(*(store.create(PODS, make_pod(f"burst-{i}")) for i in range(60)))
        created.append(await store.create(PODS, make_pod("after")))  # the burst's pod writes forgot no LimitRange read
    finally:
        etcd_client.request_observer = None
    assert calls["list limitranges"] == 1, calls  # 60 before reads were shared
    assert calls["create pods"] == 61
    for pod in created:  # both LimitRanges, the second written just before the burst
        requests = pod.spec.containers[0].resources.requests or {}
        assert (requests.get("cpu"), requests.get("memory")) == ("150m", "64Mi")
