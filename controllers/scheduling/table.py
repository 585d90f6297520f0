"""The scheduler's NodeInfos as columns: filter and score every node for a common pod in a few array
operations instead of a Python call per node and scorer (issue 12, target 3).

Library: numpy, the standard array library, for elementwise integer and float arithmetic over the
node list. It is imported only by clusters of ``COLUMNS_MIN_NODES`` nodes or more (the scheduler
imports this module lazily), so a small cluster's control plane does not carry it.

Same decisions, not approximately the same: :func:`decide` applies the predicates' and the default
scorers' own integer comparisons and float operations, in their order, so the feasible nodes, their
order (round-robin from ``start``), the weighted totals and the pod-seeded tie-break are bit for bit
those of :func:`controllers.scheduling.schedule`'s per-node path (a hypothesis property in
tests/controllers/test_node_table.py). It answers None whenever it cannot be that exact, and the
caller then takes the per-node path:
  - a predicate that needs the pod and the node together is active (a node selector or affinity,
    host ports, volume node affinity) — only ``resources_fit`` is computed as columns; the
    node-only predicates pass on ``NodeInfo.plain`` nodes, and the others' rows are checked one
    by one with the predicates themselves;
  - the scorers are not :data:`DEFAULT_SCORERS`;
  - a node's counter or the pod's request is :data:`LIMIT` (2^62) or more: int64 sums could wrap;
  - more than a quarter of the nodes are not plain (each would be checked in turn);
  - no node fits (the per-node path counts every node's reason for the message).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from controllers.scheduling import TIE_TOLERANCE  # the package imports this module only lazily
from controllers.scheduling.nodeinfo import Candidate, NodeInfo
from controllers.scheduling.predicates import PASS_ON_PLAIN_NODES, Predicate, resources_fit, untolerated_taint
from controllers.scheduling.scorers import DEFAULT_SCORERS, MAX_SCORE, Scorer

MAX_OWNERS = 32  # owners whose per-node pod counts are kept as columns (most recently used)
# Counters and requests below 2^62: a sum of two stays inside int64, as Python's ints never overflow.
LIMIT = 1 << 62

_INT_COLUMNS = ("pod_count", "allocatable_pods", "cpu_requested", "allocatable_cpu", "memory_requested",
                "allocatable_memory", "cpu_non_zero", "memory_non_zero")


class NodeTable:
    """Columns of a node list, row ``i`` for ``infos[i]``: the counters the predicates and scorers
    read (int64), whether the node is ``plain`` and has soft taints (bool), and, per recently
    scheduled owner uid, its pods' count on each node.

    Whoever changes a NodeInfo of the list (``add``, or a rebuilt one in its place) calls
    :meth:`refresh` with its row; a change of the node set needs a new table.
    """

    def __init__(self, infos: list[NodeInfo]) -> None:
        self.size = len(infos)
        # rows with a counter of LIMIT or more (a node of exabytes): held as 0, and while any is
        # left the table decides nothing (int64 sums could wrap, where Python's ints do not)
        self.huge: set[int] = {row for row, info in enumerate(infos) if _huge(info)}
        self.columns: dict[str, Any] = {
            name: np.fromiter((0 if row in self.huge else getattr(i, name) for row, i in enumerate(infos)),
                              np.int64, self.size)
            for name in _INT_COLUMNS}
        self.plain = np.fromiter((i.plain for i in infos), bool, self.size)
        self.soft = np.fromiter((bool(i.soft_taints) for i in infos), bool, self.size)
        self._owners: dict[str, Any] = {}
        self._infos = infos

    def refresh(self, row: int, info: NodeInfo) -> None:
        """Row ``row`` now describes ``info`` (after ``info.add``, or a NodeInfo the caller rebuilt and
        put in its place in the list this table was built from)."""
        if _huge(info):
            self.huge.add(row)
        else:
            self.huge.discard(row)
            for name, column in self.columns.items():
                column[row] = getattr(info, name)
        self.plain[row] = info.plain
        self.soft[row] = bool(info.soft_taints)
        for owner, counts in self._owners.items():
            counts[row] = info.owner_counts.get(owner, 0)

    def owner_counts(self, owner: str) -> Any:
        """Per node, how many pods of ``owner`` (a controller uid) are counted there."""
        counts = self._owners.pop(owner, None)
        if counts is None:
            counts = np.fromiter((i.owner_counts.get(owner, 0) for i in self._infos), np.int64, self.size)
            if len(self._owners) >= MAX_OWNERS:
                del self._owners[next(iter(self._owners))]
        self._owners[owner] = counts  # last: the most recently used
        return counts

    def matches(self, infos: list[NodeInfo]) -> bool:
        """Whether every row equals what a new table of ``infos`` would hold (for tests)."""
        fresh = NodeTable(infos)
        return (self.size == fresh.size and self.huge == fresh.huge
                and all(np.array_equal(self.columns[n], fresh.columns[n]) for n in _INT_COLUMNS)
                and np.array_equal(self.plain, fresh.plain) and np.array_equal(self.soft, fresh.soft)
                and all(np.array_equal(counts, fresh.owner_counts(owner)) for owner, counts in self._owners.items()))


def decide(table: NodeTable, candidate: Candidate, nodes: list[NodeInfo], active: tuple[Predicate, ...],
           scorers: tuple[tuple[Scorer, float], ...], begin: int, wanted: int) -> tuple[Any, int] | None:
    """``(the rows of the best-scored feasible nodes in filtering order, nodes checked)``, as the
    per-node path finds them (it then picks one of the best with the pod's generator), or None (see
    the module)."""
    if scorers is not DEFAULT_SCORERS or resources_fit not in active:
        return None
    if any(p is not resources_fit and p not in PASS_ON_PLAIN_NODES for p in active):
        return None
    requests, non_zero = candidate.cost.requests, candidate.cost.non_zero
    if table.huge or max(requests.cpu_millis, requests.memory_bytes, non_zero.cpu_millis,
                         non_zero.memory_bytes) >= LIMIT:
        return None
    total, cols = table.size, table.columns
    others = np.flatnonzero(~table.plain)  # unschedulable, tainted, not Ready or without a lease
    if others.size > total // 4:
        return None  # each would be checked by the predicates in turn: the per-node path stops earlier
    fits = cols["pod_count"] + 1 <= cols["allocatable_pods"]
    if requests.cpu_millis:
        fits &= cols["cpu_requested"] + requests.cpu_millis <= cols["allocatable_cpu"]
    if requests.memory_bytes:
        fits &= cols["memory_requested"] + requests.memory_bytes <= cols["allocatable_memory"]
    feasible = fits & table.plain
    for row in others:
        feasible[row] = all(p(candidate, nodes[row]) is None for p in active)
    rows = np.flatnonzero(feasible)
    if rows.size == 0:
        return None
    split = int(np.searchsorted(rows, begin))
    rows = np.concatenate((rows[split:], rows[:split]))[:wanted]  # round-robin order from ``begin``
    checked = (int(rows[-1]) - begin) % total + 1 if rows.size == wanted else total
    totals = _weighted_totals(table, candidate, nodes, rows, scorers)
    return rows[totals >= totals.max() - TIE_TOLERANCE], checked


def _weighted_totals(table: NodeTable, candidate: Candidate, nodes: list[NodeInfo], rows: Any,
                     scorers: tuple[tuple[Scorer, float], ...]) -> Any:
    """The default scorers' scores of ``rows``, weighted and added in their order (see scorers.py)."""
    cols, cost, half = table.columns, candidate.cost, MAX_SCORE / 2
    least = _free_share(cols["allocatable_cpu"][rows], cols["cpu_non_zero"][rows] + cost.non_zero.cpu_millis, half)
    least = least + _free_share(cols["allocatable_memory"][rows],
                                cols["memory_non_zero"][rows] + cost.non_zero.memory_bytes, half)
    spread = np.full(rows.size, float(MAX_SCORE))
    if cost.owner_uid is not None:
        counts = table.owner_counts(cost.owner_uid)[rows]
        most = int(counts.max())
        if most:
            spread = MAX_SCORE * (most - counts) / most
    soft = np.full(rows.size, float(MAX_SCORE))
    for i in np.flatnonzero(table.soft[rows]):
        if untolerated_taint(candidate.pod, nodes[int(rows[i])].soft_taints, ("PreferNoSchedule",)):
            soft[i] = 0.0
    (_, w_least), (_, w_spread), (_, w_soft) = scorers
    return w_least * least + w_spread * spread + w_soft * soft


def _free_share(capacity: Any, used: Any, half: float) -> Any:
    """``(capacity - used) * half / capacity`` where ``0 < capacity`` and ``used <= capacity``, else 0."""
    ok = (capacity > 0) & (used <= capacity)
    return np.where(ok, (capacity - used) * half / np.where(ok, capacity, 1), 0.0)


def _huge(info: NodeInfo) -> bool:
    return any(getattr(info, name) >= LIMIT for name in _INT_COLUMNS)
