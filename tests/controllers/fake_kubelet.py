"""A test-only kubelet: registers a Node and its heartbeat lease, "runs" bound pods by
writing Running/Ready status, finishes graceful deletions, and can die (lease revoked
or left to expire) and come back. Enough to exercise the controllers against real etcd
without the agent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from kubelite.api import errors
from kubelite.api.coordination import Lease, LeaseSpec
from kubelite.api.core import (
    Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodCondition, PodStatus, Taint,
)
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import LEASES, NODES, PODS
from kubelite.client.informer import FuncHandler, Informer, object_key
from kubelite.client.lease import LeaseSession
from kubelite.storage.store import Store

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class FakeKubelet:
    def __init__(
        self, store: Store, name: str, *, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
        lease_ttl: int = 2, labels: dict[str, str] | None = None, taints: list[Taint] | None = None,
        ready: Callable[[Pod], bool] = lambda pod: True,
    ) -> None:
        self.store = store
        self.name = name
        self.capacity = {"cpu": cpu, "memory": memory, "pods": str(pods)}
        self.lease_ttl = lease_ttl
        self.labels = {"kubernetes.io/hostname": name, **(labels or {})}
        self.taints = taints
        self.ready = ready
        self.session: LeaseSession | None = None
        self.informer: Informer | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.running = False

    async def start(self) -> None:
        await self._register()
        self.session = LeaseSession(self.store.client, self.lease_ttl)
        await self.session.start()
        lease = Lease(metadata=ObjectMeta(name=self.name, namespace="kube-node-lease"),
                      spec=LeaseSpec(holder_identity=self.name, lease_duration_seconds=self.lease_ttl,
                                     renew_time=_now()))
        with contextlib.suppress(errors.ApiError):
            await self.store.delete(LEASES, self.name, "kube-node-lease")
        await self.store.create(LEASES, lease, lease=self.session.lease_id)
        self.informer = Informer(self.store, PODS, predicate=lambda p: p.spec.node_name == self.name)
        self.informer.add_handler(FuncHandler.enqueue_all(lambda p: self._queue.put_nowait(object_key(p))))
        await self.informer.start()
        await self.informer.wait_synced(10)
        self._worker = asyncio.create_task(self._work(), name=f"fake-kubelet-{self.name}")
        self.running = True

    async def _register(self) -> None:
        status = NodeStatus(capacity=dict(self.capacity), allocatable=dict(self.capacity),
                            conditions=[self._ready_condition("True")])
        try:
            current = await self.store.get(NODES, self.name)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
            node = Node(metadata=ObjectMeta(name=self.name, labels=self.labels),
                        spec=NodeSpec(taints=self.taints), status=status)
            created = await self.store.create(NODES, node)
            created.status = status
            await self.store.update(NODES, created, subresource="status")
            return
        await self.set_ready(True, current=current)

    def _ready_condition(self, value: str) -> NodeCondition:
        reason = "KubeletReady" if value == "True" else "KubeletNotReady"
        return NodeCondition(type="Ready", status=value, reason=reason, last_heartbeat_time=_now(),
                             last_transition_time=_now())

    async def set_ready(self, ready: bool, *, current: Node | None = None) -> None:
        """What the agent reports about itself (Ready True/False)."""
        value = "True" if ready else "False"

        def mutate(node: Node) -> Node:
            status = node.status or NodeStatus()
            status.capacity = status.allocatable = dict(self.capacity)
            others = [c for c in status.conditions or [] if c.type != "Ready"]
            status.conditions = [*others, self._ready_condition(value)]
            node.status = status
            return node

        await self.store.guaranteed_update(NODES, self.name, None, mutate, subresource="status")

    async def stop(self, *, revoke: bool = True) -> None:
        """Die: stop working; revoke=True drops the lease key at once, else it expires after the TTL."""
        self.running = False
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self.informer is not None:
            with contextlib.suppress(TimeoutError):  # see controllers.manager._bounded
                await asyncio.wait_for(self.informer.stop(), 3)
            self.informer = None
        if self.session is not None:
            await self.session.stop(revoke=revoke)
            self.session = None

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            try:
                await self._sync(key)
            except asyncio.CancelledError:
                raise
            except errors.ApiError as exc:
                if exc.code == 409:
                    self._queue.put_nowait(key)  # changed meanwhile: look again
                elif exc.code != 404:
                    log.warning("fake kubelet %s: %s: %s", self.name, key, exc)

    async def _sync(self, key: str) -> None:
        assert self.informer is not None
        pod: Pod | None = self.informer.get(key)
        if pod is None:
            return
        if pod.metadata.deletion_timestamp is not None:
            await self.store.delete(PODS, pod.name, pod.namespace, grace_period_seconds=0)
            return
        if pod.is_terminated():
            return
        ready = "True" if self.ready(pod) else "False"
        current = pod.status.condition("Ready") if pod.status else None
        if pod.phase == "Running" and current is not None and current.status == ready:
            return
        updated = pod.deep_copy()
        now = _now()
        updated.status = PodStatus(
            phase="Running", host_ip="127.0.0.1", pod_ip="10.0.0.1", start_time=now,
            conditions=[PodCondition(type="PodScheduled", status="True", last_transition_time=now),
                        PodCondition(type="Ready", status=ready, last_transition_time=now),
                        PodCondition(type="ContainersReady", status=ready, last_transition_time=now)],
        )
        await self.store.update(PODS, updated, subresource="status")

    async def fail_pod(self, name: str, namespace: str = "default") -> None:
        """The pod's container exited for good (restartPolicy Never): phase Failed."""
        def mutate(pod: Pod) -> Pod:
            pod.status = PodStatus(phase="Failed", reason="Error", message="container exited with 1")
            return pod
        await self.store.guaranteed_update(PODS, name, namespace, mutate, subresource="status")
