"""The etcd keys node agents write themselves, and how a value read from one is trusted.

Under ``kl up`` a node's etcd role read-writes one key directly: its node Lease
(:func:`kubelite.etcd.auth_plan.node_lease_key`, kept on an etcd lease). The gateway's admission
(NodeRestriction) never sees that value, so node-1 may store under its key a Lease *named* node-2
(readers would then file it as node-2's: informers key objects by their metadata), or bytes that
fail to decode (every list of node Leases — the node lifecycle controller's informer — would fail).
kube-apiserver has no such key (only it writes etcd), so kube takes an object's identity from its
value; here a value under a node-written key gets its namespace and name from the key, and an
undecodable one reads as an empty object of that identity (its node then renews nothing: it harms
only itself). Pure; :mod:`kubelite.storage.store` applies it on every read from etcd.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kubelite.api.resources import Resource
from kubelite.etcd.auth_plan import node_lease_key

log = logging.getLogger(__name__)

NODE_WRITTEN_PREFIX = node_lease_key("")  # /registry/leases/kube-node-lease/


def written_by_node(key: bytes | None) -> bool:
    return key is not None and key.startswith(NODE_WRITTEN_PREFIX)


def identity(res: Resource, key: bytes) -> tuple[str | None, str]:
    """(namespace, name) of the object stored under ``key`` (``/registry/<plural>/[<ns>/]<name>``)."""
    rest = key.decode(errors="replace")[len(res.prefix()):]
    if not res.namespaced:
        return None, rest
    namespace, _, name = rest.partition("/")
    return namespace, name


def keyed_document(res: Resource, key: bytes, load: Callable[[], Any] | None) -> dict[str, Any]:
    """The document ``load()`` reads from ``key``, its namespace and name those of the key; an
    empty object of that identity when ``load`` is None or fails (undecryptable, not JSON, not an object)."""
    doc: Any = None
    if load is not None:
        try:
            doc = load()
        except Exception as exc:  # any decode failure of a node-written value: that node's problem only
            log.warning("undecodable value under node-written key %r: %s", key, exc)
    if not isinstance(doc, dict):
        doc = {"apiVersion": res.api_version, "kind": res.kind}
    meta = doc.get("metadata")
    namespace, name = identity(res, key)
    keyed: dict[str, Any] = {**doc, "metadata": {**(meta if isinstance(meta, dict) else {}), "name": name,
                                                 **({"namespace": namespace} if namespace is not None else {})}}
    return keyed
