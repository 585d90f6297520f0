"""The ``default/kubernetes`` Service's lease reconciler against a real etcd: what it writes, and that a
steady round costs etcd one read-only txn (no write, no raft round) — an idle cluster's etcd load."""

from __future__ import annotations

from kubelite.api.resources import ENDPOINTS, ENDPOINTSLICES, SERVICES
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway.kubernetes_service import KubernetesService
from kubelite.registry.service_alloc import ServiceRanges
from kubelite.storage.store import Store
from tests.helpers import etcd_requests

HOUR = 3600.0  # rounds are driven by the test, not the timer


async def _subsets(store: Store) -> list[dict]:
    return (await store.get(ENDPOINTS, "kubernetes", "default")).to_dict().get("subsets") or []


async def test_gateways_are_listed_and_a_steady_round_only_reads(store: Store, etcd: EmbeddedEtcd) -> None:
    first = KubernetesService(store.client, store, address="127.0.0.1", port=6443, ranges=ServiceRanges(),
                              interval=HOUR)
    second = KubernetesService(store.client, store, address="127.0.0.1", port=6444, ranges=ServiceRanges(),
                               interval=HOUR)
    await first.start()
    await second.start()
    try:
        await first.reconcile()
        assert {s["ports"][0]["port"] for s in await _subsets(store)} == {6443, 6444}
        assert (await store.get(SERVICES, "kubernetes", "default")).spec["clusterIP"] == "10.96.0.1"

        revision = int((await store.list(SERVICES)).resource_version)
        txns, ranges = await etcd_requests(etcd, "Txn"), await etcd_requests(etcd, "Range")
        await first.reconcile()
        assert await etcd_requests(etcd, "Txn") - txns == 1  # one read-only txn: the leases and the objects
        assert await etcd_requests(etcd, "Range") - ranges == 0
        assert int((await store.list(SERVICES)).resource_version) == revision, "a steady round wrote"

        await second.stop()  # revokes its lease and takes itself out
        assert {s["ports"][0]["port"] for s in await _subsets(store)} == {6443}
        await store.delete(ENDPOINTSLICES, "kubernetes", "default")
        await first.reconcile()
        slice_ = (await store.get(ENDPOINTSLICES, "kubernetes", "default")).to_dict()
        assert slice_["ports"][0]["port"] == 6443 and slice_["endpoints"][0]["addresses"] == ["127.0.0.1"]
    finally:
        await second.stop()
        await first.stop()
