"""What every controller gets from the manager: the store, the shared informers, settings,
clocks, metrics and an event recorder per component. Built once per manager; no globals."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from kubelite.api.apps import Deployment, ReplicaSet
from kubelite.api.coordination import Lease
from kubelite.api.core import Namespace, Node, Pod
from kubelite.api.meta import KubeObject
from kubelite.api.resources import DEPLOYMENTS, LEASES, NAMESPACES, NODES, PODS, REPLICASETS, Resource
from kubelite.client.events import EventRecorder
from kubelite.client.informer import Informer, index_by_controller_uid, index_by_node_name
from kubelite.storage.store import Store
from kubelite.util.clock import monotonic as clock_monotonic
from kubelite.util.clock import now as clock_now

from controllers.metrics import Metrics

NODE_LEASE_NAMESPACE = "kube-node-lease"
T = TypeVar("T", bound=KubeObject)


def index_orphans_by_namespace(obj: KubeObject) -> list[str]:
    """Objects without a controller, by namespace: candidates for adoption."""
    if obj.metadata.controller_ref() is not None or not obj.metadata.namespace:
        return []
    return [obj.metadata.namespace]


def index_by_owner_uid(obj: object) -> list[str]:
    """Every owner, controller or not: the garbage collector's dependents index."""
    meta = getattr(obj, "metadata", None)
    return [ref.uid for ref in (getattr(meta, "owner_references", None) or [])]


# the indexes every owned kind carries: controllers find their children, the GC its dependents
OWNED_INDEXERS: dict[str, Callable[[Any], Iterable[str]]] = {
    "controller": index_by_controller_uid, "owner": index_by_owner_uid, "orphans": index_orphans_by_namespace}


@dataclass(frozen=True)
class Settings:
    """Tunables, all settable from the command line (see ``python -m controllers --help``)."""

    # DefaultTolerationSeconds for the pods this manager's controllers create (the gateway has
    # the same two flags for everything written through it); eviction follows each pod's own.
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    service_account_admission: bool = False  # --enable-admission-plugins ServiceAccount
    root_ca: str = ""  # PEM of --root-ca-file, published as kube-root-ca.crt (empty without a CA)
    node_monitor_grace_seconds: float = 2.0
    # binds in flight: each decision is taken at once (no await before the pod is assumed), so
    # workers only overlap the bind's etcd round trips (kube-scheduler binds asynchronously). 64 share
    # one txn (BindBatch's MAX_BATCH); with 16 the scheduling cycle waited for slots (bench_scheduler.py,
    # 1,000 nodes: 518-543 pods/s with 16, 688-741 with 64, 609 with 128)
    scheduler_workers: int = 64
    # kube-scheduler's percentageOfNodesToScore: stop filtering after this share of the nodes were
    # found feasible; 0 = adaptive (50% minus 1% per 125 nodes, at least 5% and 100 nodes).
    percentage_of_nodes_to_score: int = 0
    replicaset_workers: int = 4
    deployment_workers: int = 2
    daemonset_workers: int = 2
    statefulset_workers: int = 2
    node_workers: int = 2
    gc_workers: int = 2
    resync_seconds: float = 300.0
    # HorizontalPodAutoscaler (kube-controller-manager's --horizontal-pod-autoscaler-* flags)
    hpa_sync_seconds: float = 15.0
    hpa_downscale_stabilization_seconds: float = 300.0
    hpa_tolerance: float = 0.1
    metrics_api_server: str = ""  # the gateway whose metrics.k8s.io the HPA reads; "" = none
    metrics_api_token_file: str = ""
    metrics_api_ca_file: str = ""


@dataclass
class SharedInformers:
    """One informer per resource, shared by every controller of the manager."""

    pods: Informer[Pod]
    nodes: Informer[Node]
    node_leases: Informer[Lease]
    replicasets: Informer[ReplicaSet]
    deployments: Informer[Deployment]
    namespaces: Informer[Namespace]

    @classmethod
    def create(cls, store: Store, *, resync_seconds: float = 300.0) -> SharedInformers:
        owned = OWNED_INDEXERS
        return cls(
            pods=Informer(store, PODS, indexers={"node": index_by_node_name, **owned}, resync_period=resync_seconds),
            nodes=Informer(store, NODES, indexers=dict(owned), resync_period=resync_seconds),
            node_leases=Informer(store, LEASES, namespace=NODE_LEASE_NAMESPACE, resync_period=resync_seconds),
            replicasets=Informer(store, REPLICASETS, indexers=owned, resync_period=resync_seconds),
            deployments=Informer(store, DEPLOYMENTS, indexers=owned, resync_period=resync_seconds),
            namespaces=Informer(store, NAMESPACES, indexers=dict(owned), resync_period=resync_seconds),
            resync_seconds=resync_seconds, store=store,
        )

    # informers made on demand by for_resource (client-go's SharedInformerFactory.ForResource)
    extra: dict[str, Informer] = field(default_factory=dict)
    resync_seconds: float = 300.0
    store: Store | None = None

    def for_resource(self, res: Resource[T]) -> Informer[T]:
        """The one informer of ``res`` (all namespaces), with the owner indexes; made on first use.

        Call it while controllers are constructed: the manager starts ``all()`` after that.
        """
        named: dict[str, Informer] = {PODS.plural: self.pods, NODES.plural: self.nodes, REPLICASETS.plural: self.replicasets,
                 DEPLOYMENTS.plural: self.deployments, NAMESPACES.plural: self.namespaces}
        # keyed by plural, so the informer found was made for ``res``: its objects are ``res.model``s
        if res.plural in named:
            return cast(Informer[T], named[res.plural])
        informer = self.extra.get(res.plural)
        if informer is None:
            if self.store is None:
                raise RuntimeError("SharedInformers.for_resource needs the store (use SharedInformers.create)")
            made = Informer(self.store, res, indexers=dict(OWNED_INDEXERS), resync_period=self.resync_seconds)
            self.extra[res.plural] = made
            return made
        return cast(Informer[T], informer)

    def all(self) -> list[Informer]:
        return [self.namespaces, self.nodes, self.node_leases, self.deployments, self.replicasets, self.pods,
                *self.extra.values()]

    @property
    def synced(self) -> bool:
        return all(informer.has_synced for informer in self.all())


@dataclass
class ControllerContext:
    store: Store
    informers: SharedInformers
    settings: Settings = field(default_factory=Settings)
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = clock_now
    monotonic: Callable[[], float] = clock_monotonic
    identity: str = "controller-manager"
    recorders: dict[str, EventRecorder] = field(default_factory=dict)

    def recorder(self, component: str) -> EventRecorder:
        """One recorder per component name (the Event's source), created on first use."""
        recorder = self.recorders.get(component)
        if recorder is None:
            recorder = self.recorders[component] = EventRecorder(self.store, component, host=self.identity)
        return recorder
