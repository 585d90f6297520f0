"""An in-memory :class:`~kubelite.storage.store.Store` for fast unit tests (controller-runtime's fake client).

Same semantics, because it *is* the Store: every rule (strategies, admission, generation,
status/spec split, graceful deletion, finalizers, validation and encoding) runs unchanged; only the
etcd steps are replaced by a dict and a revision counter with etcd's meaning:

- every write bumps one global revision; an object's ``resourceVersion`` is its key's mod revision;
- create of an existing key is 409 AlreadyExists; create in a missing namespace 404, in a
  Terminating one 403; an update or delete against a changed object is 409 Conflict, against a
  gone one 404;
- :meth:`watch` replays history from any revision (nothing is compacted) and then follows live writes,
  so :class:`~kubelite.client.informer.Informer` (and so controllers' caches) run on it.

Not modelled: leases/TTLs (a ``lease`` is ignored), fences always hold, a ``resource_version`` for
list (lists read the present), and encryption at rest.
"""

from __future__ import annotations

import asyncio
import builtins
import base64
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from kubelite.registry import strategy
from kubelite.api import errors
from kubelite.api.core import Event, Pod
from kubelite.api.meta import KubeObject
from kubelite.api.resources import NAMESPACES, Resource
from kubelite.etcd.client import EtcdClient
from kubelite.storage import codec
from kubelite.storage.store import Fence, ListResult, Store, T, decode, decode_document, document_bytes
from kubelite.storage.watch import WatchEvent
from kubelite.util.clock import now_seconds


@dataclass(frozen=True)
class _Entry:
    value: bytes
    mod_revision: int
    version: int  # writes since the key was created (etcd's version: 1 means just created)


@dataclass(frozen=True)
class _Change:
    revision: int
    key: str
    entry: _Entry | None  # None: deleted
    prev: _Entry | None


class MemStore(Store):
    """A Store over a dict. ``MemStore()``; everything else as :class:`~kubelite.storage.store.Store`."""

    def __init__(self, *, clock: Callable[[], Any] = now_seconds, admission: strategy.Admission | None = None) -> None:
        super().__init__(cast(EtcdClient, None), clock=clock, admission=admission)
        self.revision = 1  # etcd starts at 1
        self._data: dict[str, _Entry] = {}
        self._history: list[_Change] = []
        self._changed = asyncio.Event()  # set (and replaced) by every write: wakes the watchers

    # -- the etcd steps -----------------------------------------------------------------------

    def _commit(self, key: str, value: bytes | None) -> int:
        prev = self._data.get(key)
        self.revision += 1
        entry = None if value is None else _Entry(value, self.revision, (prev.version if prev else 0) + 1)
        if entry is None:
            self._data.pop(key, None)
        else:
            self._data[key] = entry
        self._history.append(_Change(self.revision, key, entry, prev))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return self.revision

    async def _stored_kv(self, res: Resource, name: str, namespace: str | None) -> Any:
        entry = self._data.get(res.key(name, namespace))
        if entry is None:
            raise errors.not_found(res.plural, name, group=res.group)
        return SimpleNamespace(value=entry.value, mod_revision=entry.mod_revision, key=None)

    async def list(
        self, res: Resource, namespace: str | None = None, *, predicate: Callable[[Any], bool] | None = None,
        limit: int = 0, continue_token: str | None = None, resource_version: int = 0,
        raw_filter: Callable[[bytes], bool] | None = None, as_documents: bool = False, as_json: bool = False,
    ) -> ListResult:
        prefix = res.prefix(namespace)
        after = base64.urlsafe_b64decode(continue_token.encode()).decode() if continue_token else ""
        keys = sorted(k for k in self._data if k.startswith(prefix) and k > after)
        items: list[Any] = []
        for index, key in enumerate(keys):
            entry = self._data[key]
            if raw_filter is not None and not raw_filter(entry.value):
                continue
            obj: Any
            if as_json:
                obj = document_bytes(res, entry.value, entry.mod_revision)
            elif as_documents:
                obj = decode_document(res, entry.value, entry.mod_revision)
            else:
                obj = decode(res, entry.value, entry.mod_revision)
            if predicate is not None and not predicate(obj):
                continue
            items.append(obj)
            if limit and len(items) == limit and index < len(keys) - 1:
                return ListResult(items, str(self.revision), base64.urlsafe_b64encode(key.encode()).decode())
        return ListResult(items, str(self.revision))

    async def _create_once(
        self, res: Resource, new: T, *, lease: int, fence: Fence | None, dry_run: bool, generated: bool,
        claim: set[str] = frozenset(),  # type: ignore[assignment]  # address claims: not kept in memory
    ) -> T | None:
        key = res.key_of(new)
        value = self._stored_value(res, new)
        if res.namespaced:
            await self._open_namespace(res, new)
        if key in self._data:
            if generated:
                return None
            raise errors.already_exists(res.plural, new.name, group=res.group)
        new.metadata.resource_version = str(self.revision if dry_run else self._commit(key, value))
        return new

    async def bind_batch(self, binds: Sequence[tuple[Pod, str]], *,
                         fence: Fence | None = None) -> builtins.list[str | None]:
        return [None] * len(binds)  # in memory, each goes through bind() (there is no txn to share)

    async def create_events(self, events: Sequence[Event], *, lease: int = 0) -> builtins.list[bool]:
        return [False] * len(events)  # in memory, each goes through create() (there is no txn to share)

    async def _quota_charges(self, res: Resource, new: KubeObject, old: KubeObject | None, *,
                             fresh: bool) -> tuple[builtins.list[Any], builtins.list[Any]]:
        return [], []  # no ResourceQuota admission in memory (its controller's tests count, not charge)

    async def _open_namespace(self, res: Resource, new: KubeObject) -> tuple[str, int]:
        name = new.metadata.namespace or ""
        namespace = await self.get(NAMESPACES, name)
        if strategy.namespace_terminating(namespace):
            raise strategy.forbidden_in_terminating_namespace(res.plural, res.group, new.metadata.name, name)
        return NAMESPACES.key(name), int(namespace.metadata.resource_version or 0)

    async def _put_key(self, res: Resource, key: str, name: str, mod_revision: int, value: bytes, *,
                       fence: Fence | None, dry_run: bool, claimed: Sequence[str] = (), released: Sequence[str] = (),
                       owner: bytes = b"", quotas: Sequence[Any] = (), charges: Sequence[Any] = ()) -> int:
        self._check_unchanged(res, key, name, mod_revision)
        return self.revision if dry_run else self._commit(key, value)

    async def _stored_document(self, res: Resource, name: str, namespace: str | None) -> tuple[dict[str, Any], int]:
        entry = self._data.get(res.key(name, namespace))
        if entry is None:
            raise errors.not_found(res.plural, name, group=res.group)
        return codec.loads(entry.value), entry.mod_revision

    async def _delete_key(self, res: Resource, current: KubeObject, *, fence: Fence | None, dry_run: bool) -> None:
        key = res.key_of(current)
        self._check_unchanged(res, key, current.name, int(current.metadata.resource_version or 0))
        if not dry_run:
            self._commit(key, None)

    def _check_unchanged(self, res: Resource, key: str, name: str, mod_revision: int) -> None:
        entry = self._data.get(key)
        if entry is None:
            raise errors.not_found(res.plural, name, group=res.group)
        if entry.mod_revision != mod_revision:
            raise errors.conflict(res.plural, name, "the object has been modified; please apply your changes "
                                  "to the latest version and try again", group=res.group)

    async def _stale(self, res: Resource, current: KubeObject) -> bool:
        return False

    async def _raise_fenced(self, fence: Fence | None) -> None:
        return None

    # -- watch ----------------------------------------------------------------------------------

    async def watch(self, res: Resource, namespace: str | None = None, *, from_revision: int,
                    options: Any = None, raw_filter: Callable[[bytes], bool] | None = None) -> AsyncIterator[Any]:
        """Events under the resource's prefix with revision >= ``from_revision``, then live ones, forever."""
        prefix = res.prefix(namespace)
        position = next((i for i, c in enumerate(self._history) if c.revision >= from_revision), len(self._history))
        while True:
            while position < len(self._history):
                change = self._history[position]
                position += 1
                if not change.key.startswith(prefix):
                    continue
                values = [e.value for e in (change.entry, change.prev) if e is not None]
                if raw_filter is not None and not any(raw_filter(v) for v in values):
                    continue
                yield _event(res, change)
            await self._changed.wait()


def _event(res: Resource, change: _Change) -> WatchEvent:
    old = decode(res, change.prev.value, change.prev.mod_revision) if change.prev is not None else None
    if change.entry is None:
        assert old is not None
        deleted = old.model_copy()
        deleted.metadata = old.metadata.model_copy(update={"resource_version": str(change.revision)})
        return WatchEvent("DELETED", deleted, old, change.revision)
    obj = decode(res, change.entry.value, change.entry.mod_revision)
    return WatchEvent("ADDED" if change.entry.version == 1 else "MODIFIED", obj, old, change.revision)
