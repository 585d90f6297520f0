"""The gateway's watch cache: one etcd watch per resource shared by all watchers, replay from its
window, 410 Expired before it (as kube-apiserver's watch cache), cut-off of slow watchers."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from kubelite.api import errors
from kubelite.api.resources import PODS
from kubelite.etcd.ops import compact, op_put, range_, txn
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.storage.store import Store
from kubelite.util.supervise import cancel_and_wait, spawn
from tests.factories import make_pod
from tests.gateway.conftest import gateway_config, stop_or_explain
from tests.gateway.test_api import read_events
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(90)

WATCH = "/api/v1/namespaces/default/pods"


async def test_watchers_share_one_hub_and_see_the_same_events(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    assert gateway.state is not None
    store = gateway.state.store
    rv = (await store.list(PODS, "default")).resource_version
    streams = [await api.get(WATCH, params={"watch": "1", "resourceVersion": rv}) for _ in range(5)]
    try:
        for i in range(3):
            await store.create(PODS, make_pod(f"p{i}"))
        seen = [[e["object"]["metadata"]["name"] for e in await read_events(s, 3)] for s in streams]
        assert seen == [["p0", "p1", "p2"]] * 5
        assert len(gateway.state.hubs._hubs["pods"].subscribers) == 5  # noqa: SLF001 - one etcd watch for all five
        # a late watcher from the same revision is replayed from the hub's buffer
        async with api.get(WATCH, params={"watch": "1", "resourceVersion": rv}) as late:
            assert [e["object"]["metadata"]["name"] for e in await read_events(late, 3)] == ["p0", "p1", "p2"]
    finally:
        for s in streams:
            s.close()


async def first_event(api: aiohttp.ClientSession, rv: str | int) -> dict[str, Any]:
    async with api.get(WATCH, params={"watch": "1", "resourceVersion": str(rv)}) as stream:
        assert stream.status == 200  # kube-apiserver: 200, then the ERROR event
        [event] = await read_events(stream, 1)
    return event


def assert_expired(event: dict[str, Any], rv: int, oldest: int) -> None:
    assert event["type"] == "ERROR", event
    status = event["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired"), status
    assert status["message"] == f"too old resource version: {rv} ({oldest})"


async def test_watch_from_before_the_window_is_410_even_on_a_young_cluster(
    api: aiohttp.ClientSession, gateway: Gateway,
) -> None:
    """resourceVersion=1 on a cluster with history: 410 at once, not a replay of etcd's history."""
    assert gateway.state is not None
    store = gateway.state.store
    oldest = gateway.state.hubs._hubs["pods"].oldest  # noqa: SLF001 - where the gateway's window starts
    assert oldest > 1  # the system namespaces were written before the gateway started
    await store.create(PODS, make_pod("a"))
    assert_expired(await first_event(api, 1), 1, oldest)
    assert_expired(await first_event(api, oldest - 1), oldest - 1, oldest)
    event = await first_event(api, oldest)  # the window's first revision is served
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "a")


async def test_watch_from_an_evicted_revision_is_410_and_a_relist_recovers(
    api: aiohttp.ClientSession, gateway: Gateway,
) -> None:
    assert gateway.state is not None
    store = gateway.state.store
    hub = gateway.state.hubs._hubs["pods"]  # noqa: SLF001
    hub.buffer_size = 3
    created = [await store.create(PODS, make_pod(f"p{i}")) for i in range(5)]
    rvs = [int(p.metadata.resource_version) for p in created]
    await wait_for(lambda: hub.next_revision > rvs[-1], message="the hub saw every pod")
    assert hub.oldest == rvs[1]  # p0 and p1 were evicted; p2..p4 are in the buffer
    assert_expired(await first_event(api, rvs[0]), rvs[0], rvs[1])
    event = await first_event(api, rvs[1])
    assert event["object"]["metadata"]["name"] == "p2"
    # what a client does with the 410: list, then watch from the list's resourceVersion
    async with api.get(WATCH) as listed:
        doc = await listed.json()
    assert sorted(i["metadata"]["name"] for i in doc["items"]) == [f"p{i}" for i in range(5)]
    async with api.get(WATCH, params={"watch": "1", "resourceVersion": doc["metadata"]["resourceVersion"]}) as stream:
        await store.create(PODS, make_pod("after"))
        [added] = await read_events(stream, 1)
    assert added["object"]["metadata"]["name"] == "after"


async def test_a_restarted_gateway_answers_410_for_revisions_before_it(etcd: EmbeddedEtcd, store: Store) -> None:
    """A new gateway has a new window (as a restarted kube-apiserver): clients re-list, nothing is replayed."""
    first = Gateway(gateway_config(etcd))
    await first.start()
    try:
        before = await store.create(PODS, make_pod("before"))
    finally:
        await stop_or_explain(first)
    await store.create(PODS, make_pod("while-down"))  # what the old window would have had to replay
    second = Gateway(gateway_config(etcd))
    await second.start()
    try:
        assert second.state is not None
        oldest = second.state.hubs._hubs["pods"].oldest  # noqa: SLF001
        async with aiohttp.ClientSession(base_url=second.url) as api:
            rv = int(before.metadata.resource_version)
            assert_expired(await first_event(api, rv), rv, oldest)
    finally:
        await stop_or_explain(second)


async def test_a_watcher_that_falls_behind_is_cut_off(gateway: Gateway) -> None:
    assert gateway.state is not None
    hubs = gateway.state.hubs
    hubs._hubs["pods"].queue_limit = 5  # noqa: SLF001
    store = gateway.state.store
    rv = int((await store.list(PODS, "default")).resource_version)
    subscription = await hubs.subscribe(PODS, "default", rv + 1)  # and nobody reads its queue
    for i in range(8):
        await store.create(PODS, make_pod(f"p{i}"))
    queued: list[Any] = []
    while len(queued) < 6:
        queued.append(await asyncio.wait_for(subscription.queue.get(), 10))
    assert [e.doc["metadata"]["name"] for e in queued[:5]] == [f"p{i}" for i in range(5)]
    assert queued[5] is None  # end of stream: the client re-watches from its last resourceVersion
    assert subscription not in hubs._hubs["pods"].subscribers  # noqa: SLF001


async def test_a_slow_watcher_is_cut_off_only_where_a_revision_begins(gateway: Gateway) -> None:
    # group commit writes many objects in one etcd txn: one revision. The client resumes from the last
    # resourceVersion it saw, so a stream cut inside a revision would lose the rest of that revision.
    assert gateway.state is not None
    hubs, store, client = gateway.state.hubs, gateway.state.store, gateway.state.client
    hubs._hubs["pods"].queue_limit = 2  # noqa: SLF001
    rv = int((await store.list(PODS, "default")).resource_version)
    subscription = await hubs.subscribe(PODS, "default", rv + 1)  # and nobody reads its queue
    await store.create(PODS, make_pod("first"))
    stored = await range_(client, PODS.key_of(await store.get(PODS, "first", "default")), what="test")
    names = [f"together-{i}" for i in range(4)]
    value = stored.kvs[0].value
    puts = [op_put(f"/registry/pods/default/{n}", value.replace(b'"first"', b'"%s"' % n.encode()))
            for n in names]
    await txn(client, [], puts, [], what="one revision of four pods")
    await store.create(PODS, make_pod("next"))
    queued: list[Any] = []
    while not queued or queued[-1] is not None:
        queued.append(await asyncio.wait_for(subscription.queue.get(), 10))
    seen = [e.doc["metadata"]["name"] for e in queued[:-1]]
    assert seen == ["first", *names]  # the whole revision, past the limit; cut off before the next one
    assert len({e.revision for e in queued[1:-1]}) == 1


async def test_a_hub_whose_etcd_watch_expired_ends_its_watchers_with_410_and_opens_a_new_window(
    gateway: Gateway, api: aiohttp.ClientSession,
) -> None:
    """What a long etcd outage during which etcd compacted would do: the hub cannot resume."""
    assert gateway.state is not None
    store, hub = gateway.state.store, gateway.state.hubs._hubs["pods"]  # noqa: SLF001
    subscription = await gateway.state.hubs.subscribe(PODS, "default", hub.next_revision)
    assert hub.task is not None
    await cancel_and_wait(hub.task)  # the hub hears nothing more from etcd ...
    await store.create(PODS, make_pod("missed"))
    await store.create(PODS, make_pod("missed-too"))
    head = int((await store.list(PODS)).resource_version)
    await compact(gateway.state.client, head, what="test compaction")  # ... and etcd forgets what it missed
    hub.task = spawn("watch hub pods (test)", hub._run)  # noqa: SLF001 - resumes from where it was
    error = await asyncio.wait_for(subscription.queue.get(), 10)
    assert isinstance(error, errors.ApiError) and error.code == 410 and "too old resource version" in str(error)
    await wait_for(lambda: hub.oldest >= head, message="a new window at etcd's current revision")
    assert_expired(await first_event(api, head - 1), head - 1, hub.oldest)
    async with api.get(WATCH, params={"watch": "1", "resourceVersion": str(hub.oldest)}) as stream:
        await store.create(PODS, make_pod("after"))
        [added] = await read_events(stream, 1)
    assert added["object"]["metadata"]["name"] == "after"
