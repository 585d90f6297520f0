"""The scheduler's node columns (controllers/scheduling/table.py) decide exactly as the per-node path.

A hypothesis property: over mixed nodes (sizes, taints soft and hard, cordoned, not Ready, full) and
a run of pods (requests or none, owners, tolerations) scheduled one after another, each counted on
its node as the scheduler assumes it, both paths give the same node and the same next start at every
step, and the table kept by refresh equals one built anew.
"""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.core import Taint, Toleration

from controllers.scheduling import NodeInfo, PodCost, schedule
from controllers.scheduling.table import NodeTable, decide
from controllers.scheduling.predicates import DEFAULT_PREDICATES, PASS_ON_PLAIN_NODES, resources_fit
from controllers.scheduling.scorers import DEFAULT_SCORERS
from controllers.scheduling.nodeinfo import Candidate
from tests.controllers.test_scheduling_unit import node, pod

SOFT = Taint(key="soft", value="x", effect="PreferNoSchedule")
HARD = Taint(key="hard", value="y", effect="NoSchedule")


def make(kind: str, size: int, name: str) -> NodeInfo:
    cpu, memory = ("500m", "1Gi") if size == 0 else ("2", "4Gi") if size == 1 else ("3500m", "6Gi")
    if kind == "soft":
        return NodeInfo(node(name, cpu=cpu, memory=memory, taints=[SOFT]))
    if kind == "hard":
        return NodeInfo(node(name, cpu=cpu, memory=memory, taints=[HARD]))
    if kind == "cordoned":
        return NodeInfo(node(name, cpu=cpu, memory=memory, unschedulable=True))
    if kind == "not-ready":
        return NodeInfo(node(name, cpu=cpu, memory=memory, ready=False))
    if kind == "few-pods":
        return NodeInfo(node(name, cpu=cpu, memory=memory, pods=2))
    return NodeInfo(node(name, cpu=cpu, memory=memory))


# mostly plain nodes: past a quarter of others the columns leave the pod to the per-node path
layouts = st.lists(st.tuples(st.sampled_from(["plain"] * 12 + ["soft", "few-pods", "hard", "cordoned", "not-ready"]),
                             st.integers(0, 2)), min_size=1, max_size=150)
pods = st.lists(st.tuples(st.sampled_from([None, "100m", "250m", "1"]), st.sampled_from([None, "64Mi", "1Gi"]),
                          st.sampled_from([None, "rs-a", "rs-b"]), st.booleans()), min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(layouts, pods, st.sampled_from([0, 5, 50, 100]), st.integers(0, 1000))
def test_the_columns_choose_as_the_per_node_path(layout: list[tuple[str, int]], run: list[tuple], percentage: int,
                                                 start: int) -> None:
    per_node = [make(kind, size, f"n{i:03d}") for i, (kind, size) in enumerate(layout)]
    columns = copy.deepcopy(per_node)
    table = NodeTable(columns)
    index = {info.name: i for i, info in enumerate(per_node)}
    next_a = next_b = start
    for number, (cpu, memory, owner, tolerant) in enumerate(run):
        tolerations = [Toleration(key="soft", operator="Exists"), Toleration(key="hard", operator="Exists")] \
            if tolerant else None
        candidate = pod(f"p{number}", cpu=cpu, memory=memory, owner=owner, tolerations=tolerations)
        cost = PodCost.of(candidate)
        a = schedule(candidate, per_node, start=next_a, percentage=percentage, cost=cost)
        b = schedule(candidate, columns, start=next_b, percentage=percentage, cost=cost, table=table)
        assert a == b
        next_a, next_b = a.next_start, b.next_start
        if a.node is not None:
            row = index[a.node]
            per_node[row].add(cost)
            columns[row].add(cost)
            table.refresh(row, columns[row])
    assert table.matches(columns)


def test_the_columns_leave_a_pod_that_fits_nowhere_to_the_per_node_path() -> None:
    """Its message counts every node's reason, which only the per-node filter finds."""
    infos = [NodeInfo(node(f"n{i}", cpu="100m")) for i in range(3)]
    candidate = pod(cpu="1")
    active = tuple(p for p in DEFAULT_PREDICATES if p in PASS_ON_PLAIN_NODES or p is resources_fit)
    assert decide(NodeTable(infos), Candidate.of(candidate), infos, active, DEFAULT_SCORERS, 0, 3) is None
    decision = schedule(candidate, infos, table=NodeTable(infos))
    assert decision.node is None and decision.message == "0/3 nodes are available: 3 Insufficient cpu."


def test_a_node_selector_is_left_to_the_per_node_path() -> None:
    infos = [NodeInfo(node("a", labels={"disk": "ssd"})), NodeInfo(node("b"))]
    candidate = pod(selector={"disk": "ssd"})
    assert decide(NodeTable(infos), Candidate.of(candidate), infos, DEFAULT_PREDICATES, DEFAULT_SCORERS, 0, 2) is None
    assert schedule(candidate, infos, table=NodeTable(infos)).node == "a"


def test_exabytes_are_left_to_the_per_node_path() -> None:
    """Python's ints do not overflow and int64 sums would: a request or a node counter of 2^62 or
    more keeps the columns out (a pod of 10Ei is unschedulable, not an error; a node of 10Ei does
    not stop the table from being built; 4Ei twice on 5Ei nodes is not wrapped into a fit)."""
    infos = [NodeInfo(node(f"n{i:02d}")) for i in range(64)]
    huge_pod = pod("huge", memory="10Ei")
    assert decide(NodeTable(infos), Candidate.of(huge_pod), infos, (resources_fit,), DEFAULT_SCORERS, 0, 64) is None
    decision = schedule(huge_pod, infos, table=NodeTable(infos))
    assert decision.node is None and decision.message == "0/64 nodes are available: 64 Insufficient memory."

    big = [NodeInfo(node(f"m{i:02d}", memory="5Ei")) for i in range(64)]
    table = NodeTable(big)
    assert table.huge == set(range(64))
    first = pod("first", memory="4Ei")
    placed = schedule(first, big, table=table)
    assert placed.node is not None
    row = next(i for i, info in enumerate(big) if info.name == placed.node)
    big[row].add(PodCost.of(first))
    table.refresh(row, big[row])
    second = schedule(pod("second", memory="4Ei"), big, table=table)
    assert second.node != placed.node and second == schedule(pod("second", memory="4Ei"), big)
