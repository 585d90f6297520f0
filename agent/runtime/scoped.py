"""One cluster's view of a shared container engine.

Several clusters may share one Docker Engine (two ``kl up`` on one machine),
and each names its nodes ``node-1``…; node and pod labels alone would let one
cluster's agent adopt or remove the other's containers. This wrapper puts the
cluster's identity (``LABEL_CLUSTER`` = the kube-system Namespace uid, see
``kubelite.client.bootstrap.cluster_uid``) on every container it creates and adds it
to every list and event filter, so an agent sees only its own cluster's
containers. Every runtime resource a runtime creates for pods (networks now;
netns, CNI allocations, proxy rules later) must carry the same label.

Containers made by kubelite before this label existed ("legacy") are listed
separately; the agent removes one only when it is provably its own (its pod
uid names a pod of this cluster bound to this node), never on node name alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from agent.runtime.base import (
    LABEL_CLUSTER,
    ContainerInfo,
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerSpec,
    RuntimeEvent,
    SUBSCRIBED,
)


class ClusterScopedRuntime:
    """A ``ContainerRuntime`` limited to the containers labelled with one cluster uid.

    ``bind(uid)`` must be called (once etcd has told the agent its cluster)
    before anything is created, listed or watched: until then those calls raise
    ``ContainerRuntimeError`` rather than act unscoped. Everything else is the
    wrapped runtime's.
    """

    def __init__(self, inner: ContainerRuntime) -> None:
        self.inner = inner
        self.name = inner.name
        self.has_network = inner.has_network
        self.creates_before_sandbox_starts = inner.creates_before_sandbox_starts
        self.cluster_uid = ""

    def __getattr__(self, name: str) -> Any:  # start/stop/inspect/logs/exec...: not cluster-specific
        return getattr(self.inner, name)

    def bind(self, uid: str) -> None:
        if not uid:
            raise ValueError("a cluster uid must not be empty")
        if self.cluster_uid and self.cluster_uid != uid:
            raise ContainerRuntimeError(f"already bound to cluster {self.cluster_uid}, not {uid}")
        self.cluster_uid = uid

    def _uid(self) -> str:
        if not self.cluster_uid:
            raise ContainerRuntimeError("the cluster's identity is not known yet (etcd not read)")
        return self.cluster_uid

    async def create_container(self, spec: ContainerSpec) -> str:
        labelled = dataclasses.replace(spec, labels={**spec.labels, LABEL_CLUSTER: self._uid()})
        return await self.inner.create_container(labelled)

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return await self.inner.list_containers({**labels, LABEL_CLUSTER: self._uid()})

    async def list_legacy(self, labels: dict[str, str]) -> list[ContainerInfo]:
        """Containers matching ``labels`` with no cluster label at all (made by an older kubelite)."""
        return [c for c in await self.inner.list_containers(labels) if LABEL_CLUSTER not in c.labels]

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        uid = self._uid()
        async for event in self.inner.events():
            # SUBSCRIBED carries no labels: it says the stream is (re)attached, for every cluster.
            if event.action == SUBSCRIBED or event.labels.get(LABEL_CLUSTER) == uid:
                yield event


def legacy_to_remove(legacy: list[ContainerInfo], bound_uids: set[str]) -> tuple[list[ContainerInfo], list[ContainerInfo]]:
    """(provably ours, left alone): unlabelled containers are ours only when their pod uid
    names a pod of this cluster bound to this node (pod uids are random UUIDs)."""
    ours = [c for c in legacy if c.pod_uid and c.pod_uid in bound_uids]
    return ours, [c for c in legacy if c not in ours]
