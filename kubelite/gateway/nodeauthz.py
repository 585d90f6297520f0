"""The Node authorizer at the gateway: the reads of a node's credentials that
:mod:`kubelite.auth.nodegraph` decides, fed from etcd.

kube's authorizer holds a graph built by informers; the gateway reads what one request needs
instead — the pods of the object's namespace bound to the node (a byte pre-filter on the node's name
skips the others before decoding), and for a PersistentVolume the claims bound to it — so a
decision never trails a write. Only ``get`` of a named Secret, ConfigMap, PersistentVolumeClaim or
PersistentVolume is decided here; anything else gets no opinion, and RBAC decides (the
``system:node`` ClusterRole grants none of those kinds: a node's list or watch of Secrets is 403).
"""

from __future__ import annotations

from typing import Any

from kubelite.api.resources import PERSISTENTVOLUMECLAIMS, PODS
from kubelite.auth import nodegraph
from kubelite.auth.rbac import Attributes, Decision
from kubelite.etcd.encryption import ENCRYPTED_PREFIX
from kubelite.storage.store import Store


def _mentions(needle: str) -> Any:
    token = needle.encode()

    def keep(raw: bytes) -> bool:  # an encrypted value cannot be pre-filtered: it is decoded and judged
        return raw.startswith(ENCRYPTED_PREFIX) or token in raw
    return keep


def concerns(attrs: Attributes) -> str | None:
    """The node whose graph decides this request, or None (no opinion)."""
    if not attrs.resource_request or attrs.api_group or attrs.subresource:
        return None
    if attrs.resource not in nodegraph.GRAPH_RESOURCES:
        return None
    return nodegraph.node_name(attrs.user, attrs.groups)


async def decide(store: Store, attrs: Attributes) -> Decision | None:
    """Allowed when a pod bound to the node uses the object; else None (no opinion, RBAC decides).
    Errors reading etcd propagate (the request fails; nothing is allowed by accident)."""
    node = concerns(attrs)
    if node is None or attrs.verb != "get" or not attrs.name:
        return None
    if attrs.resource == "persistentvolumes":
        listed = await store.list(PERSISTENTVOLUMECLAIMS, raw_filter=_mentions(attrs.name), as_documents=True)
        for claim in nodegraph.claims_volume(listed.items, attrs.name):
            meta = claim.get("metadata") or {}
            if await _used(store, node, meta.get("namespace") or "", "persistentvolumeclaims", meta.get("name") or ""):
                return _allowed(node)
        return None
    if await _used(store, node, attrs.namespace, attrs.resource, attrs.name):
        return _allowed(node)
    return None


async def _used(store: Store, node: str, namespace: str, resource: str, name: str) -> bool:
    if not namespace:
        return False
    pods = await store.list(PODS, namespace, raw_filter=_mentions(node), as_documents=True)
    return nodegraph.pods_reference(pods.items, node, resource, name)


def _allowed(node: str) -> Decision:
    return Decision(True, f"a pod bound to node {node!r} uses this object (Node authorizer)")


def denial_detail(attrs: Attributes) -> str:
    """What kube's Node authorizer adds to a node's 403 for a graph kind ("" for other requests)."""
    node = concerns(attrs)
    return f": no relationship found between node '{node}' and this object" if node is not None else ""
