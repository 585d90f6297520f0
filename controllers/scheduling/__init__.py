"""Pure scheduling decisions: filter nodes with predicates, rank the rest with scorers.

:func:`schedule` takes plain data (a pod and :class:`NodeInfo` s) and returns a
:class:`Decision`; the scheduler controller does the I/O around it.
"""

from __future__ import annotations

import random
from itertools import chain
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubelite.api.core import Pod

from controllers.scheduling.nodeinfo import Candidate, NodeInfo, PodCost
from controllers.scheduling.predicates import DEFAULT_PREDICATES, PASS_ON_PLAIN_NODES, SKIPPABLE, Predicate
from controllers.scheduling.scorers import DEFAULT_SCORERS, Scorer

if TYPE_CHECKING:
    from controllers.scheduling.table import NodeTable

__all__ = ["COLUMNS_MIN_NODES", "Candidate", "Decision", "NodeInfo", "PodCost", "num_feasible_nodes_to_find", "schedule",
           "unschedulable_message"]


# kube-scheduler's bounds on the sample (pkg/scheduler/schedule_one.go): below this many nodes every
# node is checked; the adaptive percentage never goes under 5%.
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
TIE_TOLERANCE = 1e-6  # total scores closer than this are equal
# Below this many nodes the per-node path costs little, and the scheduler keeps no NodeTable (nor
# imports numpy for one).
COLUMNS_MIN_NODES = 64


@dataclass(frozen=True)
class Decision:
    """``node`` is None when nothing fits (then ``message``/``reasons`` say why, counting every node).

    ``next_start`` is where the next cycle should begin (round-robin over the node list).
    """

    node: str | None
    message: str = ""
    reasons: tuple[tuple[str, int], ...] = ()
    next_start: int = 0


def unschedulable_message(total: int, reasons: Counter[str]) -> str:
    """Kubernetes' wording: ``0/3 nodes are available: 1 Insufficient cpu, 2 node(s) ...``."""
    if total == 0:
        return "0/0 nodes are available: no nodes registered."
    parts = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    return f"0/{total} nodes are available: {parts}."


def num_feasible_nodes_to_find(percentage: int, total: int) -> int:
    """How many feasible nodes are enough to stop filtering (kube-scheduler's numFeasibleNodesToFind).

    ``percentage`` is percentageOfNodesToScore: 0 means adaptive, 50% minus 1% per 125 nodes, never
    under 5%; fewer than 100 nodes are all checked, and the answer is never under 100.
    """
    if total < MIN_FEASIBLE_NODES_TO_FIND:
        return total
    if percentage <= 0:
        percentage = max(50 - total // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if percentage >= 100:
        return total
    return max(total * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


def _rng(pod: Pod) -> random.Random:
    """Seeded by the pod (uid, else name): a replay of the same inputs makes the same choice,
    while different pods break ties differently, spreading equal nodes."""
    return random.Random(pod.metadata.uid or pod.name)


def _active(candidate: Candidate, predicates: tuple[Predicate, ...]) -> tuple[Predicate, ...]:
    """The predicates that can reject this pod at all (kube-scheduler's PreFilter Skip)."""
    return tuple(p for p in predicates if p not in SKIPPABLE or not SKIPPABLE[p](candidate))


def _weighted_totals(candidate: Candidate, feasible: list[NodeInfo],
                     scorers: tuple[tuple[Scorer, float], ...]) -> list[float]:
    """Per node, the weighted sum of its scores, added scorer by scorer in ``scorers``' order (the
    same float operations, in the same order, as summing each node's row: ties come out the same)."""
    (first, first_weight), rest = scorers[0], scorers[1:]
    totals = [first_weight * score for score in first(candidate, feasible)]
    for scorer, weight in rest:
        totals = [total + weight * score for total, score in zip(totals, scorer(candidate, feasible))]
    return totals


def schedule(
    pod: Pod, nodes: list[NodeInfo], *, predicates: tuple[Predicate, ...] = DEFAULT_PREDICATES,
    scorers: tuple[tuple[Scorer, float], ...] = DEFAULT_SCORERS, start: int = 0, percentage: int = 0,
    volume_terms: tuple[tuple[dict[str, Any], ...], ...] = (), cost: PodCost | None = None,
    table: NodeTable | None = None,
) -> Decision:
    """Pick a node for ``pod`` among ``nodes`` (kube-scheduler's schedulePod).

    Filtering begins at ``nodes[start % len(nodes)]`` and wraps around; it stops once
    :func:`num_feasible_nodes_to_find` feasible nodes are found, or when every node was checked
    (so a pod that fits somewhere is never left unscheduled by the sample). The best total score
    wins; among equal totals the choice is uniform (as selectHost's reservoir sampling) with a
    generator seeded by the pod, so the same inputs give the same node. No sort, no per-node hash.
    ``cost``: the pod's :class:`PodCost` when the caller has it already (computed from ``pod`` if not).
    ``table``: ``nodes`` as columns (:class:`controllers.scheduling.table.NodeTable`), which decides
    the common pod in array operations, with the same answer; without it, or when it cannot be
    exact, each node is filtered and scored in turn.
    """
    total = len(nodes)
    if total == 0:
        return Decision(None, unschedulable_message(0, Counter()))
    candidate = Candidate(pod, cost, volume_terms) if cost is not None else Candidate.of(pod, volume_terms)
    active = _active(candidate, predicates)
    on_plain = tuple(p for p in active if p not in PASS_ON_PLAIN_NODES)
    wanted = num_feasible_nodes_to_find(percentage, total)
    begin = start % total
    if table is not None and table.size == total:
        from controllers.scheduling.table import decide

        columns = decide(table, candidate, nodes, active, scorers, begin, wanted)
        if columns is not None:
            rows, checked = columns
            return Decision(nodes[int(rows[_pick(pod, len(rows))])].name, next_start=(begin + checked) % total)
    reasons: Counter[str] = Counter()
    feasible: list[NodeInfo] = []
    checked = 0
    for info in chain(nodes[begin:], nodes[:begin]):  # round-robin from ``start``, each node once
        checked += 1
        for predicate in on_plain if info.plain else active:  # the first rejection is the node's reason
            reason = predicate(candidate, info)
            if reason is not None:
                reasons[reason] += 1
                break
        else:
            feasible.append(info)
            if len(feasible) >= wanted:
                break
    next_start = (begin + checked) % total
    if not feasible:
        return Decision(None, unschedulable_message(total, reasons), tuple(sorted(reasons.items())),
                        next_start=next_start)
    totals = _weighted_totals(candidate, feasible, scorers)
    # Within TIE_TOLERANCE counts as equal: float noise in the weighted sum must not break a tie.
    floor = max(totals) - TIE_TOLERANCE
    best = [info for info, t in zip(feasible, totals) if t >= floor]
    return Decision(best[_pick(pod, len(best))].name, next_start=next_start)


def _pick(pod: Pod, count: int) -> int:
    """Which of ``count`` best nodes: uniform, as selectHost's reservoir sampling, from a pod-seeded
    generator."""
    return _rng(pod).randrange(count) if count > 1 else 0
