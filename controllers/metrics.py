"""Prometheus metrics of one manager, in its own registry (no module-level state)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kubelite.api.core import Pod
from kubelite.client.informer import Informer

# client-go's workqueue latency buckets: 10 ns to 10 s by powers of ten (ExponentialBuckets(10e-9, 10, 10))
_QUEUE_BUCKETS = tuple(10e-9 * 10**i for i in range(10))


class WorkqueueMetrics:
    """client-go's workqueue metrics (k8s.io/component-base/metrics/prometheus/workqueue), by queue name."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=registry)
        self.adds = Counter("workqueue_adds", "Total number of adds handled by workqueue", ["name"], registry=registry)
        self.latency = Histogram("workqueue_queue_duration_seconds", "How long in seconds an item stays in workqueue "
                                 "before being requested.", ["name"], buckets=_QUEUE_BUCKETS, registry=registry)
        self.work = Histogram("workqueue_work_duration_seconds", "How long in seconds processing an item from "
                              "workqueue takes.", ["name"], buckets=_QUEUE_BUCKETS, registry=registry)
        self.retries = Counter("workqueue_retries", "Total number of retries handled by workqueue", ["name"],
                               registry=registry)

    def added(self, name: str, depth: int) -> None:
        self.adds.labels(name).inc()
        self.depth.labels(name).set(depth)

    def taken(self, name: str, depth: int, waited: float) -> None:
        self.depth.labels(name).set(depth)
        self.latency.labels(name).observe(waited)

    def finished(self, name: str, worked: float) -> None:
        self.work.labels(name).observe(worked)

    def retried(self, name: str) -> None:
        self.retries.labels(name).inc()


class _PodsByPhase(Collector):
    def __init__(self, pods: Informer[Pod]) -> None:
        self.pods = pods

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("kubelite_pods", "Pods by phase and the node they are bound to.",
                                   labels=["node", "phase"])
        counts = Tally((p.spec.node_name or "", p.phase) for p in self.pods.list())
        for (node, phase), count in sorted(counts.items()):
            family.add_metric([node, phase], count)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.scheduling_latency = Histogram(
            "scheduler_scheduling_attempt_duration_seconds", "Time to decide and bind one pod.",
            ["result"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.schedule_attempts = Counter(
            "scheduler_schedule_attempts_total", "Scheduling attempts by result.", ["result"], registry=self.registry,
        )
        self.e2e_scheduling_latency = Histogram(
            "scheduler_pod_scheduling_duration_seconds", "From pod creation until bound.",
            registry=self.registry, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.reconciles = Counter(
            "controller_reconcile_total", "Reconciles by controller and result.", ["controller", "result"],
            registry=self.registry,
        )
        self.is_leader = Gauge("leader_election_master_status", "1 if this instance leads.", registry=self.registry)
        self.evictions = Counter("node_lifecycle_evictions_total", "Pods evicted from tainted nodes.",
                                 registry=self.registry)
        self.gc_deletions = Counter("garbage_collector_deletions_total", "Dependents deleted by the GC.",
                                    registry=self.registry)

        self.workqueue = WorkqueueMetrics(self.registry)

    def count_pods(self, pods: Informer[Pod]) -> None:
        """``kubelite_pods{node,phase}``: pods by phase per node (node "" = not scheduled), read from the
        pods informer at each scrape."""
        self.registry.register(_PodsByPhase(pods))

    def render(self) -> bytes:
        return generate_latest(self.registry)
