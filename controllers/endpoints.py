"""The legacy Endpoints controller: ``v1/Endpoints`` named after each Service with a selector,
as kube-controller-manager's endpoints controller writes them (``kubectl describe svc`` shows them).

reconcile(service key): the desired object from :func:`controllers.endpointslice_plan.desired_endpoints`
(ready pods in ``addresses``, unready in ``notReadyAddresses``), compared with the stored one (read
from etcd, not a cache, so a write is never based on a stale copy) and written only when it differs;
the Service gone → its Endpoints go. Endpoints of selector-less services belong to their users
and are left alone.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors
from kubelite.api.resources import ENDPOINTS, SERVICES
from kubelite.client.informer import FuncHandler, object_key
from kubelite.client.reconcile import Result

from controllers import endpointslice_plan as plan
from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.endpointslice import PodServiceHandlers, manages


class EndpointsController(Controller):
    name = "endpoints"
    component = "endpoint-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.workers = 2
        self.services = ctx.informers.for_resource(SERVICES)

    def register(self) -> None:
        self.services.add_handler(FuncHandler.enqueue_all(lambda s: self.enqueue(object_key(s))))
        self.informers.pods.add_handler(PodServiceHandlers(self, self.services).handler())

    def initial_keys(self) -> list[str]:
        return self.services.keys()

    async def reconcile(self, key: str) -> Result | None:
        namespace, _, name = key.partition("/")
        cached = self.services.get(key)
        service = cached.to_dict() if cached is not None else None
        try:
            current: dict[str, Any] | None = (await self.store.get(ENDPOINTS, name, namespace)).to_dict()
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
            current = None
        if service is None:
            if current is not None:
                try:
                    await self.store.delete(ENDPOINTS, name, namespace,
                                            resource_version=current["metadata"]["resourceVersion"], fence=self.fence)
                except errors.ApiError as exc:
                    if exc.code != 404:
                        raise
            return None
        if not manages(service):
            return None
        wanted = plan.desired_endpoints(service, self.informers.pods.list(namespace))
        if current is None:
            try:
                await self.store.create(ENDPOINTS, ENDPOINTS.model.model_validate(wanted), fence=self.fence)
            except errors.ApiError as exc:
                if exc.code in (404, 403):
                    return None  # the namespace is gone or going
                raise
            return None
        labels = wanted["metadata"].get("labels")
        if current.get("subsets") == wanted.get("subsets") and current["metadata"].get("labels") == labels:
            return None
        updated = {**current, "metadata": {**current["metadata"], "labels": labels}}
        updated.pop("subsets", None)
        if wanted.get("subsets"):
            updated["subsets"] = wanted["subsets"]
        await self.store.update(ENDPOINTS, ENDPOINTS.model.model_validate(updated), fence=self.fence)
        return None
