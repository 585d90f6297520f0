"""Pure scheduling decisions: filter nodes with predicates, rank the rest with scorers.

:func:`schedule` takes plain data (a pod and :class:`NodeInfo` s) and returns a
:class:`Decision`; the scheduler controller does the I/O around it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from kubelite.api.core import Pod

from controllers.scheduling.nodeinfo import Candidate, NodeInfo, PodCost
from controllers.scheduling.predicates import DEFAULT_PREDICATES, Predicate, first_rejection
from controllers.scheduling.scorers import DEFAULT_SCORERS, Scorer

__all__ = ["Candidate", "Decision", "NodeInfo", "PodCost", "schedule", "unschedulable_message"]


@dataclass(frozen=True)
class Decision:
    node: str | None
    message: str = ""
    reasons: tuple[tuple[str, int], ...] = ()
    scores: tuple[tuple[str, float], ...] = ()


def unschedulable_message(total: int, reasons: Counter[str]) -> str:
    """Kubernetes' wording: ``0/3 nodes are available: 1 Insufficient cpu, 2 node(s) ...``."""
    if total == 0:
        return "0/0 nodes are available: no nodes registered."
    parts = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    return f"0/{total} nodes are available: {parts}."


def tie_break(pod: Pod, node_name: str) -> str:
    """Deterministic per pod, different across pods: equal nodes are picked in a pod-seeded order."""
    seed = pod.metadata.uid or pod.name
    return hashlib.sha1(f"{seed}/{node_name}".encode()).hexdigest()


def schedule(
    pod: Pod, nodes: list[NodeInfo], *, predicates: tuple[Predicate, ...] = DEFAULT_PREDICATES,
    scorers: tuple[tuple[Scorer, float], ...] = DEFAULT_SCORERS,
) -> Decision:
    candidate = Candidate.of(pod)
    reasons: Counter[str] = Counter()
    feasible: list[NodeInfo] = []
    for info in nodes:
        reason = first_rejection(candidate, info, predicates)
        if reason is None:
            feasible.append(info)
        else:
            reasons[reason] += 1
    if not feasible:
        return Decision(None, unschedulable_message(len(nodes), reasons), tuple(sorted(reasons.items())))
    totals = [0.0] * len(feasible)
    for scorer, weight in scorers:
        for i, score in enumerate(scorer(candidate, feasible)):
            totals[i] += weight * score
    ranked = sorted(
        zip(feasible, totals, strict=True), key=lambda item: (-round(item[1], 6), tie_break(pod, item[0].name)),
    )
    best = ranked[0][0]
    return Decision(best.name, "", (), tuple((info.name, total) for info, total in ranked))
