"""The foundation against a real 3-member etcd: failover without losing acknowledged writes or events."""

from __future__ import annotations

import asyncio
import time

import pytest

from kubelite.api.resources import PODS
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.etcd.client import EtcdConfig, connect
from kubelite.storage.store import Store
from kubelite.storage.watch import WatchOptions, watch
from kubelite.testing import EtcdCluster
from tests.factories import make_pod
from tests.helpers import wait_for

# serial (scripts/test.sh's second phase, alone on the machine): a 3-member etcd in containers killed, partitioned and frozen under a writer with second-scale retry deadlines
pytestmark = pytest.mark.serial

FAST = WatchOptions(watchdog_interval=1.0, retry_delay=0.1, max_retry_delay=0.5)


class Writer:
    """Creates pods one after another; remembers which creates etcd acknowledged."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.store, self.prefix = store, prefix
        self.acknowledged: set[str] = set()
        self.failures = 0
        self.last_failure_at = 0.0
        self.first_success_after_failure: float | None = None

    async def run(self, count: int) -> None:
        for i in range(count):
            name = f"{self.prefix}-{i}"
            while True:
                try:
                    await self.store.create(PODS, make_pod(name))
                    self.acknowledged.add(name)
                    if self.failures and self.first_success_after_failure is None:
                        self.first_success_after_failure = time.monotonic()
                    break
                except Exception as exc:
                    if getattr(exc, "reason", "") == "AlreadyExists":  # a timed-out create that did land
                        self.acknowledged.add(name)
                        break
                    self.failures += 1
                    self.last_failure_at = time.monotonic()
                    await asyncio.sleep(0.05)


async def connected_store(cluster: EtcdCluster) -> Store:
    client = await connect(EtcdConfig(endpoints=cluster.endpoints, timeout=2.0))
    store = Store(client)
    await wait_for(lambda: _bootstrap(store), timeout=20, message="cluster answers")
    return store


async def _bootstrap(store: Store) -> bool:
    try:
        await ensure_system_namespaces(store)
        return True
    except Exception:
        return False


async def test_killing_the_leader_loses_no_acknowledged_write_or_event(etcd_cluster: EtcdCluster) -> None:
    store = await connected_store(etcd_cluster)
    start = int((await store.list(PODS)).resource_version) + 1
    events: list[str] = []

    async def follow() -> None:
        async for event in watch(store.client, PODS, "default", from_revision=start, options=FAST):
            events.append(event.object.name)

    follower = asyncio.create_task(follow())
    writer = Writer(store, "w")
    writing = asyncio.create_task(writer.run(300))
    await wait_for(lambda: len(writer.acknowledged) >= 50, timeout=30, message="writes before the kill")
    leader = await etcd_cluster.leader()
    killed_at = time.monotonic()
    etcd_cluster.kill(leader)
    await asyncio.wait_for(writing, 120)
    recovered = (writer.first_success_after_failure or killed_at) - killed_at
    print(f"\n[chaos] etcd leader killed: {writer.failures} failed attempts, first write after {recovered:.2f} s")
    stored = {p.name for p in (await store.list(PODS, "default")).items}
    assert writer.acknowledged <= stored, f"lost acknowledged writes: {sorted(writer.acknowledged - stored)[:5]}"
    await wait_for(lambda: len(events) >= len(stored), timeout=30, message="watch caught up")
    assert sorted(events) == sorted(stored) and len(events) == len(set(events)), "events lost or repeated"
    follower.cancel()
    await store.client.close()


async def test_a_partitioned_member_and_a_frozen_member_do_not_stop_the_store(etcd_cluster: EtcdCluster) -> None:
    store = await connected_store(etcd_cluster)
    first = etcd_cluster.members[0]  # gRPC starts on the first address: hurt the one the client uses
    etcd_cluster.disconnect(first)
    cut_at = time.monotonic()
    writer = Writer(store, "p")
    await asyncio.wait_for(writer.run(30), 60)
    print(f"\n[chaos] member partitioned: 30 writes done {time.monotonic() - cut_at:.2f} s after the cut "
          f"({writer.failures} failed attempts)")
    etcd_cluster.reconnect(first)
    etcd_cluster.wait_healthy()
    frozen = await etcd_cluster.leader()
    etcd_cluster.pause(frozen)
    frozen_at = time.monotonic()
    writer = Writer(store, "f")
    try:
        await asyncio.wait_for(writer.run(30), 60)
        print(f"[chaos] leader frozen: 30 writes done {time.monotonic() - frozen_at:.2f} s after the freeze "
              f"({writer.failures} failed attempts)")
    finally:
        etcd_cluster.unpause(frozen)
    stored = {p.name for p in (await store.list(PODS, "default")).items}
    assert {f"p-{i}" for i in range(30)} | {f"f-{i}" for i in range(30)} <= stored
    await store.client.close()
