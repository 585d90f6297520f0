"""Group commit on a real etcd (kubelite/etcd/txnbatch.py): concurrent txns of one client go as one
etcd txn with nested txns, and each caller's outcome is the one it would have had alone."""

from __future__ import annotations

import asyncio

from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import cmp_mod, cmp_version, op_get, op_put, range_, txn


async def _create(client: EtcdClient, key: str, value: bytes) -> bool:
    response = await txn(client, [cmp_version(key, "==", 0)], [op_put(key, value)], [op_get(key)], what=f"create {key}")
    return bool(response.succeeded)


async def test_concurrent_creates_share_etcd_txns_and_each_gets_its_own_outcome(etcd_client: EtcdClient) -> None:
    for i in range(0, 40, 4):  # every fourth key exists: those creates fail their compare
        await etcd_client.put(f"/tb/{i}".encode(), b"old")
    before = etcd_client.txn_batcher.batches if etcd_client.txn_batcher else 0
    outcomes = await asyncio.gather(*(_create(etcd_client, f"/tb/{i}", b"new") for i in range(40)))
    assert outcomes == [i % 4 != 0 for i in range(40)]
    assert etcd_client.txn_batcher is not None and etcd_client.txn_batcher.batches > before  # they did share
    stored = await range_(etcd_client, "/tb/", range_end=b"/tb0", what="test")
    assert {kv.key.decode(): kv.value for kv in stored.kvs} == {f"/tb/{i}": b"old" if i % 4 == 0 else b"new"
                                                                for i in range(40)}
    # the failure branch's read came back to its caller too
    response = await txn(etcd_client, [cmp_version("/tb/0", "==", 0)], [op_put("/tb/0", b"x")], [op_get("/tb/0")],
                         what="test")
    assert not response.succeeded and response.responses[0].response_range.kvs[0].value == b"old"


async def test_a_txn_comparing_a_key_another_writes_sees_that_write(etcd_client: EtcdClient) -> None:
    """Sent in order, "create /k" then "put /other if /k is absent": the second fails. In one etcd txn
    every compare sees the store from before it, so the second would pass: the batcher sends it in
    the next txn instead."""
    for attempt in range(5):
        key, other = f"/tc/{attempt}/k", f"/tc/{attempt}/other"
        blocker = _create(etcd_client, f"/tc/{attempt}/first", b"v")  # in flight: the next two wait behind it
        writes = _create(etcd_client, key, b"v")
        absent = txn(etcd_client, [cmp_mod(key, "==", 0)], [op_put(other, b"v")], [], what="put other if absent")
        first, created, conditional = await asyncio.gather(blocker, writes, absent)
        assert first and created
        assert not conditional.succeeded
        assert not (await range_(etcd_client, other, what="test")).kvs
