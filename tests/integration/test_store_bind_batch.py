"""Store.bind_batch on a real etcd: the binds of one moment in one txn, all or none, and which pods
the caller must bind alone (issue 12). The scheduler's sharing of it: tests/controllers/unit/test_bind_batch.py."""

from __future__ import annotations

import pytest

from kubelite.api.coordination import Lease
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import PODS
from kubelite.etcd.ops import op_put, range_, txn
from kubelite.storage.store import Fence, Store, encode

from tests.controllers.objects import bare_pod


async def _created(store: Store, *names: str) -> list:
    return [await store.create(PODS, bare_pod(name)) for name in names]


async def _node_and_revision(store: Store, name: str) -> tuple[str | None, str | None, str]:
    pod = await store.get(PODS, name, "default")
    scheduled = pod.status.condition("PodScheduled") if pod.status else None
    return pod.spec.node_name, scheduled.status if scheduled else None, str(pod.metadata.resource_version)


async def test_the_binds_of_one_moment_land_in_one_write(store: Store) -> None:
    a, b, c = await _created(store, "a", "b", "c")
    results = await store.bind_batch([(a, "n1"), (b, "n2"), (c, "n1")])
    assert results[0] is not None and results == [results[0]] * 3  # one txn: one revision
    for name, node in (("a", "n1"), ("b", "n2"), ("c", "n1")):
        assert await _node_and_revision(store, name) == (node, "True", results[0])


async def test_a_stale_copy_fails_the_whole_txn_and_writes_nothing(store: Store) -> None:
    a, b = await _created(store, "a", "b")
    changed = (await store.get(PODS, "b", "default")).model_copy(deep=True)
    changed.metadata.labels = {"changed": "yes"}
    await store.update(PODS, changed)
    before = await _node_and_revision(store, "a")
    assert await store.bind_batch([(a, "n1"), (b, "n1")]) == [None, None]
    assert await _node_and_revision(store, "a") == before  # not bound: the caller binds each alone
    assert await store.bind("default", "b", "n1", uid=b.metadata.uid, read=b)  # which reads b again
    assert (await _node_and_revision(store, "b"))[:2] == ("n1", "True")


async def test_copies_that_cannot_be_bound_as_read_are_left_to_the_caller(store: Store) -> None:
    a, b = await _created(store, "a", "b")
    assigned = b.model_copy(deep=True)
    assigned.spec.node_name = "elsewhere"
    results = await store.bind_batch([(a, "n1"), (assigned, "n1")])
    assert results[0] is not None and results[1] is None
    assert (await _node_and_revision(store, "b"))[0] is None


async def test_a_deposed_leaders_batch_writes_nothing(store: Store) -> None:
    election_key = "/registry/leases/kube-system/test-election"
    record = encode(Lease(metadata=ObjectMeta(name="test-election", namespace="kube-system")))
    first = await txn(store.client, [], [op_put(election_key, record)], [], what="test")
    fence = Fence(election_key, first.header.revision)
    await store.client.delete(election_key.encode())
    await txn(store.client, [], [op_put(election_key, record)], [], what="test")  # a new reign
    (a,) = await _created(store, "a")
    assert await store.bind_batch([(a, "n1")], fence=fence) == [None]
    assert (await _node_and_revision(store, "a"))[0] is None


async def test_a_pod_twice_or_past_the_txn_size_is_left_to_the_caller(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """etcd refuses a key twice in a txn, and a request over --max-request-bytes: those pods bind alone."""
    from kubelite.storage import store as store_module

    a, b, c = await _created(store, "a", "b", "c")
    results = await store.bind_batch([(a, "n1"), (a, "n2"), (b, "n1")])
    assert results[0] is not None and results[1] is None and results[2] == results[0]
    stored = await range_(store.client, PODS.key("c", "default"), what="test")
    monkeypatch.setattr(store_module, "TXN_BYTES", len(stored.kvs[0].value) * 3 // 2)  # one bound pod, not two
    d, e = await _created(store, "d", "e")
    results = await store.bind_batch([(c, "n1"), (d, "n1"), (e, "n1")])
    assert results[0] is not None and results[1:] == [None, None]
    assert [(await _node_and_revision(store, name))[0] for name in "cde"] == ["n1", None, None]
