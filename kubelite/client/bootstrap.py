"""Objects a cluster has from the start; every component ensures them (idempotently).

The cluster's identity is the uid of the ``kube-system`` Namespace, as in
Kubernetes (tools such as ``kubectl cluster-info`` users and telemetry read it
as the cluster ID): it is made by whichever component first creates the
namespace (a create-if-absent transaction, so all agree) and kept in etcd at
``/registry/namespaces/kube-system``. ``kube-system`` cannot be deleted, so the
identity lives as long as the etcd data.
"""

from __future__ import annotations

from kubelite.api import errors
from kubelite.api.core import Namespace
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import NAMESPACES
from kubelite.storage.store import Store

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

    Read first: a writer that may not create namespaces (a node writing through the gateway) only
    needs them to exist, which the gateway, first to start, has seen to.
    Raises ``errors.ApiError`` or an etcd error when etcd cannot be read (or the namespaces cannot be made).
    """
    try:
        namespace = await store.get(NAMESPACES, CLUSTER_ID_NAMESPACE)
    except errors.ApiError as exc:
        if exc.code != 404:
            raise
        await ensure_system_namespaces(store)
        namespace = await store.get(NAMESPACES, CLUSTER_ID_NAMESPACE)
    uid = namespace.metadata.uid
    if not uid:  # every stored object has a uid; an empty one would scope nothing
        raise errors.internal("the kube-system Namespace has no uid: the cluster has no identity")
    return str(uid)
