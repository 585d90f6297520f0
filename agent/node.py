"""Node registration, status heartbeat, and the node liveness lease.

The Node object says what the node offers (capacity, labels, addresses,
runtime version; its ``--taints`` only when the agent creates it, as the
kubelet's ``--register-with-taints``: afterwards taints are the control
plane's, and the node reports only conditions); the agent API's port is
``status.daemonEndpoints.kubeletEndpoint.Port`` on the InternalIP, as for a
kubelet (status only: metadata is anyone's to annotate, see
``kubelite.node.agent_auth``); its Ready condition
gets a heartbeat every ``status_period`` (5 min by default, the kubelet's nodeStatusReportFrequency: a
condition's change is reported at once, and liveness is the lease, not this). Liveness is the key
``/registry/leases/kube-node-lease/<node>`` attached to an etcd lease kept
alive every TTL/3: when the agent dies, etcd deletes the key after the TTL.
When the lease is lost (etcd unreachable for a TTL, or revoked) the agent
closes its start gate, and as soon as etcd answers again takes a new lease,
re-registers, and lets the agent re-discover its containers before anything
starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aetcd

from kubelite.api import errors
from kubelite.api.coordination import Lease, LeaseSpec
from kubelite.api.core import (
    DaemonEndpoint,
    Node,
    NodeAddress,
    NodeCondition,
    NodeDaemonEndpoints,
    NodeSpec,
    NodeStatus,
    NodeSystemInfo,
    Taint,
)
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import LEASES, NODES
from kubelite.etcd.ops import EtcdUnavailable, cmp_mod, op_put, txn
from kubelite.util.jitter import first_phase, jittered
from kubelite.client.lease import LeaseSession
from kubelite.storage.store import Store, encode
from kubelite.util.supervise import cancel_and_wait, spawn
from kubelite.version import __version__
from kubelite.util import clock

from agent.metrics import AgentMetrics
from agent.nodehealth import NodeHealth, node_conditions
from agent.runtime.base import HostResources, RuntimeVersion

log = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE = "kube-node-lease"
STATUS_JITTER = 0.04  # the kubelet's node-status JitterUntil factor
AGENT_VERSION = f"kubelite-agent/{__version__}"
_TRANSIENT = (errors.ApiError, aetcd.ClientError, EtcdUnavailable, OSError, TimeoutError)


@dataclass(frozen=True)
class NodeConfig:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    address: str = "127.0.0.1"
    endpoint: str | None = None  # http://127.0.0.1:PORT of the agent API
    cpu: str | None = None  # override the host's (Kubernetes quantity)
    memory: str | None = None
    max_pods: int = 110
    lease_ttl: int = 40  # seconds: the kubelet's nodeLeaseDurationSeconds
    status_period: float = 300.0  # the kubelet's nodeStatusReportFrequency
    retry_delay: float = 0.5


def build_node(config: NodeConfig, host: HostResources, version: RuntimeVersion, now: datetime) -> Node:
    """The Node this agent registers (pure)."""
    cpu = config.cpu or (str(host.cpu_millis // 1000) if host.cpu_millis % 1000 == 0 else f"{host.cpu_millis}m")
    memory = config.memory or f"{host.memory_bytes // 1024}Ki"
    resources: dict[str, Any] = {"cpu": cpu, "memory": memory, "pods": str(config.max_pods)}
    labels = {
        "kubernetes.io/hostname": config.name, "kubernetes.io/os": "linux",
        "kubernetes.io/arch": _arch(version.arch), **config.labels,
    }
    daemon_endpoints = None
    if config.endpoint:
        port = int(config.endpoint.rsplit(":", 1)[1].split("/")[0])
        daemon_endpoints = NodeDaemonEndpoints(kubelet_endpoint=DaemonEndpoint(port=port))
    status = NodeStatus(
        capacity=dict(resources), allocatable=dict(resources), phase="Running", daemon_endpoints=daemon_endpoints,
        conditions=[ready_condition(None, now)],
        addresses=[NodeAddress(type="InternalIP", address=config.address),
                   NodeAddress(type="Hostname", address=config.name)],
        node_info=NodeSystemInfo(
            machine_id=_machine_id(), system_uuid=str(uuid.uuid5(uuid.NAMESPACE_DNS, config.name)),
            boot_id=_boot_id(), kernel_version=version.kernel or platform.release(),
            os_image=version.os or platform.platform(), operating_system="linux", architecture=_arch(version.arch),
            container_runtime_version=f"{version.name}://{version.version}", kubelet_version=AGENT_VERSION,
            kube_proxy_version="",
        ),
    )
    return Node(
        metadata=ObjectMeta(name=config.name, labels=labels),
        spec=NodeSpec(taints=list(config.taints) or None),
        status=status,
    )


def ready_condition(old: NodeCondition | None, now: datetime, ready: bool = True) -> NodeCondition:
    status = "True" if ready else "False"
    since = old.last_transition_time if old is not None and old.status == status else now
    return NodeCondition(
        type="Ready", status=status, last_heartbeat_time=now, last_transition_time=since,
        reason="KubeletReady" if ready else "KubeletNotReady",
        message="kubelite agent is posting ready status" if ready else "kubelite agent is stopping",
    )


class NodeHeartbeat:
    """Registers the Node, heartbeats its status, keeps the node lease; start()/stop().

    Named for Kubernetes' "node heartbeats" (the Node's status updates plus its Lease in
    kube-node-lease, KEP-589), which is the kubelet's node-status loop and node lease
    controller together — not the control plane's node-lifecycle controller.
    """

    def __init__(
        self, store: Store, config: NodeConfig, *, host: HostResources, version: RuntimeVersion,
        metrics: AgentMetrics, on_lost: Callable[[], None], on_regained: Callable[[], Awaitable[None]],
        monotonic: Callable[[], float] = clock.monotonic, health: NodeHealth | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.host = host
        self.version = version
        self.metrics = metrics
        self.on_lost = on_lost
        self.on_regained = on_regained
        self.health = health or NodeHealth()
        self.session: LeaseSession | None = None
        self.sessions = 0
        self._monotonic = monotonic
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Register and take the lease, waiting for etcd as long as it takes."""
        await self._until_done(self._acquire)
        self.health.changed.set()  # post every condition (DiskPressure too) now, not after a period
        self._tasks = [
            spawn(f"node-lease-{self.config.name}", self._watch_lease),
            spawn(f"node-status-{self.config.name}", self._heartbeat),
        ]

    async def stop(self, *, revoke: bool = False) -> None:
        """Stop heartbeats; ``revoke`` deletes the lease key now (drain), else it expires after the TTL."""
        for task in reversed(self._tasks):
            await cancel_and_wait(task)
        self._tasks = []
        if self.session is not None:
            await self.session.stop(revoke=revoke)
            self.session = None

    # -- registration --------------------------------------------------------

    async def register(self) -> Node:
        now = clock.now_seconds()
        wanted = build_node(self.config, self.host, self.version, now)
        try:
            return await self.store.create(NODES, wanted)
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise

        def merge_meta(node: Node) -> Node | None:
            # Taints (--taints) only when the Node is created, as the kubelet's --register-with-taints:
            # a node may not change its taints afterwards (NodeRestriction); the node lifecycle
            # controller keeps the condition taints.
            meta = node.metadata
            labels = {**(meta.labels or {}), **(wanted.metadata.labels or {})}
            annotations = {**(meta.annotations or {}), **(wanted.metadata.annotations or {})}
            if labels == (meta.labels or {}) and annotations == (meta.annotations or {}):
                return None
            meta.labels, meta.annotations = labels, annotations or None
            return node

        await self.store.guaranteed_update(NODES, self.config.name, None, merge_meta)
        return await self._update_status(wanted.status)

    async def _update_status(self, wanted: NodeStatus | None = None) -> Node:
        now = clock.now_seconds()

        facts = self.health.facts

        def mutate(node: Node) -> Node:
            old = (node.status.conditions if node.status else None) or []
            status = wanted or node.status or NodeStatus()
            node.status = status.model_copy(update={"conditions": node_conditions(old, facts, now)})
            return node

        return await self.store.guaranteed_update(NODES, self.config.name, None, mutate, subresource="status")

    async def _heartbeat(self) -> None:
        # Jittered like the kubelet's node-status loop, with a random first phase: the
        # status writes of many nodes started together spread over the period.
        wait = first_phase(self.config.status_period)
        while True:
            # A health change (runtime down/up, disk pressure) is posted at once, not at the next period.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.health.changed.wait(), wait)
            wait = jittered(self.config.status_period, STATUS_JITTER)
            self.health.changed.clear()
            try:
                await self._update_status()
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
                log.warning("node %s was deleted; registering it again", self.config.name)
                await self.register()

    # -- the lease -----------------------------------------------------------

    async def _acquire(self) -> None:
        await self.register()
        session = LeaseSession(self.store.client, self.config.lease_ttl)
        await session.start()
        try:
            await self._write_lease_key(session)
        except BaseException:
            await session.stop(revoke=True)
            raise
        self.session = session
        self.sessions += 1
        self.metrics.lease_renewals.inc()
        log.info("node %s: lease %x taken (ttl %ss)", self.config.name, session.lease_id, self.config.lease_ttl)

    async def _write_lease_key(self, session: LeaseSession) -> None:
        now = clock.now()
        lease = Lease(
            metadata=ObjectMeta(name=self.config.name, namespace=NODE_LEASE_NAMESPACE),
            spec=LeaseSpec(holder_identity=self.config.name, lease_duration_seconds=self.config.lease_ttl,
                           acquire_time=now, renew_time=now),
        )
        try:
            await self.store.create(LEASES, lease, lease=session.lease_id)
            return
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
        # The key still hangs on the previous session's lease: move it onto the new one.
        current = await self.store.get(LEASES, self.config.name, NODE_LEASE_NAMESPACE)
        current.spec = lease.spec
        key = LEASES.key(self.config.name, NODE_LEASE_NAMESPACE)
        response = await txn(
            self.store.client, [cmp_mod(key, "==", int(current.metadata.resource_version or 0))],
            [op_put(key, encode(current), session.lease_id)], [], what=f"move {key} to a new lease",
        )
        if not response.succeeded:
            raise errors.conflict("leases", self.config.name, "node lease changed while moving it to a new lease")

    async def _watch_lease(self) -> None:
        while True:
            session = self.session
            if session is None:
                await self._until_done(self._acquire)
                continue
            await session.lost.wait()
            lost_at = self._monotonic()
            log.warning("node %s: lease %x lost; closing the start gate until etcd answers",
                        self.config.name, session.lease_id)
            self.on_lost()
            with contextlib.suppress(Exception):
                await session.stop(revoke=False)
            self.session = None
            await self._until_done(self._acquire)
            log.info("node %s: lease regained after %.1fs; re-discovering containers", self.config.name,
                     self._monotonic() - lost_at)
            await self.on_regained()

    async def _until_done(self, step: Callable[[], Awaitable[None]]) -> None:
        delay = self.config.retry_delay
        while True:
            try:
                await step()
                return
            except _TRANSIENT as exc:
                # refused (422 invalid, 403 forbidden to the node's credentials): not etcd's health
                if isinstance(exc, errors.ApiError) and exc.code in (403, 422):
                    log.error("node %s: the Node or its Lease was refused (%s); retrying in %.1fs",
                              self.config.name, exc, delay)
                else:
                    log.warning("node %s: etcd not usable yet (%s); retrying in %.1fs", self.config.name, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _arch(raw: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(raw or platform.machine(), raw or platform.machine())


def _machine_id() -> str:
    with contextlib.suppress(OSError):
        return open("/etc/machine-id").read().strip()
    return ""


def _boot_id() -> str:
    with contextlib.suppress(OSError):
        return open("/proc/sys/kernel/random/boot_id").read().strip()
    return os.urandom(8).hex()
