"""What the scheduler knows about one node (the Node, its liveness, what is bound to it),
and what a pod costs; both computed once and reused across scheduling attempts."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubelite.api import quantity
from kubelite.api.core import Node, Pod, Taint

from controllers.podutil import Requests, host_ports, non_zero_requests, pod_requests

DEFAULT_MAX_PODS = 110


@dataclass(frozen=True)
class PodCost:
    """A pod's requests, host ports and owner; container resources are immutable, so cacheable by uid."""

    requests: Requests
    non_zero: Requests
    ports: frozenset[tuple[str, str, int]]
    owner_uid: str | None

    @classmethod
    def of(cls, pod: Pod) -> PodCost:
        ref = pod.metadata.controller_ref()
        return cls(pod_requests(pod), non_zero_requests(pod), frozenset(host_ports(pod)), ref.uid if ref else None)


@dataclass(frozen=True)
class Candidate:
    """The pod being scheduled, with its cost computed once for all nodes, and the node selector
    terms of the PersistentVolumes its claims are bound to (each list must match the node)."""

    pod: Pod
    cost: PodCost
    volume_terms: tuple[tuple[dict[str, Any], ...], ...] = ()

    @classmethod
    def of(cls, pod: Pod, volume_terms: tuple[tuple[dict[str, Any], ...], ...] = ()) -> Candidate:
        return cls(pod, PodCost.of(pod), volume_terms)


@dataclass
class NodeInfo:
    node: Node
    lease_present: bool = True
    cpu_requested: int = 0
    memory_requested: int = 0
    cpu_non_zero: int = 0
    memory_non_zero: int = 0
    pod_count: int = 0
    used_ports: set[tuple[str, str, int]] = field(default_factory=set)
    owner_counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        # Facts every predicate and scorer reads, taken once per node change instead of once per pod
        # (a NodeInfo is rebuilt when its Node, lease or pods change; see Scheduler.node_infos).
        node = self.node
        self.ready = node.is_ready()
        self.unschedulable = bool(node.unschedulable)
        self.labels: dict[str, str] = dict(node.metadata.labels or {})
        taints = node.taints
        self.hard_taints: tuple[Taint, ...] = tuple(t for t in taints if t.effect in ("NoSchedule", "NoExecute"))
        self.soft_taints: tuple[Taint, ...] = tuple(t for t in taints if t.effect == "PreferNoSchedule")
        status = node.status
        values = (status.allocatable or status.capacity or {}) if status else {}
        cpu, memory, pods = values.get("cpu"), values.get("memory"), values.get("pods")
        self.allocatable_cpu = quantity.cpu_millis(cpu) if cpu is not None else 0
        self.allocatable_memory = quantity.to_bytes(memory) if memory is not None else 0
        self.allocatable_pods = int(quantity.parse_quantity(pods)) if pods is not None else DEFAULT_MAX_PODS
        # Schedulable, without NoSchedule/NoExecute taints, Ready with a lease: the predicates that
        # only look at the node pass here for every pod (see predicates.PASS_ON_PLAIN_NODES).
        self.plain = not self.unschedulable and not self.hard_taints and self.ready and self.lease_present

    def without_pods(self) -> NodeInfo:
        """The same node facts with no pod counted: a rebuild after a pod change, parsing nothing again."""
        fresh = copy.copy(self)
        fresh.cpu_requested = fresh.memory_requested = fresh.cpu_non_zero = fresh.memory_non_zero = 0
        fresh.pod_count = 0
        fresh.used_ports = set()
        fresh.owner_counts = Counter()
        return fresh

    @property
    def name(self) -> str:
        return self.node.name

    def add(self, cost: PodCost) -> None:
        """Count a pod bound (or about to be bound) here."""
        self.cpu_requested += cost.requests.cpu_millis
        self.memory_requested += cost.requests.memory_bytes
        self.cpu_non_zero += cost.non_zero.cpu_millis
        self.memory_non_zero += cost.non_zero.memory_bytes
        self.pod_count += 1
        self.used_ports |= cost.ports
        if cost.owner_uid is not None:
            self.owner_counts[cost.owner_uid] += 1

    def add_pod(self, pod: Pod) -> None:
        self.add(PodCost.of(pod))
