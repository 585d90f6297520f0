"""kubelite.storage.memstore: the Store's semantics without etcd (resourceVersion, 404/409, namespaces, list, watch)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelite.api import errors
from kubelite.api.resources import NAMESPACES, PODS, SERVICEACCOUNTS
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.storage import store as store_module
from kubelite.storage.memstore import MemStore
from kubelite.registry.strategy import TERMINATING, Admission

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


async def test_service_account_admission_reads_an_account_once_per_window_and_again_after_its_write(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A Deployment's pods are not one etcd read of their account each (kube's plugin reads them through
    an informer); a write of an account through the store is seen by the next pod at once."""
    monkeypatch.setattr(store_module, "ADMISSION_CACHE_SECONDS", 60.0)  # the window outlasts any slow machine
    store = MemStore(admission=Admission(service_account=True))
    await ensure_system_namespaces(store)
    await store.create(SERVICEACCOUNTS, SERVICEACCOUNTS.model.model_validate(
        {"metadata": {"name": "default", "namespace": "default"}}))
    reads: list[str] = []
    get = store.get

    async def counting_get(res: Any, name: str, namespace: str | None = None) -> Any:
        if res is SERVICEACCOUNTS:
            reads.append(name)
        return await get(res, name, namespace)

    monkeypatch.setattr(store, "get", counting_get)

    def mounts_token(pod: Any) -> bool:
        return any(v.name.startswith("kube-api-access-") for v in pod.spec.volumes or [])

    first, second, third = [await store.create(PODS, bare_pod(name)) for name in ("a", "b", "c")]
    assert all(mounts_token(p) for p in (first, second, third)) and reads == ["default"]
    account = (await get(SERVICEACCOUNTS, "default", "default")).to_dict()
    await store.update(SERVICEACCOUNTS, SERVICEACCOUNTS.model.model_validate(
        {**account, "automountServiceAccountToken": False}))
    reads.clear()  # the update read it too
    assert not mounts_token(await store.create(PODS, bare_pod("d"))) and reads == ["default"]
    await store.delete(SERVICEACCOUNTS, "default", "default")
    with pytest.raises(errors.ApiError) as refused:  # absent: looked for again (kube's live lookup), 403
        await store.create(PODS, bare_pod("e"))
    assert refused.value.code == 403
