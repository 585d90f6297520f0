"""The garbage collector: cascading deletion through ownerReferences, for every kind served
(events and leases excepted, see ``UNMONITORED``).

- background (default): an object whose owners are all gone is deleted; owners
  that are gone are stripped from objects that still have others.
- foreground: an owner with the ``foregroundDeletion`` finalizer has its
  dependents deleted, and loses the finalizer (so the store deletes it) once
  none that blocks it (``blockOwnerDeletion``) is left.
- orphan: an owner with the ``orphan`` finalizer has itself removed from its
  dependents' ownerReferences, then loses the finalizer.

"Gone" is confirmed with a quorum read before anything is deleted: the cache
may simply not have seen a new owner yet. Keys are ``<plural>|<ns>/<name>``.
Pods are deleted without a propagation policy so that their agent still
stops them gracefully (a finalizer removal would drop the key at once).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubelite.api import errors
from kubelite.api.meta import KubeObject, OwnerReference
from kubelite.api.crd import storage_resource
from kubelite.api.resources import (
    ALL_RESOURCES,
    CUSTOMRESOURCEDEFINITIONS,
    EVENTS,
    LEASES,
    PODS,
    Resource,
    resource_for_kind,
)
from kubelite.client.informer import FuncHandler, Informer, object_key
from kubelite.util.supervise import spawn
from kubelite.client.reconcile import Result
from kubelite.storage.store import NotLeader

from controllers.base import Controller
from controllers.context import OWNED_INDEXERS, ControllerContext

log = logging.getLogger(__name__)

# Events: kube's GC ignores them too (high churn, collected by their TTL). Leases: the agents'
# node leases carry no ownerReferences here and renew every few seconds; watching them all would
# cost the GC a decode per renewal for nothing.
UNMONITORED = (EVENTS, LEASES)
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


class GarbageCollector(Controller):
    name = "garbagecollector"
    component = "garbage-collector-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.gc_workers
        # Every kind that can own or be owned, as kube's GC monitors every deletable resource.
        self.watched: dict[str, tuple[Resource, Informer]] = {
            res.plural: (res, ctx.informers.for_resource(res)) for res in ALL_RESOURCES if res not in UNMONITORED}
        self._starting: set[asyncio.Task[None]] = set()

    def register(self) -> None:
        for plural, (_res, informer) in self.watched.items():
            informer.add_handler(self._handler(plural))
        # custom resources too, as kube's GC monitors every resource discovery lists: one informer per
        # established CRD, made when the CRD appears (kept after it goes: its objects' deletions still
        # arrive), started here and stopped by the manager with the others (SharedInformers.extra)
        self.watched[CUSTOMRESOURCEDEFINITIONS.plural][1].add_handler(FuncHandler(
            add=self._crd_seen, update=lambda _old, crd: self._crd_seen(crd)))

    def _crd_seen(self, crd: KubeObject) -> None:
        res = storage_resource(crd.to_dict())
        if res is None or _key(res) in self.watched:
            return
        informer = Informer(self.store, res, indexers=dict(OWNED_INDEXERS),
                            resync_period=self.ctx.informers.resync_seconds)
        informer.add_handler(self._handler(_key(res)))
        self.watched[_key(res)] = (res, informer)
        self.ctx.informers.extra[_key(res)] = informer
        # start() only creates the informer's tasks: this one ends at once (kept referenced until then)
        task = spawn(f"gc informer {_key(res)}", informer.start)
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    def _resource_of(self, ref: OwnerReference) -> Resource | None:
        """The kind an ownerReference names: a custom resource's by group and kind, else a built-in one."""
        group = ref.api_version.rpartition("/")[0] if "/" in (ref.api_version or "") else ""
        custom = next((res for res, _informer in self.watched.values()
                       if res.custom and res.kind == ref.kind and res.group == group), None)
        return custom or resource_for_kind(ref.kind)

    def _handler(self, plural: str) -> FuncHandler:
        return FuncHandler(add=lambda obj: self._changed(plural, obj),
                           update=lambda old, obj: self._updated(plural, old, obj),
                           delete=lambda obj: self._deleted(plural, obj))

    def initial_keys(self) -> list[str]:
        keys = []
        for plural, (_res, informer) in self.watched.items():
            keys += [f"{plural}|{object_key(o)}" for o in informer.list() if _interesting(o)]
        return keys

    def _changed(self, plural: str, obj: KubeObject) -> None:
        if _interesting(obj):
            self.enqueue(f"{plural}|{object_key(obj)}")

    def _updated(self, plural: str, old: KubeObject, obj: KubeObject) -> None:
        """Only what the collector decides on: an update that leaves the ownerReferences, the
        deletion mark and the finalizers as they were (a pod's status moving on) changes nothing
        for it — kube's graph builder, too, acts on an update only when these differ. The
        informer's resync (the same object as old and new) still re-checks everything."""
        if old is obj or _gc_view(old) != _gc_view(obj):
            self._changed(plural, obj)

    def _deleted(self, plural: str, obj: KubeObject) -> None:
        if self.queue is None:
            return
        for dep_plural, dep in self.dependents(obj.metadata.uid or ""):
            self.enqueue(f"{dep_plural}|{object_key(dep)}")
        for ref in obj.metadata.owner_references or []:  # a foreground owner may be waiting for this one
            res = self._resource_of(ref)
            if res is not None and _key(res) in self.watched:
                self.enqueue(f"{_key(res)}|{obj.namespace}/{ref.name}" if res.namespaced else f"{_key(res)}|{ref.name}")

    def dependents(self, uid: str) -> list[tuple[str, Any]]:
        found = []
        for plural, (_res, informer) in self.watched.items():
            found += [(plural, o) for o in informer.by_index("owner", uid)]
        return found

    # -- reconcile ----------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        plural, _, obj_key = key.partition("|")
        res, informer = self.watched[plural]
        obj: KubeObject | None = informer.get(obj_key)
        if obj is None:
            return None
        finalizers = obj.metadata.finalizers or []
        if obj.metadata.deletion_timestamp is not None and FOREGROUND in finalizers:
            await self._foreground(res, obj)
        elif obj.metadata.deletion_timestamp is not None and ORPHAN in finalizers:
            await self._orphan(res, obj)
        if obj.metadata.owner_references and obj.metadata.deletion_timestamp is None:
            await self._check_owners(res, obj)
        return None

    async def _foreground(self, res: Resource, owner: KubeObject) -> None:
        """Delete every dependent; the owner goes once none that blocks it (``blockOwnerDeletion``) is
        left — kube's processDeletingDependentsItem waits on ``blockingDependents`` only. A dependent
        with dependents of its own is deleted in the foreground too, a leaf in the background
        (attemptToDeleteItem); pods without a policy, so that their agent still stops them."""
        uid = owner.metadata.uid or ""
        deps = self.dependents(uid)
        if not any(_blocks(d, uid) for _p, d in deps):
            deps = await self._live_dependents(owner)
        for plural, dep in deps:
            if dep.metadata.deletion_timestamp is None:
                dep_res = self.watched[plural][0]
                has_own = dep_res is not PODS and bool(self.dependents(dep.metadata.uid or ""))
                await self._delete(dep_res, dep, policy="Foreground" if has_own else None)
        if any(_blocks(d, uid) for _p, d in deps):
            return  # their deletion events bring us back
        await self._remove_finalizer(res, owner, FOREGROUND)

    async def _orphan(self, res: Resource, owner: KubeObject) -> None:
        uid = owner.metadata.uid or ""
        for plural, dep in [*self.dependents(uid), *await self._live_dependents(owner)]:
            dep_res = self.watched[plural][0]

            def strip(current: Any) -> Any:
                refs = [r for r in current.metadata.owner_references or [] if r.uid != uid]
                if len(refs) == len(current.metadata.owner_references or []):
                    return None
                current.metadata.owner_references = refs or None
                return current
            try:
                await self.store.guaranteed_update(dep_res, dep.name, dep.namespace, strip, fence=self.fence)
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
        await self._remove_finalizer(res, owner, ORPHAN)

    async def _live_dependents(self, owner: KubeObject) -> list[tuple[str, Any]]:
        """Quorum check before finishing an owner: the cache may lag behind a new dependent."""
        uid = owner.metadata.uid
        found = []
        for plural, (res, _informer) in self.watched.items():
            listed = await self.store.list(res, owner.namespace if res.namespaced else None,
                                           predicate=lambda o: any(r.uid == uid for r in o.metadata.owner_references or []))
            found += [(plural, o) for o in listed.items]
        return found

    async def _remove_finalizer(self, res: Resource, owner: KubeObject, finalizer: str) -> None:
        def drop(current: Any) -> Any:
            if current.metadata.uid != owner.metadata.uid or finalizer not in (current.metadata.finalizers or []):
                return None
            current.metadata.finalizers = [f for f in current.metadata.finalizers if f != finalizer] or None
            return current
        try:
            await self.store.guaranteed_update(res, owner.name, owner.namespace, drop, fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise

    async def _check_owners(self, res: Resource, obj: KubeObject) -> None:
        refs = obj.metadata.owner_references or []
        missing = [ref for ref in refs if not await self._owner_exists(ref, obj.namespace)]
        if not missing:
            return
        if len(missing) == len(refs):
            await self._delete(res, obj, policy=None)
            return
        gone = {ref.uid for ref in missing}

        def strip(current: Any) -> Any:
            current.metadata.owner_references = [r for r in current.metadata.owner_references or []
                                                 if r.uid not in gone] or None
            return current
        await self.store.guaranteed_update(res, obj.name, obj.namespace, strip, fence=self.fence)

    async def _owner_exists(self, ref: OwnerReference, namespace: str | None) -> bool:
        res = self._resource_of(ref)
        if res is None:
            return True  # a kind we do not know: never collect on its account
        ns = namespace if res.namespaced else None
        watched = self.watched.get(_key(res))
        if watched is not None:
            cached = watched[1].get(f"{ns}/{ref.name}" if ns else ref.name)
            if cached is not None and cached.metadata.uid == ref.uid:
                return True
        try:
            live = await self.store.get(res, ref.name, ns)
        except errors.ApiError as exc:
            if exc.code == 404:
                return False
            raise
        return bool(live.metadata.uid == ref.uid)

    async def _delete(self, res: Resource, obj: KubeObject, *, policy: str | None) -> None:
        try:
            await self.store.delete(res, obj.name, obj.namespace, uid=obj.metadata.uid, propagation_policy=policy,
                                    fence=self.fence)
        except errors.ApiError as exc:
            if exc.code in (404, 409) and not isinstance(exc, NotLeader):
                return  # gone, or replaced by a new object of that name
            raise
        self.ctx.metrics.gc_deletions.inc()
        log.info("garbage collector: deleted %s %s/%s (policy %s)", res.kind, obj.namespace, obj.name, policy)


def _interesting(obj: KubeObject) -> bool:
    meta = obj.metadata
    return bool(meta.owner_references) or (
        meta.deletion_timestamp is not None and bool({FOREGROUND, ORPHAN} & set(meta.finalizers or [])))


def _gc_view(obj: KubeObject) -> tuple[Any, ...]:
    meta = obj.metadata
    return (meta.uid, meta.owner_references, meta.deletion_timestamp, meta.finalizers)


def _blocks(dep: KubeObject, owner_uid: str) -> bool:
    """Whether ``dep`` holds up its owner's foreground deletion (kube's node.blockingDependents)."""
    return any(r.uid == owner_uid and r.block_owner_deletion for r in dep.metadata.owner_references or [])


def _key(res: Resource) -> str:
    """The GC's name of a watched kind: the plural, group-qualified for custom resources (whose plurals
    may repeat a built-in one's)."""
    return f"{res.plural}.{res.group}" if res.custom else res.plural
