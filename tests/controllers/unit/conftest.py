"""A controller on the in-memory Store (kubelite.storage.memstore), controller-runtime's fake-client
style: the real strategies, admission, informers and reconcile, without etcd, in milliseconds.

``make_world(ControllerClass)`` gives a :class:`World`: the store, the shared informers (started and
synced) and the controller (registered, not leading — tests call ``reconcile(key)`` themselves, or
``start_leading`` to run its queue). ``await world.settle()`` waits until every informer holds exactly
what the store holds, so a reconcile after it sees the writes before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pytest

from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.api.resources import PODS
from kubelite.client.informer import object_key
from kubelite.storage.memstore import MemStore

from controllers.base import Controller
from controllers.context import ControllerContext, SharedInformers
from tests.helpers import wait_for

C = TypeVar("C", bound=Controller)


@dataclass
class World(Generic[C]):
    store: MemStore
    informers: SharedInformers
    controller: C

    async def settle(self, timeout: float = 5.0) -> None:
        """Until every started informer's cache equals the store (keys and resourceVersions)."""
        async def caught_up() -> bool:
            for informer in self.informers.all():
                listed = (await self.store.list(informer.res, informer.namespace)).items
                stored = {object_key(o): o.metadata.resource_version for o in listed
                          if informer.predicate is None or informer.predicate(o)}
                cached = {object_key(o): o.metadata.resource_version for o in informer.list()}
                if stored != cached:
                    return False
            return True
        await wait_for(caught_up, timeout)

    async def reconcile(self, key: str) -> Any:
        """One reconcile of ``key`` on settled caches, then settle again."""
        await self.settle()
        result = await self.controller.reconcile(key)
        await self.settle()
        return result

    async def assert_idempotent(self, key: str) -> None:
        """One more reconcile of ``key`` writes nothing (the store's revision stays)."""
        before = self.store.revision
        await self.reconcile(key)
        assert self.store.revision == before, "a second reconcile wrote something"

    async def pods(self, namespace: str = "default") -> list[Any]:
        """The pods of ``namespace`` as stored."""
        return (await self.store.list(PODS, namespace)).items


MakeWorld = Callable[..., Awaitable[World[Any]]]


@pytest.fixture
async def make_world() -> AsyncIterator[MakeWorld]:
    """``await make_world(ControllerClass, store=None, **context_kwargs)``."""
    worlds: list[World[Any]] = []

    async def make(cls: type[C], *, store: MemStore | None = None, **context: Any) -> World[C]:
        store = store or MemStore()
        await ensure_system_namespaces(store)
        informers = SharedInformers.create(store)
        controller = cls(ControllerContext(store=store, informers=informers, **context))
        controller.register()
        world = World(store, informers, controller)
        # all() includes the informers the controller asked for beyond the shared set (for_resource)
        for informer in world.informers.all():
            await informer.start()
        for informer in world.informers.all():
            await informer.wait_synced(5)
        worlds.append(world)
        return world

    try:
        yield make
    finally:
        for world in worlds:
            if world.controller.leading:
                await world.controller.stop_leading()
            for informer in world.informers.all():
                await informer.stop()
