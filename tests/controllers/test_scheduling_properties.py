"""Properties of the sampled scheduler (percentageOfNodesToScore, round-robin start, seeded ties).

Sampling is an optimisation only: whatever the percentage and start, a pod goes only to a node
that fits, a pod that fits anywhere is scheduled, a pod that fits nowhere is told about every
node, and the same inputs give the same node.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.core import Taint

from controllers.__main__ import config_from_args, parse_args
from controllers.scheduling import NodeInfo, num_feasible_nodes_to_find, schedule
from tests.controllers.test_scheduling_unit import node, pod

# What each kind of node is, and the reason it rejects pod(cpu="500m"), as a full scan sees it.
KINDS = {
    "fits": None,
    "not-ready": "node(s) were not ready",
    "small": "Insufficient cpu",
    "tainted": "node(s) had untolerated taint {k: v}",
    "cordoned": "node(s) were unschedulable",
}


def make(kind: str, name: str) -> NodeInfo:
    if kind == "not-ready":
        return NodeInfo(node(name, ready=False))
    if kind == "small":
        return NodeInfo(node(name, cpu="100m"))
    if kind == "tainted":
        return NodeInfo(node(name, taints=[Taint(key="k", value="v", effect="NoSchedule")]))
    if kind == "cordoned":
        return NodeInfo(node(name, unschedulable=True))
    return NodeInfo(node(name))


kinds = st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=260)
percentages = st.sampled_from([0, 1, 5, 30, 99, 100])


@settings(max_examples=60, deadline=None)
@given(kinds, percentages, st.integers(0, 10_000), st.integers(0, 5))
def test_sampling_never_changes_whether_or_where_a_pod_may_go(
    layout: list[str], percentage: int, start: int, pod_number: int,
) -> None:
    infos = [make(kind, f"n{i:03d}") for i, kind in enumerate(layout)]
    kind_of = {info.name: kind for info, kind in zip(infos, layout, strict=True)}
    candidate = pod(f"p{pod_number}", cpu="500m")
    decision = schedule(candidate, infos, start=start, percentage=percentage)
    assert decision == schedule(candidate, infos, start=start, percentage=percentage)  # replayable
    if "fits" in layout:
        assert decision.node is not None and kind_of[decision.node] == "fits"
        return
    assert decision.node is None
    assert sum(count for _, count in decision.reasons) == len(layout)  # every node, not a sample
    assert decision.message.startswith(f"0/{len(layout)} nodes are available: ")
    expected = {KINDS[kind]: layout.count(kind) for kind in set(layout)}
    assert dict(decision.reasons) == expected


@settings(max_examples=40, deadline=None)
@given(st.integers(100, 400), percentages, st.integers(0, 10_000))
def test_equal_nodes_only_the_sample_is_scored_and_the_next_cycle_starts_after_it(
    total: int, percentage: int, start: int,
) -> None:
    infos = [NodeInfo(node(f"n{i:03d}")) for i in range(total)]
    decision = schedule(pod(cpu="100m"), infos, start=start, percentage=percentage)
    wanted = num_feasible_nodes_to_find(percentage, total)
    sample = {infos[(start + i) % total].name for i in range(wanted)}
    assert decision.node in sample
    assert decision.next_start == (start + wanted) % total


def test_num_feasible_nodes_to_find_follows_kube_scheduler() -> None:
    cases = {
        (0, 50): 50,  # under 100 nodes: all of them
        (0, 150): 100,  # 49% is 73, raised to the 100 minimum
        (0, 1000): 420,  # 50% - 1000/125 = 42%
        (0, 5000): 500,  # 10%
        (0, 10_000): 500,  # 50 - 80 is under the 5% floor
        (30, 1000): 300,
        (5, 1000): 100,
        (100, 1000): 1000,
        (100, 20): 20,
    }
    for (percentage, total), expected in cases.items():
        assert num_feasible_nodes_to_find(percentage, total) == expected, (percentage, total)


def test_ties_spread_over_pods_but_not_over_replays() -> None:
    infos = [NodeInfo(node(f"n{i:03d}")) for i in range(50)]
    chosen = {schedule(pod(f"p{i}"), infos).node for i in range(40)}
    assert len(chosen) > 10  # pod-seeded: different pods pick different equal nodes
    assert all(schedule(pod(f"p{i}"), infos).node == schedule(pod(f"p{i}"), infos).node for i in range(10))


def test_percentage_flag() -> None:
    assert config_from_args(parse_args([])).settings.percentage_of_nodes_to_score == 0
    assert config_from_args(parse_args(["--percentage-of-nodes-to-score", "30"])).settings \
        .percentage_of_nodes_to_score == 30
    for bad in ("-1", "101"):
        with pytest.raises(SystemExit, match="--percentage-of-nodes-to-score must be between 0 and 100"):
            config_from_args(parse_args(["--percentage-of-nodes-to-score", bad]))
