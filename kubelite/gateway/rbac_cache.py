"""The gateway's view of the RBAC objects: four informers (watch-driven, as kube-apiserver's RBAC
authorizer reads its shared informers), and the :class:`kubelite.auth.rbac.Policy` built from them,
rebuilt only after an RBAC object changed."""

from __future__ import annotations

import asyncio
from typing import Any

from kubelite.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, ROLEBINDINGS, ROLES
from kubelite.client.informer import FuncHandler, Informer
from kubelite.auth.rbac import Policy
from kubelite.storage.store import Store


class RbacCache:
    def __init__(self, store: Store, *, resync_period: float = 300.0) -> None:
        self.informers = [Informer(store, res, resync_period=resync_period)
                          for res in (ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS)]
        self._policy: Policy | None = None
        changed = FuncHandler(add=self._invalidate, update=self._invalidate, delete=self._invalidate)
        for informer in self.informers:
            informer.add_handler(changed)

    def _invalidate(self, *_: Any) -> None:
        self._policy = None

    async def start(self, *, sync_timeout: float = 30.0) -> None:
        for informer in self.informers:
            await informer.start()
        await asyncio.gather(*(i.wait_synced(sync_timeout) for i in self.informers))

    async def stop(self) -> None:
        for informer in self.informers:
            await informer.stop()

    def policy(self) -> Policy:
        if self._policy is None:
            self._policy = Policy.of(obj.to_dict() for informer in self.informers for obj in informer.list())
        return self._policy
