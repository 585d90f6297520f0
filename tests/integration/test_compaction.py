"""Compaction of etcd's history (kube-apiserver's compactor) against a real etcd, and what clients see after it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelite.api.resources import PODS
from kubelite.etcd.compaction import (
    COMPACT_REV_KEY,
    DEFAULT_INTERVAL,
    CompactClock,
    Compactor,
    compact_round,
    parse_interval,
)
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import EtcdCompacted, range_
from kubelite.client.informer import Informer, object_key
from kubelite.storage.store import ListResult, Store
from kubelite.storage.watch import WatchOptions
from tests.factories import make_pod
from tests.helpers import wait_for

FAST = WatchOptions(watchdog_interval=1.0, retry_delay=0.1, max_retry_delay=0.5)


async def is_compacted(client: EtcdClient, revision: int) -> bool:
    """Whether etcd can no longer read at ``revision``."""
    try:
        await range_(client, "/registry/", revision=revision, count_only=True, what="test compacted")
    except EtcdCompacted:
        return True
    return False


async def key_version(client: EtcdClient) -> int:
    response = await range_(client, COMPACT_REV_KEY, what="test compact key")
    return int(response.kvs[0].version) if response.kvs else 0


def test_interval_flag_values() -> None:
    assert DEFAULT_INTERVAL == 300.0  # kube-apiserver's default, 5 min
    assert parse_interval("5m0s") == 300.0 and parse_interval("1h30m") == 5400.0
    assert parse_interval("90") == 90.0 and parse_interval("250ms") == 0.25 and parse_interval("0") == 0.0
    for bad in ("five minutes", "-1", "5x", "m"):
        with pytest.raises(ValueError):
            parse_interval(bad)


async def test_compactor_compacts_on_its_interval_to_the_revision_of_one_interval_before(
    store: Store, etcd_client: EtcdClient,
) -> None:
    created = await store.create(PODS, make_pod("old"))
    old = int(created.metadata.resource_version)
    compactor = Compactor(etcd_client, interval=0.3)
    await compactor.start()
    try:
        await wait_for(lambda: compactor.rounds >= 1, 10, message="the first round (claims, compacts nothing)")
        assert compactor.compactions == 0 and not await is_compacted(etcd_client, old)
        await wait_for(lambda: compactor.last_compacted > old, 10, message="a compaction past the pod's revision")
        assert await is_compacted(etcd_client, old)
        # never more than what was recorded one round earlier: the newest revision stays readable
        head = int((await store.list(PODS)).resource_version)
        assert not await is_compacted(etcd_client, head)
    finally:
        await compactor.stop()
    assert compactor._task.running is False  # noqa: SLF001 - stopped cleanly


async def test_interval_zero_disables_the_compactor(etcd_client: EtcdClient) -> None:
    compactor = Compactor(etcd_client, interval=0)
    await compactor.start()
    assert compactor._task.running is False  # noqa: SLF001
    await compactor.stop()


async def test_of_two_compactors_only_one_claims_each_round(store: Store, etcd_client: EtcdClient) -> None:
    first, second = CompactClock(), CompactClock()
    compacted: list[int] = []
    for round_number in range(1, 5):
        await store.create(PODS, make_pod(f"p{round_number}"))
        one = await compact_round(etcd_client, first)
        two = await compact_round(etcd_client, second)
        assert (one.claimed, two.claimed) == (True, False), f"round {round_number}"
        first, second = one.clock, two.clock
        assert first.version == second.version == round_number == await key_version(etcd_client)
        if one.compacted:
            compacted.append(one.compacted)
    assert len(compacted) == 3 and compacted == sorted(set(compacted))  # the first round only claims
    # the second takes over when the first stops: within one more round it claims
    await store.create(PODS, make_pod("takeover"))
    assert (await compact_round(etcd_client, second)).claimed


async def test_two_running_compactors_compact_once_per_interval(etcd_client: EtcdClient) -> None:
    interval = 0.25
    compactors = [Compactor(etcd_client, interval=interval, name=f"c{i}") for i in (1, 2)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    for compactor in compactors:
        await compactor.start()
    try:
        await wait_for(lambda: sum(c.compactions for c in compactors) >= 4, 15, message="four compactions")
    finally:
        for compactor in compactors:
            await compactor.stop()
    elapsed = loop.time() - started
    claims = await key_version(etcd_client)  # every claim bumped the key's version once
    assert claims <= elapsed / interval + 1, f"{claims} claims in {elapsed:.2f} s at one per {interval} s"
    assert sum(c.rounds for c in compactors) >= 2 * (claims - 1)  # both took part in the rounds


class CompactingStore(Store):
    """A store whose first list is followed by writes and two real compaction rounds, so the informer's
    watch starts from a revision etcd no longer has (what a long outage or a slow start would cause)."""

    def __init__(self, client: EtcdClient) -> None:
        super().__init__(client)
        self.compactor = Compactor(client, interval=1)
        self.lists = 0

    async def list(self, *args: Any, **kwargs: Any) -> ListResult:
        result = await super().list(*args, **kwargs)
        self.lists += 1
        if self.lists == 1:
            await self.delete(PODS, "p0", "default")
            await self.create(PODS, make_pod("p9"))
            await self.compactor.run_once()  # records the revision after the changes
            await self.compactor.run_once()  # and compacts to it: the watch's start is gone
        return result


async def test_an_informer_relists_after_its_watch_start_is_compacted(store: Store) -> None:
    for i in range(3):
        await store.create(PODS, make_pod(f"p{i}"))
    compacting = CompactingStore(store.client)
    informer = Informer(compacting, PODS, watch_options=FAST, resync_period=0)
    await informer.start()
    try:
        await informer.wait_synced(10)
        assert compacting.compactor.compactions == 1
        expected = {object_key(p): p.metadata.resource_version for p in (await store.list(PODS)).items}
        await wait_for(lambda: informer.relists == 2, 10, message="a re-list after the 410")
        cached = {object_key(p): p.metadata.resource_version for p in informer.list()}
        assert cached == expected and "default/p9" in cached and "default/p0" not in cached
        # and it keeps watching from the new list
        await store.create(PODS, make_pod("later"))
        await wait_for(lambda: informer.get("default/later") is not None, 10, message="the watch after the re-list")
    finally:
        await informer.stop()
