"""Watch fan-out: one etcd watch per resource shared by all watchers, replay, fallback, cut-off."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from kubelite.api.resources import PODS
from kubelite.gateway import Gateway
from tests.factories import make_pod
from tests.gateway.test_api import read_events

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
        assert list(gateway.state.hubs._hubs) == ["pods"]  # noqa: SLF001 - one etcd watch for all five
        # a late watcher from the same revision is replayed from the hub's buffer
        async with api.get(WATCH, params={"watch": "1", "resourceVersion": rv}) as late:
            assert [e["object"]["metadata"]["name"] for e in await read_events(late, 3)] == ["p0", "p1", "p2"]
    finally:
        for s in streams:
            s.close()


async def test_watch_older_than_the_hub_uses_its_own_etcd_watch(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    assert gateway.state is not None
    store = gateway.state.store
    first = await store.create(PODS, make_pod("early"))
    async with api.get(WATCH, params={"watch": "1", "resourceVersion": first.metadata.resource_version}):
        pass  # starts the hub after "early"
    await store.create(PODS, make_pod("later"))
    old = int(first.metadata.resource_version) - 1
    async with api.get(WATCH, params={"watch": "1", "resourceVersion": str(old)}) as stream:
        names = [e["object"]["metadata"]["name"] for e in await read_events(stream, 2)]
    assert names == ["early", "later"]


async def test_a_watcher_that_falls_behind_is_cut_off(gateway: Gateway) -> None:
    assert gateway.state is not None
    hubs = gateway.state.hubs
    hubs.queue_limit = 5
    store = gateway.state.store
    rv = int((await store.list(PODS, "default")).resource_version)
    subscription = await hubs.subscribe(PODS, "default", rv + 1)
    assert subscription is not None  # and nobody reads its queue
    for i in range(8):
        await store.create(PODS, make_pod(f"p{i}"))
    queued: list[Any] = []
    while len(queued) < 6:
        queued.append(await asyncio.wait_for(subscription.queue.get(), 10))
    assert [e.doc["metadata"]["name"] for e in queued[:5]] == [f"p{i}" for i in range(5)]
    assert queued[5] is None  # end of stream: the client re-watches from its last resourceVersion
    assert subscription not in hubs._hubs["pods"].subscribers  # noqa: SLF001
