"""Prometheus metrics of one manager, in its own registry (no module-level state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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

    def render(self) -> bytes:
        return generate_latest(self.registry)
