"""A local, indexed cache of one resource, kept current by list + watch.

The informer lists, then watches from the list's revision; on compaction it
re-lists and emits only the differences, so handlers see every change exactly
as a sequence of add/update/delete calls. Handlers should only enqueue keys:
objects passed to them are the cache's own and must not be mutated.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol

from typing_extensions import TypeVar

from kubelite.api.meta import KubeObject
from kubelite.api.resources import Resource
from kubelite.storage.store import Store
from kubelite.util.supervise import cancel_and_wait
from kubelite.storage.watch import RawFilter, WatchExpired, WatchOptions

log = logging.getLogger(__name__)

IndexFunc = Callable[[Any], Iterable[str]]
_LIST_PAGE = 500

# the cached kind's model: ``Informer(store, PODS)`` is an ``Informer[Pod]``; a bare ``Informer`` caches KubeObjects.
# Covariant: the cache is read-only to its users (an Informer[Pod] is an Informer[KubeObject]).
O = TypeVar("O", bound=KubeObject, covariant=True, default=KubeObject)


class Handler(Protocol):
    def on_add(self, obj: Any) -> None: ...
    def on_update(self, old: Any, new: Any) -> None: ...
    def on_delete(self, obj: Any) -> None: ...


@dataclass
class FuncHandler:
    """Handler from plain callables; the common case is one ``enqueue`` for all three."""

    add: Callable[[Any], None] | None = None
    update: Callable[[Any, Any], None] | None = None
    delete: Callable[[Any], None] | None = None

    @classmethod
    def enqueue_all(cls, enqueue: Callable[[Any], None]) -> FuncHandler:
        return cls(add=enqueue, update=lambda _old, new: enqueue(new), delete=enqueue)

    def on_add(self, obj: Any) -> None:
        if self.add:
            self.add(obj)

    def on_update(self, old: Any, new: Any) -> None:
        if self.update:
            self.update(old, new)

    def on_delete(self, obj: Any) -> None:
        if self.delete:
            self.delete(obj)


def object_key(obj: KubeObject) -> str:
    """``namespace/name`` or ``name``, the workqueue key of an object."""
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name or ""


def split_key(key: str) -> tuple[str | None, str]:
    namespace, _, name = key.rpartition("/")
    return namespace or None, name


def index_by_namespace(obj: KubeObject) -> list[str]:
    return [obj.metadata.namespace] if obj.metadata.namespace else []


def index_by_node_name(obj: Any) -> list[str]:
    node = getattr(getattr(obj, "spec", None), "node_name", None)
    return [node] if node else []


def index_by_controller_uid(obj: KubeObject) -> list[str]:
    ref = obj.metadata.controller_ref()
    return [ref.uid] if ref else []


def index_by_label(obj: KubeObject) -> list[str]:
    return [f"{k}={v}" for k, v in (obj.metadata.labels or {}).items()]


@dataclass
class _Index:
    func: IndexFunc
    entries: dict[str, set[str]] = field(default_factory=dict)

    def add(self, key: str, obj: Any) -> None:
        for value in self.func(obj):
            self.entries.setdefault(value, set()).add(key)

    def remove(self, key: str, obj: Any) -> None:
        for value in self.func(obj):
            keys = self.entries.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.entries[value]


class Informer(Generic[O]):
    """List + watch one resource into an indexed cache; supervised, restartable.

    ``predicate`` decides which decoded objects the cache holds (an object
    that stops matching is deleted from it); ``raw_filter``, when given, must
    accept at least every stored JSON whose object matches, and lets most
    others go by undecoded.
    """

    def __init__(
        self, store: Store, res: Resource[O], *, namespace: str | None = None,
        indexers: dict[str, IndexFunc] | None = None, predicate: Callable[[Any], bool] | None = None,
        raw_filter: RawFilter | None = None, resync_period: float = 300.0, watch_options: WatchOptions = WatchOptions(), error_delay: float = 0.5,
    ) -> None:
        self.store = store
        self.res = res
        self.namespace = namespace
        self.predicate = predicate
        self.raw_filter = raw_filter
        self.resync_period = resync_period
        self.watch_options = watch_options
        self.error_delay = error_delay
        self.revision = 0
        self.relists = 0
        self._items: dict[str, O] = {}
        self._indexes = {"namespace": _Index(index_by_namespace)}
        for name, func in (indexers or {}).items():
            self._indexes[name] = _Index(func)
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -----------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Register before start(); a late handler is replayed the current cache as adds."""
        self._handlers.append(handler)
        for obj in list(self._items.values()):
            self._call(handler.on_add, obj)

    async def start(self) -> None:
        name = f"informer-{self.res.plural}"
        self._tasks = [asyncio.create_task(self._run(), name=name)]
        if self.resync_period > 0:
            self._tasks.append(asyncio.create_task(self._resync_loop(), name=f"{name}-resync"))

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            await cancel_and_wait(task)
        self._tasks = []

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._synced.wait(), timeout)

    # -- cache reads ---------------------------------------------------------

    def get(self, key: str) -> O | None:
        return self._items.get(key)

    def list(self, namespace: str | None = None) -> builtins.list[O]:
        if namespace is None:
            return builtins.list(self._items.values())
        return self.by_index("namespace", namespace)

    def by_index(self, index: str, value: str) -> builtins.list[O]:
        keys = self._indexes[index].entries.get(value, ())
        return [self._items[k] for k in sorted(keys)]

    def keys(self) -> builtins.list[str]:
        return builtins.list(self._items)

    # -- the loop ------------------------------------------------------------

    async def _run(self) -> None:
        """Supervised: any failure is logged and the informer re-lists; nothing dies silently."""
        while True:
            try:
                await self._list_and_replace()
                self._synced.set()
                async for event in self.store.watch(
                    self.res, self.namespace, from_revision=self.revision + 1,
                    options=self.watch_options, raw_filter=self.raw_filter,
                ):
                    self._apply(event.type, event.object)
                    self.revision = event.revision
            except WatchExpired as exc:
                log.info("informer %s: watch expired (%s); re-listing", self.res.plural, exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("informer %s failed; re-listing in %.1fs", self.res.plural, self.error_delay)
                await asyncio.sleep(self.error_delay)

    async def _list_and_replace(self) -> None:
        seen: dict[str, Any] = {}
        token: str | None = None
        revision = 0
        while True:
            page = await self.store.list(
                self.res, self.namespace, predicate=self.predicate, limit=_LIST_PAGE, continue_token=token,
                raw_filter=self.raw_filter,
            )
            revision = int(page.resource_version)
            for obj in page.items:
                seen[object_key(obj)] = obj
            token = page.continue_token
            if not token:
                break
        for key in [k for k in self._items if k not in seen]:
            self._remove(key)
        for obj in seen.values():
            self._upsert(obj)
        self.revision = revision
        self.relists += 1

    def _apply(self, event_type: str, obj: Any) -> None:
        key = object_key(obj)
        if event_type == "DELETED" or (self.predicate is not None and not self.predicate(obj)):
            self._remove(key)
        else:
            self._upsert(obj)

    def _upsert(self, obj: Any) -> None:
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None and old.metadata.resource_version == obj.metadata.resource_version:
            return
        if old is not None:
            for index in self._indexes.values():
                index.remove(key, old)
        self._items[key] = obj
        for index in self._indexes.values():
            index.add(key, obj)
        for handler in self._handlers:
            if old is None:
                self._call(handler.on_add, obj)
            else:
                self._call(handler.on_update, old, obj)

    def _remove(self, key: str) -> None:
        old = self._items.pop(key, None)
        if old is None:
            return
        for index in self._indexes.values():
            index.remove(key, old)
        for handler in self._handlers:
            self._call(handler.on_delete, old)

    def _call(self, func: Callable[..., None], *args: Any) -> None:
        try:
            func(*args)
        except Exception:
            log.exception("informer %s: handler %r failed", self.res.plural, func)

    async def _resync_loop(self) -> None:
        """Safety net only: replays the cache as updates so controllers re-check everything."""
        while True:
            await asyncio.sleep(self.resync_period)
            for obj in list(self._items.values()):
                for handler in self._handlers:
                    self._call(handler.on_update, obj, obj)
