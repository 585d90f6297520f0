"""Watches, leases and compaction against a real etcd, including etcd restarts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelite.api.resources import LEASES, PODS
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import op_get, txn
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.client.lease import LeaseSession
from kubelite.storage.store import Store
from kubelite.storage.watch import WatchEvent, WatchExpired, WatchOptions, watch
from tests.helpers import etcd_requests, wait_for
from tests.factories import make_pod

FAST = WatchOptions(watchdog_interval=1.0, retry_delay=0.1, max_retry_delay=0.5)


class Collector:
    """Runs a watch in the background and keeps what it yields."""

    def __init__(self, stream: AsyncIterator[WatchEvent]) -> None:
        self.events: list[WatchEvent] = []
        self.error: BaseException | None = None
        self._task = asyncio.create_task(self._run(stream))

    async def _run(self, stream: AsyncIterator[WatchEvent]) -> None:
        try:
            async for event in stream:
                self.events.append(event)
        except Exception as exc:
            self.error = exc

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_watch_yields_typed_events_with_previous_objects(store: Store) -> None:
    start = int((await store.list(PODS)).resource_version) + 1
    collector = Collector(watch(store.client, PODS, "default", from_revision=start, options=FAST))
    try:
        created = await store.create(PODS, make_pod())
        changed = created.deep_copy()
        changed.metadata.labels = {"v": "2"}
        await store.update(PODS, changed)
        await store.delete(PODS, "web", "default")
        await wait_for(lambda: len(collector.events) == 3, message="three events")
        added, modified, deleted = collector.events
        assert (added.type, modified.type, deleted.type) == ("ADDED", "MODIFIED", "DELETED")
        assert modified.old_object.metadata.labels is None and modified.object.metadata.labels == {"v": "2"}
        assert deleted.object.metadata.labels == {"v": "2"}
        assert int(deleted.object.metadata.resource_version) == deleted.revision > modified.revision
    finally:
        await collector.stop()


async def test_watch_resumes_across_etcd_restart_without_loss_or_duplicates(
    store: Store, etcd: EmbeddedEtcd
) -> None:
    start = int((await store.list(PODS)).resource_version) + 1
    collector = Collector(watch(store.client, PODS, "default", from_revision=start, options=FAST))
    try:
        for i in range(20):
            await store.create(PODS, make_pod(f"before-{i}"))
        await wait_for(lambda: len(collector.events) == 20, message="events before the restart")
        await etcd.kill()
        await etcd.start()
        for i in range(20):
            await wait_for(lambda i=i: _create_ignoring_outage(store, f"after-{i}"), timeout=20, message="write")
        await wait_for(lambda: len(collector.events) >= 40, timeout=20, message="events after the restart")
        names = [e.object.name for e in collector.events]
        assert names == [f"before-{i}" for i in range(20)] + [f"after-{i}" for i in range(20)]
        revisions = [e.revision for e in collector.events]
        assert revisions == sorted(set(revisions))
        assert collector.error is None
    finally:
        await collector.stop()


async def _create_ignoring_outage(store: Store, name: str) -> bool:
    """One create attempt; an etcd still coming up counts as "not yet" (a re-read tells if it landed)."""
    try:
        await store.create(PODS, make_pod(name))
        return True
    except Exception as exc:
        if getattr(exc, "code", None) == 409:
            return True
        if getattr(exc, "code", None) == 503:
            return False
        raise


async def test_watch_from_compacted_revision_is_expired(store: Store, etcd_client: EtcdClient) -> None:
    for i in range(5):
        await store.create(PODS, make_pod(f"p{i}"))
    revision = int((await store.list(PODS)).resource_version)
    await etcd_client.compact(revision)
    with pytest.raises(WatchExpired) as info:
        async for _ in watch(store.client, PODS, "default", from_revision=2, options=FAST):
            pass
    assert info.value.code == 410


async def test_lease_expiry_deletes_attached_keys(store: Store, etcd_client: EtcdClient) -> None:
    session = LeaseSession(etcd_client, ttl=2)
    await session.start()
    await store.create(PODS, make_pod("leased"), lease=session.lease_id)
    await session.stop(revoke=False)  # stop keepalive: the lease runs out by itself
    assert session.lost.is_set()
    await wait_for(lambda: _missing(store, "leased"), timeout=10, message="leased key expired")


async def test_lease_session_keeps_keys_alive_and_reports_revocation(store: Store, etcd_client: EtcdClient) -> None:
    session = LeaseSession(etcd_client, ttl=2)
    await session.start()
    await store.create(PODS, make_pod("kept"), lease=session.lease_id)
    # Three TTLs pass while the keepalive runs: the key must still be there.
    revision_seen: list[Any] = []

    async def three_ttls_later() -> bool:
        revision_seen.append(await store.get(PODS, "kept", "default"))
        return len(revision_seen) >= 30

    await wait_for(three_ttls_later, timeout=15, interval=0.2, message="key kept through 3 TTLs")
    await etcd_client.revoke_lease(session.lease_id)
    await asyncio.wait_for(session.lost.wait(), timeout=5)
    assert await _missing(store, "kept")
    await session.stop()


async def test_stopping_a_session_with_revoke_deletes_keys_at_once(store: Store, etcd_client: EtcdClient) -> None:
    session = LeaseSession(etcd_client, ttl=60)
    await session.start()
    await store.create(PODS, make_pod("short-lived"), lease=session.lease_id)
    await session.stop(revoke=True)
    assert await _missing(store, "short-lived")


async def test_update_keeps_the_key_on_its_lease(store: Store, etcd_client: EtcdClient) -> None:
    session = LeaseSession(etcd_client, ttl=30)
    await session.start()
    created = await store.create(LEASES, _node_lease("node-1"), lease=session.lease_id)
    changed = created.deep_copy()
    changed.spec.holder_identity = "node-1-again"
    await store.update(LEASES, changed)
    await etcd_client.revoke_lease(session.lease_id)
    assert await _missing(store, "node-1", LEASES, "kube-node-lease")
    await session.stop()


def _node_lease(name: str) -> Any:
    from kubelite.api.coordination import Lease, LeaseSpec
    from kubelite.api.meta import ObjectMeta

    return Lease(metadata=ObjectMeta(name=name, namespace="kube-node-lease"), spec=LeaseSpec(holder_identity=name))


async def _missing(store: Store, name: str, res: Any = PODS, namespace: str = "default") -> bool:
    try:
        await store.get(res, name, namespace)
    except Exception as exc:
        if getattr(exc, "code", None) == 404:
            return True
        raise
    return False


async def test_closing_a_watch_after_its_stream_broke_leaves_the_resumed_watches_alone(store: Store) -> None:
    """etcd numbers watches per gRPC stream, from 0: after a reset, a new watch may get the id an old,
    broken one had. Closing the old one must not cancel the new one (it would go silent for good)."""
    start = int((await store.list(PODS)).resource_version) + 1
    old = watch(store.client, PODS, "default", from_revision=start, options=FAST)
    await store.create(PODS, make_pod("a"))
    assert (await asyncio.wait_for(anext(old), 10)).object.name == "a"  # established: watch id 0
    await store.client.reset_watch_stream("test: the stream broke")
    new = watch(store.client, PODS, "default", from_revision=start + 1, options=FAST)
    await store.create(PODS, make_pod("b"))
    assert (await asyncio.wait_for(anext(new), 10)).object.name == "b"  # on the new stream, id 0 again
    await old.aclose()
    await store.create(PODS, make_pod("c"))
    try:
        assert (await asyncio.wait_for(anext(new), 10)).object.name == "c", "the new watch still delivers"
    finally:
        await new.aclose()




async def test_a_clients_watches_share_one_watchdog(store: Store, etcd: EmbeddedEtcd) -> None:
    """Twenty watches on one client probe etcd as one (their client's one stream is what a probe
    guards): over a window of ten watchdog intervals, about ten reads, not two hundred."""
    options = WatchOptions(watchdog_interval=0.2, retry_delay=0.1, max_retry_delay=0.5)
    start = int((await store.list(PODS)).resource_version) + 1
    collectors = [Collector(watch(store.client, PODS, "default", from_revision=start, options=options))
                  for i in range(20)]
    try:
        await store.create(PODS, make_pod())  # the watches are up once one of them delivers an event
        await wait_for(lambda: all(c.events for c in collectors), message="every watch delivering")
        before = await etcd_requests(etcd, "Range")
        await asyncio.sleep(2.0)  # the measuring window itself (ten intervals), not a wait for a condition
        probes = await etcd_requests(etcd, "Range") - before
        assert 5 <= probes <= 16, probes  # one watchdog: ~10; one per watch: ~200
    finally:
        for collector in collectors:
            await collector.stop()


async def test_a_watchdog_sends_no_probe_while_the_client_is_answered(store: Store, etcd: EmbeddedEtcd) -> None:
    """A process that reads etcd anyway (here a read-only txn every 0.3 s) shows the member alive:
    its watchdog then sends etcd no reads of its own, and probes again once nothing else is answered.
    Lease keepalives do not count (etcd 3.5.1 answers them from a stuck leader)."""
    options = WatchOptions(watchdog_interval=1.0, retry_delay=0.1, max_retry_delay=0.5)
    start = int((await store.list(PODS)).resource_version) + 1
    collector = Collector(watch(store.client, PODS, "default", from_revision=start, options=options))
    session = LeaseSession(store.client, ttl=2)  # a keepalive about every 0.65 s, which proves nothing
    await session.start()

    async def reads() -> None:
        while True:
            await txn(store.client, [], [op_get(PODS.key("web", "default"))], [], what="a reader")
            await asyncio.sleep(0.3)
    try:
        await store.create(PODS, make_pod())
        await wait_for(lambda: collector.events, message="the watch delivering")
        reader = asyncio.create_task(reads())
        try:
            before = await etcd_requests(etcd, "Range")
            await asyncio.sleep(4.0)  # the measuring window itself (four intervals), not a wait for a condition
            assert await etcd_requests(etcd, "Range") - before <= 1  # before: one probe an interval
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        before = await etcd_requests(etcd, "Range")

        async def probed() -> bool:
            return await etcd_requests(etcd, "Range") >= before + 2
        await wait_for(probed, timeout=10, interval=0.2, message="probes while only keepalives are answered")
    finally:
        await session.stop()
        await collector.stop()
