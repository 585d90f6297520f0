"""Objects a cluster has from the start; every component ensures them (idempotently)."""

from __future__ import annotations

from kubelite.api import errors
from kubelite.api.core import Namespace
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import NAMESPACES
from kubelite.store import Store

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def ensure_system_namespaces(store: Store) -> None:
    for name in SYSTEM_NAMESPACES:
        try:
            await store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name=name)))
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
