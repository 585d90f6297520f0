"""The root-ca-cert-publisher: a ``kube-root-ca.crt`` ConfigMap with the cluster CA in every
namespace, put back when changed or deleted (kube-controller-manager's controller of that name).
Pods read it through the ServiceAccount admission's projected volume (``ca.crt``). Keys are
namespace names; the decision is :func:`controllers.rootcacert_plan.plan`; the CA is the
controller-manager's ``--root-ca-file``.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api import errors
from kubelite.api.resources import CONFIGMAPS
from kubelite.client.informer import FuncHandler
from kubelite.client.reconcile import Result

from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.rootcacert_plan import NAME, plan

log = logging.getLogger(__name__)


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"
    component = "root-ca-cert-publisher"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.config_maps = ctx.informers.for_resource(CONFIGMAPS)
        self.ca_pem = ctx.settings.root_ca

    def register(self) -> None:
        self.informers.namespaces.add_handler(FuncHandler(
            add=lambda ns: self.enqueue(ns.name), update=lambda _old, ns: self.enqueue(ns.name)))
        self.config_maps.add_handler(FuncHandler(
            update=lambda _old, cm: self._changed(cm), delete=self._changed))

    def _changed(self, cm: Any) -> None:
        if cm.metadata.name == NAME:
            self.enqueue(cm.metadata.namespace or "")

    def initial_keys(self) -> list[str]:
        return sorted(ns.name for ns in self.informers.namespaces.list())

    async def reconcile(self, key: str) -> Result | None:
        cached = self.config_maps.get(f"{key}/{NAME}")
        decision = plan(self.informers.namespaces.get(key), cached.to_dict() if cached is not None else None,
                        self.ca_pem)
        if decision.doc is None:
            return None
        obj: Any = CONFIGMAPS.model.model_validate(decision.doc)
        try:
            if decision.action == "create":
                await self.store.create(CONFIGMAPS, obj, fence=self.fence)
            else:
                await self.store.update(CONFIGMAPS, obj, fence=self.fence)
            log.info("%s/%s %sd", key, NAME, decision.action)
        except errors.ApiError as exc:
            # AlreadyExists / Conflict: the cache was behind, its event re-queues the key;
            # Forbidden / NotFound: the namespace is going away
            if exc.reason not in ("AlreadyExists", "Conflict", "Forbidden", "NotFound"):
                raise
        return None
