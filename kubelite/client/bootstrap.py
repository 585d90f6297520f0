"""Objects a cluster has from the start; every component ensures them (idempotently).

The cluster's identity is the uid of the ``kube-system`` Namespace, as in
Kubernetes (tools such as ``kubectl cluster-info`` users and telemetry read it
as the cluster ID): it is made by whichever component first creates the
namespace (a create-if-absent transaction, so all agree) and kept in etcd at
``/registry/namespaces/kube-system``. ``kube-system`` cannot be deleted, so the
identity lives as long as the etcd data. Control-plane components make the
namespaces; an agent only reads the identity (:func:`existing_cluster_uid`):
a node's credentials may not create namespaces (RBAC's ``system:node``), so it
waits for the control plane, as a kubelet waits for its API server.
"""

from __future__ import annotations

import asyncio
import logging

from kubelite.api import errors
from kubelite.api.core import Namespace
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import NAMESPACES
from kubelite.storage.store import Store

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CLUSTER_ID_NAMESPACE = "kube-system"


async def ensure_system_namespaces(store: Store) -> None:
    """Create the system namespaces that are absent. Reads first: a node's agent may read but not
    write them in etcd (its etcd role, kubelite.etcd.auth_plan), and etcd checks a transaction's
    writes even when its compare would take the other branch."""
    for name in SYSTEM_NAMESPACES:
        try:
            await store.get(NAMESPACES, name)
            continue
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
        try:
            await store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name=name)))
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise


async def cluster_uid(store: Store) -> str:
    """The cluster's identity: the ``kube-system`` Namespace's uid (created if absent).

    Raises ``errors.ApiError`` or an etcd error when etcd cannot be read or the namespaces made.
    """
    await ensure_system_namespaces(store)
    return _identity(await store.get(NAMESPACES, CLUSTER_ID_NAMESPACE))


def _identity(namespace: Namespace) -> str:
    if not namespace.metadata.uid:  # every stored object has a uid; an empty one would scope nothing
        raise errors.internal("the kube-system Namespace has no uid: the cluster has no identity")
    return str(namespace.metadata.uid)


async def existing_cluster_uid(store: Store, *, retry_delay: float = 0.2, max_delay: float = 2.0) -> str:
    """The cluster's identity read, never created: waits (back-off ``retry_delay`` doubling to
    ``max_delay`` seconds) until a control-plane component has made ``kube-system``.

    Raises ``errors.ApiError`` (other than 404) or an etcd error when etcd cannot be read.
    """
    delay = retry_delay
    while True:
        try:
            namespace = await store.get(NAMESPACES, CLUSTER_ID_NAMESPACE)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
            if delay == retry_delay:
                log.warning("the %s Namespace does not exist yet: waiting for the control plane to make it",
                            CLUSTER_ID_NAMESPACE)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        return _identity(namespace)
