"""Where an agent's pod loop reads its pods: its own informer, or one shared by many agents.

A single agent watches pods with a predicate on ``spec.nodeName`` (and a raw
pre-filter so other nodes' pods are skipped undecoded). Many simulated
agents in one process share one informer indexed by node instead: one etcd
watch for all of them, and each agent sees only its node's pods through a
:class:`NodeView`.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from kubelite.api.core import Pod
from kubelite.api.resources import PODS
from kubelite.client.informer import Handler, Informer, index_by_node_name, object_key
from kubelite.storage.store import Store


class PodSource(Protocol):
    def get(self, key: str) -> Pod | None: ...
    def keys(self) -> list[str]: ...
    def add_handler(self, handler: Handler) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def wait_synced(self, timeout: float | None = None) -> None: ...


def own_informer(store: Store, node: str, *, resync_period: float) -> Informer[Pod]:
    marker = f'"nodeName":{json.dumps(node)}'.encode()
    return Informer(
        store, PODS, predicate=lambda pod: pod.spec.node_name == node,
        raw_filter=lambda raw: marker in raw,  # most pods are other nodes': skip them undecoded
        resync_period=resync_period,
    )


def shared_informer(store: Store, *, resync_period: float = 30.0) -> Informer[Pod]:
    """Bound pods of every node, indexed by node; start/stop it once for all the views."""
    return Informer(
        store, PODS, indexers={"node": index_by_node_name}, predicate=lambda pod: bool(pod.spec.node_name),
        raw_filter=lambda raw: b'"nodeName":' in raw, resync_period=resync_period,
    )


class _NodeHandler:
    def __init__(self, node: str, inner: Handler) -> None:
        self.node = node
        self.inner = inner

    def on_add(self, obj: Any) -> None:
        if obj.spec.node_name == self.node:
            self.inner.on_add(obj)

    def on_update(self, old: Any, new: Any) -> None:
        if new.spec.node_name == self.node or old.spec.node_name == self.node:
            self.inner.on_update(old, new)

    def on_delete(self, obj: Any) -> None:
        if obj.spec.node_name == self.node:
            self.inner.on_delete(obj)


class NodeView:
    """One node's pods in a shared informer; starting/stopping it leaves the informer alone."""

    def __init__(self, informer: Informer[Pod], node: str) -> None:
        self.informer = informer
        self.node = node

    def get(self, key: str) -> Pod | None:
        pod = self.informer.get(key)
        return pod if pod is not None and pod.spec.node_name == self.node else None

    def keys(self) -> list[str]:
        return [object_key(p) for p in self.informer.by_index("node", self.node)]

    def add_handler(self, handler: Handler) -> None:
        self.informer.add_handler(_NodeHandler(self.node, handler))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def wait_synced(self, timeout: float | None = None) -> None:
        await self.informer.wait_synced(timeout)
