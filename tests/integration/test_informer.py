"""Informers against a real etcd: the cache and the handlers' view always converge to etcd."""

from __future__ import annotations

import random
from typing import Any

from kubelite.api.resources import PODS
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.client.informer import FuncHandler, Informer, index_by_node_name, object_key
from kubelite.storage.store import Store
from kubelite.storage.watch import WatchOptions
from tests.factories import make_pod
from tests.helpers import wait_for

FAST = WatchOptions(watchdog_interval=1.0, retry_delay=0.1, max_retry_delay=0.5)


class Mirror:
    """What a controller would know if it only listened to the handlers."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.calls = 0

    def handler(self) -> FuncHandler:
        return FuncHandler(add=self._put, update=lambda _old, new: self._put(new), delete=self._delete)

    def _put(self, obj: Any) -> None:
        self.calls += 1
        self.objects[object_key(obj)] = obj.metadata.resource_version

    def _delete(self, obj: Any) -> None:
        self.calls += 1
        self.objects.pop(object_key(obj), None)


async def etcd_view(store: Store) -> dict[str, str]:
    return {object_key(p): p.metadata.resource_version for p in (await store.list(PODS)).items}


async def random_writes(store: Store, rng: random.Random, count: int, names: list[str]) -> None:
    for _ in range(count):
        name = rng.choice(names)
        try:
            current = await store.get(PODS, name, "default")
        except Exception:
            await store.create(PODS, make_pod(name, node=rng.choice(["n1", "n2", None])))
            continue
        if rng.random() < 0.3:
            await store.delete(PODS, name, "default", grace_period_seconds=0)
        else:
            changed = current.deep_copy()
            changed.metadata.labels = {"v": str(rng.randrange(1000))}
            await store.update(PODS, changed)


async def test_cache_equals_etcd_after_burst_and_restart(store: Store, etcd: EmbeddedEtcd) -> None:
    informer = Informer(store, PODS, indexers={"node": index_by_node_name}, watch_options=FAST, resync_period=0)
    mirror = Mirror()
    informer.add_handler(mirror.handler())
    await informer.start()
    try:
        await informer.wait_synced(10)
        rng = random.Random(7)
        names = [f"p{i}" for i in range(60)]
        await random_writes(store, rng, 500, names)
        await etcd.kill()
        await etcd.start()
        await wait_for(lambda: _answers(store), timeout=20, message="etcd back")
        await random_writes(store, rng, 500, names)
        expected = await etcd_view(store)

        def converged() -> bool:
            cached = {object_key(p): p.metadata.resource_version for p in informer.list()}
            return cached == expected and mirror.objects == expected

        await wait_for(converged, timeout=20, message="informer cache equals etcd")
        for node in ("n1", "n2"):
            by_node = {p.name for p in informer.by_index("node", node)}
            assert by_node == {p.name for p in informer.list() if p.spec.node_name == node}
    finally:
        await informer.stop()


async def _answers(store: Store) -> bool:
    try:
        await store.list(PODS, limit=1)
        return True
    except Exception:
        return False


async def test_compaction_relists_and_emits_only_the_differences(store: Store, etcd_client: EtcdClient) -> None:
    for i in range(5):
        await store.create(PODS, make_pod(f"p{i}"))
    informer = Informer(store, PODS, watch_options=FAST, resync_period=0)
    mirror = Mirror()
    informer.add_handler(mirror.handler())
    await informer.start()
    try:
        await informer.wait_synced(10)
        await wait_for(lambda: len(mirror.objects) == 5, message="initial adds")
        calls_before, relists_before = mirror.calls, informer.relists
        # Make the informer's watch fall behind a compaction: stop it, change things, compact.
        await informer.stop()
        await store.delete(PODS, "p0", "default")
        await store.create(PODS, make_pod("p9"))
        revision = int((await store.list(PODS)).resource_version)
        await etcd_client.compact(revision)
        await informer.start()
        expected = await etcd_view(store)
        await wait_for(lambda: mirror.objects == expected, message="mirror equals etcd after re-list")
        assert informer.relists == relists_before + 1
        assert mirror.calls - calls_before == 2  # one delete (p0), one add (p9): unchanged pods are not replayed
    finally:
        await informer.stop()


async def test_predicate_keeps_only_matching_objects(store: Store) -> None:
    informer = Informer(store, PODS, predicate=lambda p: p.spec.node_name == "mine", watch_options=FAST,
                        resync_period=0)
    mirror = Mirror()
    informer.add_handler(mirror.handler())
    await informer.start()
    try:
        await informer.wait_synced(10)
        created = await store.create(PODS, make_pod("a", node="mine"))
        await store.create(PODS, make_pod("b", node="other"))
        await wait_for(lambda: set(mirror.objects) == {"default/a"}, message="only the matching pod")
        moved = created.deep_copy()
        moved.spec.node_name = "other"
        await store.update(PODS, moved)
        await wait_for(lambda: mirror.objects == {}, message="pod that stops matching is deleted from the view")
    finally:
        await informer.stop()


async def test_raw_filter_skips_decoding_but_keeps_transitions(store: Store) -> None:
    seen_raw: list[bytes] = []

    def mine(value: bytes) -> bool:
        seen_raw.append(value)
        return b'"nodeName":"mine"' in value

    informer = Informer(store, PODS, predicate=lambda p: p.spec.node_name == "mine", raw_filter=mine,
                        watch_options=FAST, resync_period=0)
    mirror = Mirror()
    informer.add_handler(mirror.handler())
    await informer.start()
    try:
        await informer.wait_synced(10)
        await store.create(PODS, make_pod("other", node="elsewhere"))
        created = await store.create(PODS, make_pod("a", node="mine"))
        await wait_for(lambda: set(mirror.objects) == {"default/a"}, message="only the matching pod")
        await store.delete(PODS, "a", "default", grace_period_seconds=0)
        await wait_for(lambda: mirror.objects == {}, message="deletion of a matching pod is seen")
        assert created.metadata.uid and seen_raw, "the raw filter was consulted"
    finally:
        await informer.stop()
