"""Where an agent's pod loop reads its pods: its own informer, or one shared by many agents.

A single agent watches pods with a predicate on ``spec.nodeName`` (and a raw
pre-filter so other nodes' pods are skipped undecoded). Many simulated
agents in one process share one informer indexed by node instead: one etcd
watch for all of them, and each agent sees only its node's pods through a
:class:`NodeView`.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Collection, Iterator
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


def shared_informer(store: Store, *, resync_period: float = 30.0,
                    nodes: Collection[str] | None = None) -> Informer[Pod]:
    """Bound pods of every node (or only of ``nodes``: this process's), indexed by node; start/stop it
    once for all the views. With ``nodes`` other processes' pods are skipped undecoded (four processes
    of 250 sim nodes would each decode and keep all 10,000 pods of a 1,000-node cluster)."""
    if nodes is None:
        return Informer(
            store, PODS, indexers={"node": index_by_node_name}, predicate=lambda pod: bool(pod.spec.node_name),
            raw_filter=lambda raw: b'"nodeName":' in raw, resync_period=resync_period,
        )
    mine = frozenset(nodes)
    return Informer(
        store, PODS, indexers={"node": index_by_node_name}, predicate=lambda pod: pod.spec.node_name in mine,
        raw_filter=lambda raw: any(name in mine for name in _names_after_node_name_keys(raw)),
        resync_period=resync_period,
    )


def _names_after_node_name_keys(raw: bytes) -> Iterator[str]:
    """The string values after every ``"nodeName":`` key of stored JSON, undecoded (a pre-filter: the
    pod's own ``spec.nodeName`` is among them; node names are DNS subdomains, never escaped). The
    decoded pod is then checked exactly by the informer's predicate."""
    at = raw.find(b'"nodeName":"')
    while at >= 0:
        start = at + 12
        end = raw.find(b'"', start)
        if end < 0:
            return
        yield raw[start:end].decode(errors="replace")
        at = raw.find(b'"nodeName":"', end)


class _NodeRouter:
    """One handler on the shared informer for all its node views: an event goes to its pod's node's
    handlers only (a handler per node, each filtering, made every event and every resync cost
    O(nodes in the process))."""

    def __init__(self) -> None:
        self.by_node: dict[str, list[Handler]] = {}

    def on_add(self, obj: Any) -> None:
        for handler in self.by_node.get(obj.spec.node_name, ()):
            handler.on_add(obj)

    def on_update(self, old: Any, new: Any) -> None:
        for handler in self.by_node.get(new.spec.node_name, ()):
            handler.on_update(old, new)
        if old.spec.node_name != new.spec.node_name:
            for handler in self.by_node.get(old.spec.node_name, ()):
                handler.on_update(old, new)

    def on_delete(self, obj: Any) -> None:
        for handler in self.by_node.get(obj.spec.node_name, ()):
            handler.on_delete(obj)


_routers: weakref.WeakKeyDictionary[Informer[Pod], _NodeRouter] = weakref.WeakKeyDictionary()


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
        router = _routers.get(self.informer)
        if router is None:
            router = _routers[self.informer] = _NodeRouter()
            self.informer.add_handler(router)
        router.by_node.setdefault(self.node, []).append(handler)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def wait_synced(self, timeout: float | None = None) -> None:
        await self.informer.wait_synced(timeout)
