"""The namespace controller: empties a Terminating namespace, then lets it go.

A DELETE of a namespace only marks it (``deletionTimestamp``, phase Terminating; see
:mod:`kubelite.registry.strategy`) and the store refuses new content in it (403). This controller
deletes every object of every namespaced kind in it, custom resources included (pods gracefully, through their
agents; replicasets, deployments, events, leases at once), reports what remains in the
namespace's conditions, and once nothing is left removes the ``kubernetes`` finalizer
through the ``finalize`` subresource; the store then deletes the namespace
(Kubernetes' namespace controller, pkg/controller/namespace). Decisions are pure, in
:mod:`controllers.namespace_plan`; keys are namespace names.
"""

from __future__ import annotations

import logging

from kubelite.api import errors
from kubelite.api.core import Namespace, NamespaceStatus, Pod
from kubelite.api.meta import KubeObject
from kubelite.api.crd import storage_resource
from kubelite.api.resources import (
    ALL_RESOURCES,
    CUSTOMRESOURCEDEFINITIONS,
    DEPLOYMENTS,
    NAMESPACES,
    REPLICASETS,
    Resource,
)
from kubelite.client.informer import FuncHandler
from kubelite.client.reconcile import Result
from kubelite.registry.strategy import NAMESPACE_FINALIZER, TERMINATING

from controllers.base import Controller
from controllers.namespace_plan import Content, NamespacePlan, owns, plan_namespace

log = logging.getLogger(__name__)

# Owners first, so their controllers stop replacing what is deleted next.
_ORDER = {DEPLOYMENTS.plural: 0, REPLICASETS.plural: 1}
NAMESPACED = tuple(sorted((r for r in ALL_RESOURCES if r.namespaced), key=lambda r: _ORDER.get(r.plural, 2)))


def content_of(res: Resource, obj: KubeObject) -> Content:
    meta = obj.metadata
    graceful = isinstance(obj, Pod) and bool(obj.spec.node_name) and not obj.is_terminated()
    resource = f"{res.plural}.{res.group}" if res.group else res.plural
    return Content(resource=resource, name=meta.name or "", uid=meta.uid or "", deleting=meta.deletion_timestamp is not None,
                   deletion_timestamp=meta.deletion_timestamp, finalizers=tuple(meta.finalizers or ()),
                   graceful=graceful)


class NamespaceController(Controller):
    name = "namespace"
    component = "namespace-controller"

    def register(self) -> None:
        self.informers.namespaces.add_handler(FuncHandler(
            add=self._namespace_changed, update=lambda _old, ns: self._namespace_changed(ns)))
        for informer in (self.informers.pods, self.informers.replicasets, self.informers.deployments):
            informer.add_handler(FuncHandler(delete=self._content_deleted))

    def initial_keys(self) -> list[str]:
        return sorted(ns.name for ns in self.informers.namespaces.list() if owns(ns))

    def _namespace_changed(self, namespace: Namespace) -> None:
        if owns(namespace):
            self.enqueue(namespace.name)

    def _content_deleted(self, obj: KubeObject) -> None:
        namespace = self.informers.namespaces.get(obj.metadata.namespace or "")
        if namespace is not None and owns(namespace):
            self.enqueue(namespace.name)

    async def reconcile(self, key: str) -> Result | None:
        namespace: Namespace | None = self.informers.namespaces.get(key)
        if namespace is None or not owns(namespace):
            return None
        # The store, not the caches: what is in the namespace now (nothing new can be added).
        found: list[tuple[Resource, Content]] = []
        for res in (*NAMESPACED, *await self._custom_resources()):
            found += [(res, content_of(res, obj)) for obj in (await self.store.list(res, key)).items]
        plan = plan_namespace(namespace, [c for _res, c in found], self.ctx.clock())
        if plan is None:
            return None
        resources = {c.uid: res for res, c in found}
        for content in plan.delete:
            await self._delete(resources[content.uid], key, content)
        await self._report(key, plan)
        if plan.finalize:
            await self._finalize(key)
            log.info("namespace %s: empty; finalized", key)
            return None
        return Result(requeue_after=plan.requeue_after)

    async def _custom_resources(self) -> list[Resource]:
        """The namespaced kinds the CRDs define now (read from the store: a CRD may be minutes old)."""
        crds = (await self.store.list(CUSTOMRESOURCEDEFINITIONS)).items
        found = (storage_resource(c.to_dict()) for c in crds)
        return [res for res in found if res is not None and res.namespaced]

    async def _delete(self, res: Resource, namespace: str, content: Content) -> None:
        try:
            await self.store.delete(res, content.name, namespace, uid=content.uid, fence=self.fence)
        except errors.ApiError as exc:
            if exc.code == 404 or (exc.code == 409 and "UID" in (exc.status.message or "")):
                return  # gone, or replaced by a newer object (a later pass sees that one)
            raise

    async def _report(self, name: str, plan: NamespacePlan) -> None:
        def mutate(current: Namespace) -> Namespace | None:
            status = current.status or NamespaceStatus()
            wanted = status.model_copy(update={"phase": TERMINATING, "conditions": list(plan.conditions)})
            if wanted.to_dict() == status.to_dict():
                return None
            current.status = wanted
            return current
        await self._namespace_write(name, mutate, "status")

    async def _finalize(self, name: str) -> None:
        def mutate(current: Namespace) -> Namespace | None:
            finalizers = list(current.spec.finalizers or []) if current.spec else []
            if NAMESPACE_FINALIZER not in finalizers:
                return None
            assert current.spec is not None
            current.spec.finalizers = [f for f in finalizers if f != NAMESPACE_FINALIZER]
            return current
        await self._namespace_write(name, mutate, "finalize")

    async def _namespace_write(self, name: str, mutate: object, subresource: str) -> None:
        try:
            await self.store.guaranteed_update(NAMESPACES, name, None, mutate,  # type: ignore[arg-type]
                                               subresource=subresource, fence=self.fence)  # type: ignore[arg-type]
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
