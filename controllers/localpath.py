"""The local-path provisioner: binds claims of the ``local-path`` class to node-local PersistentVolumes.

Keys are ``pvc|<ns>/<name>`` and ``pv|<name>``. A claim of a class served by
``kubelite.io/local-path`` whose first pod the scheduler placed (``volume.kubernetes.io/selected-node``)
gets ``pvc-<uid>``, a hostPath directory on that node with node affinity to it, then both are marked
Bound; a volume whose claim is gone is marked Released, then deleted if its policy is ``Delete``
(its finalizer keeps it until the node's agent removed the directory). Decisions:
:mod:`controllers.localpath_plan`. When it starts leading it creates the ``local-path`` StorageClass
(the default class) if there is none of that name, as k3s ships one. The directory itself is the
agent's to create, mount and remove (agent/localpath.py); this controller only writes API objects.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api import errors
from kubelite.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES
from kubelite.client.informer import FuncHandler, object_key
from kubelite.client.reconcile import Result
from kubelite.registry.storageclass import LOCAL_PATH

from controllers import localpath_plan as plan
from controllers.base import Controller
from controllers.context import ControllerContext

log = logging.getLogger(__name__)


class LocalPathProvisioner(Controller):
    name = "localpath"
    component = "local-path-provisioner"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.claims = ctx.informers.for_resource(PERSISTENTVOLUMECLAIMS)
        self.volumes = ctx.informers.for_resource(PERSISTENTVOLUMES)
        self.classes = ctx.informers.for_resource(STORAGECLASSES)

    def register(self) -> None:
        self.claims.add_handler(FuncHandler(add=self._claim_changed, update=lambda _old, new: self._claim_changed(new),
                                            delete=self._claim_deleted))
        self.volumes.add_handler(FuncHandler.enqueue_all(lambda pv: self.enqueue(f"pv|{pv.name}")))

    def initial_keys(self) -> list[str]:
        return [f"pvc|{k}" for k in self.claims.keys()] + [f"pv|{k}" for k in self.volumes.keys()]

    async def prepare(self) -> None:
        if self.classes.get(LOCAL_PATH["metadata"]["name"]) is None:  # type: ignore[index]
            try:
                await self.store.create(STORAGECLASSES, STORAGECLASSES.model.model_validate(LOCAL_PATH),
                                        fence=self.fence)
            except errors.ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise

    def _claim_changed(self, claim: Any) -> None:
        self.enqueue(f"pvc|{object_key(claim)}")

    def _claim_deleted(self, claim: Any) -> None:
        volume = (claim.to_dict().get("spec") or {}).get("volumeName")
        if volume:
            self.enqueue(f"pv|{volume}")

    async def reconcile(self, key: str) -> Result | None:
        kind, _, name = key.partition("|")
        if kind == "pvc":
            await self._provision(name)
        else:
            await self._reclaim(name)
        return None

    async def _provision(self, key: str) -> None:
        cached = self.claims.get(key)
        if cached is None:
            return
        claim = cached.to_dict()
        bound_to = (claim.get("spec") or {}).get("volumeName")
        if bound_to:
            # A binding is three writes; one that failed after the claim got its volumeName is
            # finished here (else the claim would stay Pending with its volume Bound).
            volume_obj = self.volumes.get(bound_to)
            if volume_obj is not None and plan.claimed_by(volume_obj.to_dict(), claim):
                await self._set_status(PERSISTENTVOLUMECLAIMS, cached, plan.claim_status(volume_obj.to_dict()))
            return
        classes = {c.name: c.to_dict() for c in self.classes.list()}
        node = plan.wants_volume(claim, classes)
        if node is None:
            return
        storage_class = classes[claim["spec"]["storageClassName"]]
        volume = plan.volume_for(claim, storage_class, node)
        try:
            created = await self.store.create(PERSISTENTVOLUMES, PERSISTENTVOLUMES.model.model_validate(volume),
                                              fence=self.fence)
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
            created = await self.store.get(PERSISTENTVOLUMES, volume["metadata"]["name"])
        await self._set_status(PERSISTENTVOLUMES, created, {"phase": "Bound"})
        bound = await self.store.update(
            PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMECLAIMS.model.model_validate(plan.bound_claim(claim, volume)),
            fence=self.fence)
        await self._set_status(PERSISTENTVOLUMECLAIMS, bound, plan.claim_status(volume))
        self.recorder.record(cached, "Normal", "ProvisioningSucceeded",
                             f"Successfully provisioned volume {volume['metadata']['name']} on node {node}")

    async def _set_status(self, res: Any, obj: Any, status: dict[str, Any]) -> None:
        doc = obj.to_dict()
        if {k: v for k, v in (doc.get("status") or {}).items() if k in status} == status:
            return
        doc["status"] = {**(doc.get("status") or {}), **status}
        await self.store.update(res, res.model.model_validate(doc), subresource="status", fence=self.fence)

    async def _reclaim(self, name: str) -> None:
        cached = self.volumes.get(name)
        if cached is None:
            return
        wanted = plan.finalizers(cached.to_dict())
        if wanted is not None:
            doc = cached.to_dict()
            doc["metadata"]["finalizers"] = wanted or None
            cached = await self.store.update(PERSISTENTVOLUMES, PERSISTENTVOLUMES.model.model_validate(doc),
                                             fence=self.fence)
        claims = {object_key(c): c.to_dict() for c in self.claims.list()}
        action = plan.released(cached.to_dict(), claims)
        if action == "delete":
            try:
                await self.store.delete(PERSISTENTVOLUMES, name, fence=self.fence)
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
        elif action == "release":
            await self._set_status(PERSISTENTVOLUMES, cached, {"phase": "Released"})
