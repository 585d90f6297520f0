"""kubelite.storage.memstore: the Store's semantics without etcd (resourceVersion, 404/409, namespaces, list, watch)."""

from __future__ import annotations

import asyncio

import pytest

from kubelite.api import errors
from kubelite.api.resources import NAMESPACES, PODS
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.storage.memstore import MemStore
from kubelite.registry.strategy import TERMINATING

from tests.controllers.objects import bare_pod


async def _store() -> MemStore:
    store = MemStore()
    await ensure_system_namespaces(store)
    return store


async def test_resource_versions_conflicts_and_not_found() -> None:
    store = await _store()
    created = await store.create(PODS, bare_pod("a"))
    assert created.metadata.resource_version == str(store.revision) and created.metadata.uid
    with pytest.raises(errors.ApiError) as exists:
        await store.create(PODS, bare_pod("a"))
    assert (exists.value.code, exists.value.reason) == (409, "AlreadyExists")
    first = await store.get(PODS, "a", "default")
    first.metadata.labels = {"x": "1"}
    updated = await store.update(PODS, first)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    stale = first.deep_copy()
    stale.metadata.labels = {"x": "2"}
    with pytest.raises(errors.ApiError) as conflict:
        await store.update(PODS, stale)  # first's resourceVersion is no longer the stored one
    assert conflict.value.reason == "Conflict"
    done = await store.guaranteed_update(PODS, "a", "default", lambda p: (setattr(p.metadata, "labels", {"x": "3"}), p)[1])
    assert done.metadata.labels == {"x": "3"}
    await store.delete(PODS, "a", "default")
    with pytest.raises(errors.ApiError) as missing:
        await store.get(PODS, "a", "default")
    assert missing.value.code == 404


async def test_namespace_rules_and_lists_with_selectors_and_pages() -> None:
    store = await _store()
    with pytest.raises(errors.ApiError) as no_namespace:
        await store.create(PODS, bare_pod("a").model_copy(update={"metadata": bare_pod("a").metadata.model_copy(
            update={"namespace": "nowhere"})}))
    assert no_namespace.value.code == 404
    for i in range(5):
        await store.create(PODS, bare_pod(f"p{i}", labels={"even": str(i % 2 == 0).lower()}))
    evens = await store.list(PODS, "default", predicate=lambda p: p.metadata.labels["even"] == "true")
    assert [p.name for p in evens.items] == ["p0", "p2", "p4"]
    page = await store.list(PODS, "default", limit=2)
    rest = await store.list(PODS, "default", limit=2, continue_token=page.continue_token)
    last = await store.list(PODS, "default", limit=2, continue_token=rest.continue_token)
    assert [p.name for p in page.items + rest.items + last.items] == [f"p{i}" for i in range(5)]
    assert last.continue_token is None
    await store.delete(NAMESPACES, "default")  # marked Terminating (its finalizer): nothing new may go in
    assert (await store.get(NAMESPACES, "default")).status.phase == TERMINATING
    with pytest.raises(errors.ApiError) as terminating:
        await store.create(PODS, bare_pod("late"))
    assert terminating.value.code == 403


async def test_watch_replays_from_a_revision_then_follows() -> None:
    store = await _store()
    start = store.revision + 1
    await store.create(PODS, bare_pod("a"))
    events = store.watch(PODS, "default", from_revision=start)
    first = await asyncio.wait_for(anext(events), 2)
    assert (first.type, first.object.name) == ("ADDED", "a")
    await store.delete(PODS, "a", "default")
    second = await asyncio.wait_for(anext(events), 2)
    assert (second.type, second.object.name, second.revision) == ("DELETED", "a", store.revision)
    await events.aclose()  # type: ignore[attr-defined]
