"""The EndpointSlice controller (discovery.k8s.io/v1): each Service with a selector gets slices
listing its pods, as kube-controller-manager's endpointslice controller keeps them.

reconcile(service key): read the service and its pods from the informers and the slices it
manages (label ``endpointslice.kubernetes.io/managed-by``) with a consistent read from etcd —
so a slice written a moment ago is never created twice — then carry out
:func:`controllers.endpointslice_plan.plan_slices`: creates (owned by the Service, so the
garbage collector removes them with it), updates with the read's resourceVersion (a conflict
retries the key), deletes. Services without a selector, and ExternalName ones, keep whatever
slices users write; slices this controller made for them go.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kubelite.api import errors
from kubelite.api.core import Pod
from kubelite.api.meta import KubeObject, OwnerReference
from kubelite.api.resources import ENDPOINTSLICES, SERVICES
from kubelite.client.informer import FuncHandler, Informer, object_key
from kubelite.client.reconcile import Result

from controllers import endpointslice_plan as plan
from controllers.base import Controller
from controllers.context import ControllerContext

log = logging.getLogger(__name__)


def managed_selector(service: str) -> Callable[[KubeObject], bool]:
    def matches(obj: KubeObject) -> bool:
        labels = obj.metadata.labels or {}
        return labels.get(plan.LABEL_SERVICE_NAME) == service and labels.get(plan.LABEL_MANAGED_BY) == plan.MANAGED_BY
    return matches


def services_selecting(services: Informer, pod: Pod) -> list[str]:
    """Keys of the services in the pod's namespace whose selector matches it."""
    # the stored-only Service model keeps ``spec`` as the document's own dict: read, never dumped
    # (dumping every Service on every pod event was 3% of the control plane in a 1,000-pod rollout)
    return [object_key(s) for s in services.list(pod.metadata.namespace or "")
            if plan.selector_selects((getattr(s, "spec", None) or {}).get("selector"), pod)]


def owner_of(service: dict[str, Any]) -> OwnerReference:
    meta = service["metadata"]
    return OwnerReference(api_version="v1", kind="Service", name=meta["name"], uid=meta["uid"], controller=True,
                          block_owner_deletion=True)


def manages(service: dict[str, Any] | None) -> bool:
    """Whether this controller fills the service's slices (a selector, a type that routes to pods)."""
    spec = (service or {}).get("spec") or {}
    return bool(spec.get("selector")) and spec.get("type") != "ExternalName"


class PodServiceHandlers:
    """Enqueue the services a pod change concerns (its old and new labels)."""

    def __init__(self, controller: Controller, services: Informer) -> None:
        self.controller = controller
        self.services = services

    def handler(self) -> FuncHandler:
        return FuncHandler(add=self._pod, update=self._pod_updated, delete=self._pod)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        self._pod(old)
        self._pod(new)

    def _pod(self, pod: Pod) -> None:
        for key in services_selecting(self.services, pod):
            self.controller.enqueue(key)


class EndpointSliceController(Controller):
    name = "endpointslice"
    component = "endpointslice-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.workers = 2
        self.services = ctx.informers.for_resource(SERVICES)
        self.slices = ctx.informers.for_resource(ENDPOINTSLICES)

    def register(self) -> None:
        self.services.add_handler(FuncHandler.enqueue_all(lambda s: self.enqueue(object_key(s))))
        self.informers.pods.add_handler(PodServiceHandlers(self, self.services).handler())
        self.slices.add_handler(FuncHandler.enqueue_all(self._slice_changed))

    def _slice_changed(self, slice_: KubeObject) -> None:
        labels = slice_.metadata.labels or {}
        if labels.get(plan.LABEL_MANAGED_BY) == plan.MANAGED_BY and labels.get(plan.LABEL_SERVICE_NAME):
            self.enqueue(f"{slice_.metadata.namespace}/{labels[plan.LABEL_SERVICE_NAME]}")

    def initial_keys(self) -> list[str]:
        return self.services.keys()

    async def reconcile(self, key: str) -> Result | None:
        namespace, _, name = key.partition("/")
        cached = self.services.get(key)
        service = cached.to_dict() if cached is not None else None
        listed = await self.store.list(ENDPOINTSLICES, namespace, predicate=managed_selector(name))
        slices = [s.to_dict() for s in listed.items]
        if not manages(service):
            for slice_ in slices:
                await self._delete(slice_)
            return None
        assert service is not None
        pods = self.informers.pods.list(namespace)
        steps = plan.plan_slices(service, pods, slices)
        for doc in steps.create:
            doc["metadata"]["ownerReferences"] = [owner_of(service).to_dict()]
            try:
                await self.store.create(ENDPOINTSLICES, ENDPOINTSLICES.model.model_validate(doc), fence=self.fence)
            except errors.ApiError as exc:
                if exc.code == 404 or (exc.code == 403 and "terminat" in (exc.status.message or "")):
                    return None  # the namespace is going away
                raise
        for doc in steps.update:
            await self.store.update(ENDPOINTSLICES, ENDPOINTSLICES.model.model_validate(doc), fence=self.fence)
        for name_ in steps.delete:
            await self._delete(next(s for s in slices if s["metadata"]["name"] == name_))
        if not steps.empty:
            log.info("endpointslice %s: %d created, %d updated, %d deleted", key, len(steps.create),
                     len(steps.update), len(steps.delete))
        return None

    async def _delete(self, slice_: dict[str, Any]) -> None:
        meta = slice_["metadata"]
        try:
            await self.store.delete(ENDPOINTSLICES, meta["name"], meta["namespace"],
                                    resource_version=meta.get("resourceVersion"), fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
