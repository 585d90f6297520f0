"""The resource quota controller: each ResourceQuota's ``status.hard`` and ``status.used``
(kube-controller-manager's ``pkg/controller/resourcequota``). Keys are ``namespace/name`` of quotas; a
quota's add or update queues it, and so does any change in its namespace that may change what is used
(kube's "replenishment"): an add or delete of a kind quotas count, a pod going terminal, a Service's
type or ports, a claim's storage request. The decisions are :mod:`controllers.resourcequota_plan`; the
admission that charges creates against ``status.used`` is :mod:`kubelite.registry.resourcequota`.

Counting never under-counts: a sync reads the quota from etcd, then lists the tracked kinds of its
namespace from etcd (so at a revision no older than the quota read), and writes the status with a
compare on the quota's mod revision. An admission charge made after the read changes that revision, so
the write fails and the loop syncs again; an object created before the read is in the list. The
informers only say *when* to look, never *what* is used.

Kinds watched for replenishment: pods, services, persistentvolumeclaims, configmaps, secrets,
replicationcontrollers, resourcequotas and the apps/batch workloads. ``count/`` of any other kind (other
built-in kinds, custom resources) is recomputed on every sync and at the periodic resync
(``--resync-period``).
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api import errors
from kubelite.api.resources import (
    CONFIGMAPS,
    CRONJOBS,
    CUSTOMRESOURCEDEFINITIONS,
    DAEMONSETS,
    DEPLOYMENTS,
    JOBS,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    RESOURCEQUOTAS,
    SECRETS,
    SERVICES,
    STATEFULSETS,
    Resource,
)
from kubelite.client.informer import FuncHandler, object_key, split_key
from kubelite.client.reconcile import Result

from controllers import resourcequota_plan as plan
from controllers.base import Controller
from controllers.context import ControllerContext

log = logging.getLogger(__name__)

REPLENISHED: tuple[Resource, ...] = (PODS, SERVICES, PERSISTENTVOLUMECLAIMS, CONFIGMAPS, SECRETS, REPLICATIONCONTROLLERS,
                                     RESOURCEQUOTAS, DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, JOBS, CRONJOBS)


class ResourceQuotaController(Controller):
    name = "resourcequota"
    component = "resource-quota-controller"
    # a burst of pod changes in a namespace costs one recount per second per quota
    coalesce_seconds = 1.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.quotas = ctx.informers.for_resource(RESOURCEQUOTAS)
        self.watched = {res.plural: ctx.informers.for_resource(res) for res in REPLENISHED}

    def register(self) -> None:
        self.quotas.add_handler(FuncHandler(add=lambda q: self.enqueue(object_key(q)), update=self._quota_updated))
        for res in REPLENISHED:
            self.watched[res.plural].add_handler(self._replenishing(res))

    def _quota_updated(self, _old: Any, current: Any) -> None:
        """Only a ``spec.hard`` the status does not say yet needs a sync: the admission's charges to
        ``status.used`` come with the change they count, which queues the quota itself."""
        if plan.hard_changed(current.to_dict()):
            self.enqueue(object_key(current))

    def _replenishing(self, res: Resource) -> FuncHandler:
        def changed(obj: Any) -> None:
            self._namespace_changed(obj.metadata.namespace or "")

        def updated(old: Any, new: Any) -> None:
            if plan.update_changes_usage(res, old, new, now=self.ctx.clock()):
                changed(new)
        return FuncHandler(add=changed, update=updated, delete=changed)

    def _namespace_changed(self, namespace: str) -> None:
        for found in self.quotas.by_index("namespace", namespace):
            self.enqueue_coalesced(object_key(found))

    def initial_keys(self) -> list[str]:
        return sorted(object_key(q) for q in self.quotas.list())

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        try:
            current = await self.store.get(RESOURCEQUOTAS, name, namespace)  # etcd, not the cache: see above
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise
        doc = current.to_dict()
        hard = list(((doc.get("spec") or {}).get("hard") or {}))
        kinds = plan.tracked_kinds(hard)
        if plan.counts_uncovered(hard, kinds):  # count/<plural>.<group> of a custom resource
            crds = (await self.store.list(CUSTOMRESOURCEDEFINITIONS, as_documents=True)).items
            kinds += plan.custom_kinds(hard, crds)
        objects = {res: (await self.store.list(res, namespace)).items for res in kinds}
        now = self.ctx.clock()
        status = plan.new_status(doc, plan.calculate_usage(doc, objects, now=now))
        if status is not None:
            doc["status"] = status
            try:
                await self.store.update(RESOURCEQUOTAS, RESOURCEQUOTAS.model.model_validate(doc), subresource="status",
                                        fence=self.fence)
            except errors.ApiError as exc:
                if exc.code == 404:
                    return None
                raise  # a conflict (an admission charged it meanwhile): the loop syncs it again
        wait = plan.next_change(doc, objects, now=now)
        resync = self.ctx.settings.resync_seconds
        return Result(requeue_after=min(wait, resync) if wait is not None else resync)
