"""Scorers: each gives every feasible node 0..100 for a pod; the scheduler adds them with weights."""

from __future__ import annotations

from collections.abc import Callable

from controllers.scheduling.nodeinfo import Candidate, NodeInfo
from controllers.scheduling.predicates import untolerated_taint

MAX_SCORE = 100
Scorer = Callable[[Candidate, list[NodeInfo]], list[float]]


def least_allocated(candidate: Candidate, nodes: list[NodeInfo]) -> list[float]:
    """More free cpu and memory (after placing the pod) scores higher; cpu and memory weigh the same.

    Each resource scores ``(capacity - used) * 100 / capacity``, 0 when full or without capacity
    (NodeResourcesLeastAllocated); written inline because it runs for every sampled node.
    """
    cpu, memory, half = candidate.cost.non_zero.cpu_millis, candidate.cost.non_zero.memory_bytes, MAX_SCORE / 2
    scores = []
    for info in nodes:
        cpu_cap, memory_cap = info.allocatable_cpu, info.allocatable_memory
        cpu_used, memory_used = info.cpu_non_zero + cpu, info.memory_non_zero + memory
        score = 0.0
        if 0 < cpu_cap and cpu_used <= cpu_cap:
            score += (cpu_cap - cpu_used) * half / cpu_cap
        if 0 < memory_cap and memory_used <= memory_cap:
            score += (memory_cap - memory_used) * half / memory_cap
        scores.append(score)
    return scores


def owner_spreading(candidate: Candidate, nodes: list[NodeInfo]) -> list[float]:
    """Fewer pods of the same controller on a node scores higher (SelectorSpread, by owner)."""
    owner = candidate.cost.owner_uid
    if owner is None:
        return [float(MAX_SCORE)] * len(nodes)
    counts = [info.owner_counts.get(owner, 0) for info in nodes]
    most = max(counts, default=0)
    if most == 0:
        return [float(MAX_SCORE)] * len(nodes)
    return [MAX_SCORE * (most - count) / most for count in counts]


def prefer_no_schedule(candidate: Candidate, nodes: list[NodeInfo]) -> list[float]:
    """A node with an untolerated PreferNoSchedule taint scores lower (TaintToleration)."""
    pod = candidate.pod
    return [0.0 if info.soft_taints and untolerated_taint(pod, info.soft_taints, ("PreferNoSchedule",))
            else float(MAX_SCORE) for info in nodes]


DEFAULT_SCORERS: tuple[tuple[Scorer, float], ...] = (
    (least_allocated, 1.0), (owner_spreading, 2.0), (prefer_no_schedule, 1.0),
)
