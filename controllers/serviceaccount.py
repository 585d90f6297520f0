"""The serviceaccounts controller: a ``default`` ServiceAccount in every namespace, re-created if
deleted (kube-controller-manager's serviceaccount controller). Keys are namespace names; the
decision is :func:`controllers.serviceaccount_plan.missing_accounts`."""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api import errors
from kubelite.api.resources import NAMESPACES, SERVICEACCOUNTS
from kubelite.client.informer import FuncHandler
from kubelite.client.reconcile import Result

from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.serviceaccount_plan import missing_accounts

log = logging.getLogger(__name__)


class ServiceAccountController(Controller):
    name = "serviceaccount"
    component = "serviceaccount-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.accounts = ctx.informers.for_resource(SERVICEACCOUNTS)

    def register(self) -> None:
        self.informers.namespaces.add_handler(FuncHandler(
            add=lambda ns: self.enqueue(ns.name), update=lambda _old, ns: self.enqueue(ns.name)))
        self.accounts.add_handler(FuncHandler(delete=lambda sa: self.enqueue(sa.metadata.namespace)))

    def initial_keys(self) -> list[str]:
        return sorted(ns.name for ns in self.informers.namespaces.list())

    async def reconcile(self, key: str) -> Result | None:
        namespace = self.informers.namespaces.get(key)
        existing = [sa.name for sa in self.accounts.by_index("namespace", key)]
        for name in missing_accounts(namespace, existing):
            account: Any = SERVICEACCOUNTS.model.model_validate(
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": key}})
            try:
                await self.store.create(SERVICEACCOUNTS, account, fence=self.fence)
                log.info("serviceaccount %s/%s created", key, name)
            except errors.ApiError as exc:
                # AlreadyExists: the cache was behind; Forbidden/NotFound: the namespace is going away
                if exc.reason not in ("AlreadyExists", "Forbidden", "NotFound"):
                    raise
        return None
