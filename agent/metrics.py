"""Prometheus metrics of one agent, in its own registry (several agents may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class AgentMetrics:
    def __init__(self, node: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.node = node
        self.pods_running = Gauge(
            "kubelite_agent_pods_running", "Pods bound to this node in phase Running", registry=self.registry)
        self.pods = Gauge("kubelite_agent_pods", "Pods bound to this node", registry=self.registry)
        self.container_starts = Counter(
            "kubelite_agent_container_starts", "Containers started (first starts and restarts)",
            registry=self.registry)
        self.container_restarts = Counter(
            "kubelite_agent_container_restarts", "Containers restarted after an exit or a failed probe",
            registry=self.registry)
        self.probe_results = Counter(
            "kubelite_agent_probe_results", "Probe outcomes", ["probe", "result"], registry=self.registry)
        self.sync_duration = Histogram(
            "kubelite_agent_pod_sync_duration_seconds", "Duration of one pod reconcile",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry)
        self.start_latency = Histogram(
            "kubelite_agent_pod_start_latency_seconds", "From a pod first seen to Running reported",
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.runtime_up = Gauge(
            "kubelite_agent_runtime_up", "1 while the container runtime answers, 0 while it is down",
            registry=self.registry)
        self.runtime_up.set(1)
        self.runtime_subscriptions = Counter(
            "kubelite_agent_runtime_event_subscriptions",
            "Subscriptions to the runtime's event stream (more than one: it was lost and re-subscribed)",
            registry=self.registry)
        self.disk_pressure = Gauge(
            "kubelite_agent_disk_pressure", "1 while the node reports DiskPressure", registry=self.registry)
        self.evictions = Counter(
            "kubelite_agent_evictions", "Pods evicted or refused because of node pressure", registry=self.registry)
        self.lease_renewals = Counter(
            "kubelite_agent_lease_sessions", "Node lease sessions started (more than one: a lease was lost)",
            registry=self.registry)
