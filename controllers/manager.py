"""The controller manager: shared informers, the controllers, leader election, status endpoints.

Every instance keeps its informers synced (hot standby). Only the leader runs
the controllers' reconcile loops, each write fenced with the term's fence.
When leadership is lost (``wait_lost``) the loops are stopped at once — the
process does not exit: it drops per-term state (queues, expectations,
assumed pods) and campaigns again, so a manager that was merely partitioned
rejoins as a follower without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.etcd.compaction import DEFAULT_INTERVAL, Compactor
from kubelite.client.election import LeaderElection
from kubelite.etcd.client import EtcdClient, EtcdConfig, connect
from kubelite.etcd.metrics import observe_etcd_requests
from kubelite.storage.store import Store
from kubelite.registry.strategy import Admission
from kubelite.util.supervise import cancel_and_wait, spawn

from controllers.base import Controller
from controllers.context import ControllerContext, Settings, SharedInformers
from controllers.cronjob import CronJobController
from controllers.daemonset import DaemonSetController
from controllers.deployment import DeploymentController
from controllers.endpoints import EndpointsController
from controllers.endpointslice import EndpointSliceController
from controllers.gc import GarbageCollector
from controllers.hpa import HorizontalPodAutoscalerController
from controllers.http import StatusServer
from controllers.job import JobController
from controllers.localpath import LocalPathProvisioner
from controllers.metrics import Metrics
from controllers.disruption import DisruptionController
from controllers.namespace import NamespaceController
from controllers.nodelifecycle import NodeLifecycleController
from controllers.replicaset import ReplicaSetController
from controllers.replicationcontroller import ReplicationControllerController
from controllers.resourcequota import ResourceQuotaController
from controllers.rootcacert import RootCACertPublisher
from controllers.scheduler import Scheduler
from controllers.serviceaccount import ServiceAccountController
from controllers.statefulset import StatefulSetController

log = logging.getLogger(__name__)

# name (``--controllers``) -> the controller's class
CONTROLLERS: dict[str, type[Controller]] = {
    "scheduler": Scheduler,
    "replicaset": ReplicaSetController,
    "replicationcontroller": ReplicationControllerController,
    "deployment": DeploymentController,
    "nodelifecycle": NodeLifecycleController,
    "garbagecollector": GarbageCollector,
    "namespace": NamespaceController,
    "daemonset": DaemonSetController,
    "statefulset": StatefulSetController,
    "localpath": LocalPathProvisioner,
    "endpointslice": EndpointSliceController,
    "endpoints": EndpointsController,
    "job": JobController,
    "cronjob": CronJobController,
    "horizontalpodautoscaling": HorizontalPodAutoscalerController,
    "serviceaccount": ServiceAccountController,
    "root-ca-cert-publisher": RootCACertPublisher,
    "disruption": DisruptionController,
    "resourcequota": ResourceQuotaController,
}


def controller_class(name: str) -> type[Controller]:
    if name not in CONTROLLERS:
        raise ValueError(f"unknown controller {name!r}; known: {', '.join(CONTROLLERS)}")
    return CONTROLLERS[name]


@dataclass
class ManagerConfig:
    etcd: EtcdConfig = field(default_factory=EtcdConfig)
    identity: str = "controller-manager"
    listen: str | None = "127.0.0.1:10257"
    lease_ttl: int = 15
    settings: Settings = field(default_factory=Settings)
    controllers: tuple[str, ...] = tuple(CONTROLLERS)
    sync_timeout: float = 60.0
    compaction_interval: float = DEFAULT_INTERVAL  # seconds; 0: this manager does not compact etcd


def _bounded(stop: Any, what: str, timeout: float = 5.0) -> Any:
    """A stop step that cannot hang teardown: an informer's watch can miss its cancellation
    inside aetcd (observed rarely); give up after ``timeout`` and say so."""
    async def run() -> None:
        try:
            await asyncio.wait_for(stop(), timeout)
        except TimeoutError:
            log.warning("%s did not stop within %.0fs; abandoning it", what, timeout)
    return run


class ControllerManager:
    def __init__(self, config: ManagerConfig, *, client: EtcdClient | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self._client = client
        self._owns_client = client is None
        self.ctx: ControllerContext | None = None
        self.controllers: list[Controller] = []
        self.election: LeaderElection | None = None
        self.server: StatusServer | None = None
        self.compactor: Compactor | None = None
        self.terms = 0
        self._leader_task: asyncio.Task[None] | None = None
        self._leading = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        if self._client is None:
            self._client = await connect(self.config.etcd)
        observe_etcd_requests(self._client, self.metrics.registry)
        settings = self.config.settings
        store = Store(self._client, admission=Admission(
            default_not_ready_toleration_seconds=settings.default_not_ready_toleration_seconds,
            default_unreachable_toleration_seconds=settings.default_unreachable_toleration_seconds,
            service_account=settings.service_account_admission))
        await ensure_system_namespaces(store)
        informers = SharedInformers.create(store, resync_seconds=settings.resync_seconds)
        self.metrics.count_pods(informers.pods)
        self.ctx = ControllerContext(store, informers, settings=settings, metrics=self.metrics,
                                     identity=self.config.identity)
        self.controllers = [controller_class(name)(self.ctx) for name in self.config.controllers]
        for controller in self.controllers:
            controller.register()
        for informer in informers.all():
            await informer.start()
        for informer in informers.all():
            await informer.wait_synced(self.config.sync_timeout)
        for recorder in self.ctx.recorders.values():
            await recorder.start()
        if self.config.listen:
            self.server = StatusServer(self.config.listen, health=self.health, readiness=self.readiness,
                                       metrics=self.metrics.render)
            await self.server.start()
        # Leader or not: the compactors of all managers and gateways agree through etcd on who compacts.
        self.compactor = Compactor(self._client, interval=self.config.compaction_interval,
                                   registry=self.metrics.registry)
        await self.compactor.start()
        self.election = LeaderElection(self._client, self.config.identity, ttl=self.config.lease_ttl)
        self._leader_task = spawn("leader-loop", self._lead_forever)
        log.info("controller manager %s started (informers synced)", self.config.identity)

    async def stop(self) -> None:
        """Reverse order of start; every step runs even if an earlier one fails."""
        failures: list[BaseException] = []
        steps: list[Any] = [self._stop_leader_loop]
        if self.compactor is not None:
            steps.append(self.compactor.stop)
        if self.server is not None:
            steps.append(self.server.stop)
        if self.ctx is not None:
            steps += [r.stop for r in self.ctx.recorders.values()]
            steps += [_bounded(i.stop, f"informer {i.res.plural}") for i in reversed(self.ctx.informers.all())]
        if self._owns_client and self._client is not None:
            steps.append(self._client.close)
        for step in steps:
            try:
                await step()
            except Exception as exc:  # report every failure, keep tearing down
                log.exception("stop step %s failed", getattr(step, "__qualname__", step))
                failures.append(exc)
        self.server = None

    async def _stop_leader_loop(self) -> None:
        if self._leader_task is not None:
            await cancel_and_wait(self._leader_task)
            self._leader_task = None

    # -- leadership -------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    async def wait_leading(self) -> None:
        await self._leading.wait()

    async def _lead_forever(self) -> None:
        assert self.election is not None
        election = self.election
        try:
            while True:
                fence = await election.campaign()
                self.terms += 1
                log.info("%s leads (term %d, fence %d)", self.config.identity, self.terms, fence.create_revision)
                try:
                    for controller in self.controllers:
                        await controller.start_leading(fence)
                    self._leading.set()
                    self.metrics.is_leader.set(1)
                    await election.wait_lost()
                    log.warning("%s lost leadership; stopping controllers", self.config.identity)
                finally:
                    self._leading.clear()
                    self.metrics.is_leader.set(0)
                    for controller in reversed(self.controllers):
                        await controller.stop_leading()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(election.resign())

    # -- status -----------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        task_ok = self._leader_task is not None and not self._leader_task.done()
        synced = self.ctx is not None and self.ctx.informers.synced
        return {"ok": task_ok and synced, "identity": self.config.identity}

    async def readiness(self) -> dict[str, Any]:
        holder = None
        if self.election is not None:
            with contextlib.suppress(Exception):
                holder = await asyncio.wait_for(self.election.holder(), 2.0)
        synced = self.ctx is not None and self.ctx.informers.synced
        return {"ready": synced, "leader": self.is_leader, "identity": self.config.identity, "holder": holder,
                "terms": self.terms}
