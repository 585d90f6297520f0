"""Coalesced point reads on a real etcd: right answers per key, linearizable, one txn for many."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from kubelite.etcd.client import EtcdClient, EtcdConfig, connect
from kubelite.etcd.ops import EtcdUnavailable
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.storage.pointreads import BATCH_DEADLINE, MAX_BATCH, PointReads
from kubelite.testing.waiting import wait_for


async def test_concurrent_reads_each_get_their_own_key_in_few_round_trips(etcd_client: EtcdClient) -> None:
    for i in range(300):
        await etcd_client.put(f"/t/{i}".encode(), f"v{i}".encode())
    reads = PointReads(etcd_client)
    calls = {"Range": 0, "Txn": 0}
    stub = etcd_client.kvstub
    real_range, real_txn = stub.Range, stub.Txn

    def counting(name: str, real):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return real(*args, **kwargs)
        return call

    stub.Range, stub.Txn = counting("Range", real_range), counting("Txn", real_txn)
    try:
        keys = [f"/t/{i}" for i in range(300)] + ["/t/missing"]
        found = await asyncio.gather(*(reads.get(k) for k in keys))
    finally:
        stub.Range, stub.Txn = real_range, real_txn
    assert [kv.value.decode() for kv in found[:300]] == [f"v{i}" for i in range(300)]
    assert found[300] is None
    assert calls["Range"] == 0 and calls["Txn"] == -(-len(keys) // MAX_BATCH)  # 301 reads: 3 txns


async def test_a_read_after_an_acknowledged_write_sees_it(etcd_client: EtcdClient) -> None:
    reads = PointReads(etcd_client)
    for n in range(20):
        await etcd_client.put(b"/lin", str(n).encode())
        values = await asyncio.gather(*(reads.get("/lin") for _ in range(5)))
        assert {kv.value for kv in values} == {str(n).encode()}


async def test_every_reader_of_a_failed_batch_gets_the_error(etcd: EmbeddedEtcd, etcd_client: EtcdClient) -> None:
    reads = PointReads(etcd_client)
    await etcd.stop()
    results = await asyncio.gather(*(reads.get(f"/k{i}") for i in range(4)), return_exceptions=True)
    assert all(isinstance(r, EtcdUnavailable) for r in results), results


@pytest.mark.parametrize("readers", [1, 2])
async def test_a_reader_that_goes_away_leaves_the_others_served(etcd_client: EtcdClient, readers: int) -> None:
    await etcd_client.put(b"/stay", b"here")
    reads = PointReads(etcd_client)
    leaving = asyncio.ensure_future(reads.get("/stay"))
    staying = [asyncio.ensure_future(reads.get("/stay")) for _ in range(readers)]
    await asyncio.sleep(0)  # both asked in this turn
    leaving.cancel()
    assert [kv.value for kv in await asyncio.gather(*staying)] == [b"here"] * readers


async def test_a_batch_outliving_the_timeout_fails_its_readers_but_is_not_cancelled(etcd: EmbeddedEtcd) -> None:
    """etcd 3.5.0–3.5.4 panics when a read-only txn is cancelled while it runs (etcd-io/etcd#14110):
    the readers get their 503 after the client's timeout, the txn itself runs on until etcd answers."""
    client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=1.0))
    try:
        await client.put(b"/frozen", b"v")
        reads = PointReads(client)
        assert etcd.pid is not None
        os.kill(etcd.pid, signal.SIGSTOP)  # etcd frozen: the batch's txn cannot finish
        try:
            started = time.monotonic()
            results = await asyncio.gather(*(reads.get("/frozen") for _ in range(3)), return_exceptions=True)
            assert all(isinstance(r, EtcdUnavailable) and "DEADLINE_EXCEEDED" in str(r) for r in results), results
            assert time.monotonic() - started < 1.0 + BATCH_DEADLINE / 2  # the client's timeout, not the txn's
            assert reads._flushing, "the batch's txn was given up with its readers"  # noqa: SLF001
        finally:
            os.kill(etcd.pid, signal.SIGCONT)
        await wait_for(lambda: not reads._flushing, timeout=30)  # noqa: SLF001 - the txn finished, not cancelled
        assert etcd.running
        assert (await reads.get("/frozen")).value == b"v"
    finally:
        await client.close()
