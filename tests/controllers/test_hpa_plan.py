"""The HPA's pure decisions: Kubernetes' replica calculator and normalization, by tables and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controllers.hpa_plan import (
    Behavior,
    History,
    MetricError,
    PodSample,
    Policy,
    Proposal,
    Recommendation,
    Rules,
    ScaleEvent,
    Target,
    decide,
    resource_replicas,
    scale_down_limit,
    scale_up_limit,
)

NOW = 10_000.0
CPU50 = Target("cpu", utilization=50)


def running(name: str, usage: int | None, request: int | None = 500, **kw: object) -> PodSample:
    """A pod that started long ago and has been ready since, with a fresh sample."""
    fields: dict[str, object] = dict(name=name, ready=True, ready_since=NOW - 3000, start_time=NOW - 3600,
                                     request=request, usage=usage, sampled_at=NOW - 1, window=10.0)
    fields.update(kw)
    return PodSample(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("usages", "current", "expected", "utilization"), [
    ([750], 1, 3, 150),                      # 150 % of request against 50 %: ×3
    ([250, 250], 2, 2, 50),                  # on target
    ([270, 270], 2, 2, 54),                  # 54 % is within the 10 % tolerance of 50 %
    ([300, 300], 2, 3, 60),                  # 60 %: ratio 1.2 → ceil(2.4)
    ([50, 50, 50, 50], 4, 1, 10),            # 10 %: ratio 0.2 → ceil(0.8)
    ([0, 0], 2, 0, 0),                       # nothing used: the plan says 0; min bounds it later
])
def test_utilization_table(usages: list[int], current: int, expected: int, utilization: int) -> None:
    pods = [running(f"p{i}", u) for i, u in enumerate(usages)]
    proposal = resource_replicas(current, CPU50, pods, NOW)
    assert (proposal.replicas, proposal.utilization) == (expected, utilization)


def test_average_value_target() -> None:
    target = Target("memory", average_value=100 << 20)
    pods = [running("a", 300 << 20, request=None), running("b", 100 << 20, request=None)]
    assert resource_replicas(2, target, pods, NOW).replicas == 4  # average 200Mi against 100Mi
    assert resource_replicas(2, target, pods, NOW).average == 200 << 20


def test_ignored_unready_and_missing_pods_as_kubernetes_counts_them() -> None:
    deleting = running("gone", 5000, deleting=True)
    failed = running("failed", 5000, phase="Failed")
    pending = running("pending", None, phase="Pending")
    # ignored pods change nothing
    assert resource_replicas(2, CPU50, [running("a", 250), running("b", 250), deleting, failed], NOW).replicas == 2
    # scaling up with an unready pod: it counts as using nothing (usage 150 % → ratio with 0 for pending)
    up = resource_replicas(2, CPU50, [running("a", 750), running("b", 750), pending], NOW)
    assert up.replicas == math.ceil((1500 * 100 / 1500) / 50 * 3)
    # a missing sample while scaling down counts as 100 % of its request: no scale-down below what is safe
    down = resource_replicas(3, CPU50, [running("a", 50), running("b", 50), running("c", None)], NOW)
    assert down.replicas == math.ceil(((50 + 50 + 500) * 100 / 1500) / 50 * 3)
    # ... and when that flips the direction, the count stays
    assert resource_replicas(3, CPU50, [running("a", 200), running("b", 200), running("c", None)], NOW).replicas == 3


def test_cpu_of_a_starting_pod_is_not_trusted() -> None:
    fresh = running("new", 5000, start_time=NOW - 20, ready_since=NOW - 5, sampled_at=NOW - 1, window=10.0)
    # inside the initialization period and the sample's window reaches back before it turned ready: unready
    proposal = resource_replicas(1, CPU50, [running("old", 250), fresh], NOW)
    assert proposal.replicas == 1 and proposal.utilization == 50
    never_ready = running("slow", 5000, ready=False, start_time=NOW - 4000, ready_since=NOW - 3990)
    assert resource_replicas(1, CPU50, [running("old", 250), never_ready], NOW).replicas == 1


def test_errors_say_why() -> None:
    with pytest.raises(MetricError, match="no pods returned by selector"):
        resource_replicas(1, CPU50, [], NOW)
    with pytest.raises(MetricError, match="did not receive metrics"):
        resource_replicas(1, CPU50, [running("a", None)], NOW)
    with pytest.raises(MetricError, match="missing request for cpu in pod a"):
        resource_replicas(1, CPU50, [running("a", 100, request=None)], NOW)


@given(st.lists(st.integers(0, 4000), min_size=1, max_size=20), st.integers(1, 100), st.integers(1, 50))
def test_all_ready_pods_give_ceil_of_ratio_unless_within_tolerance(usages: list[int], target: int,
                                                                    current: int) -> None:
    pods = [running(f"p{i}", u) for i, u in enumerate(usages)]
    proposal = resource_replicas(current, Target("cpu", utilization=target), pods, NOW)
    utilization = sum(usages) * 100 // (500 * len(usages))
    ratio = utilization / target
    expected = current if abs(1 - ratio) <= 0.1 else math.ceil(ratio * len(usages))
    assert proposal.replicas == expected and proposal.utilization == utilization


# -- normalization -----------------------------------------------------------------------------

def default_behavior(down_window: int = 300) -> Behavior:
    return Behavior(Rules(0, "Max", (Policy("Pods", 4, 15), Policy("Percent", 100, 15))),
                    Rules(down_window, "Max", (Policy("Percent", 100, 15),)))


def decide_one(current: int, proposed: int, *, minimum: int = 1, maximum: int = 10, behavior: Behavior | None = None,
               history: History = History(), now: float = NOW):  # type: ignore[no-untyped-def]
    return decide(current=current, minimum=minimum, maximum=maximum, targets=[CPU50],
                  proposals={0: Proposal(proposed, 100, 500)}, errors={}, behavior=behavior, history=history, now=now)


def test_bounds_and_conditions() -> None:
    up = decide_one(2, 30, maximum=10)
    assert up.desired == 4 and _reason(up, "ScalingLimited") == ("True", "ScaleUpLimit")  # max(2×2, 4) without behavior
    capped = decide_one(8, 30, maximum=10)
    assert capped.desired == 10 and _reason(capped, "ScalingLimited") == ("True", "TooManyReplicas")
    floor = decide_one(3, 0, minimum=2, behavior=default_behavior(0))
    assert floor.desired == 2 and _reason(floor, "ScalingLimited") == ("True", "TooFewReplicas")
    same = decide_one(3, 3)
    assert same.desired == 3 and _reason(same, "AbleToScale") == ("True", "ReadyForNewScale")
    assert _reason(same, "ScalingActive") == ("True", "ValidMetricFound") and same.rescale_reason == ""
    assert decide_one(3, 5).rescale_reason == "cpu resource utilization (percentage of request) above target"
    out_of_bounds = decide_one(12, 1, maximum=10)
    assert out_of_bounds.desired == 10 and out_of_bounds.rescale_reason == "Current number of replicas above Spec.MaxReplicas"
    disabled = decide_one(0, 5)
    assert disabled.desired == 0 and _reason(disabled, "ScalingActive") == ("False", "ScalingDisabled")


def test_failed_metrics_keep_the_count() -> None:
    failed = decide(current=3, minimum=1, maximum=10, targets=[CPU50], proposals={}, errors={0: "no samples"},
                    behavior=None, history=History(), now=NOW)
    assert failed.desired == 3 and _reason(failed, "ScalingActive") == ("False", "FailedGetResourceMetric")
    # one metric failed and the other would scale down: no decision, as kube's computeReplicasForMetrics
    mixed = decide(current=3, minimum=1, maximum=10, targets=[CPU50, Target("memory", utilization=50)],
                   proposals={1: Proposal(1, 10, 10)}, errors={0: "no samples"}, behavior=None, history=History(),
                   now=NOW)
    assert mixed.desired == 3


def test_downscale_stabilization_takes_the_highest_recent_recommendation() -> None:
    history = History(recommendations=(Recommendation(6, NOW - 200), Recommendation(4, NOW - 100),
                                       Recommendation(9, NOW - 400)))  # 400 s ago: outside the 300 s window
    decision = decide_one(6, 2, history=history)
    assert decision.desired == 6 and _reason(decision, "AbleToScale") == ("True", "ScaleDownStabilized")
    later = decide_one(6, 2, history=decision.history, now=NOW + 301)
    assert later.desired == 2  # every higher recommendation has left the window


def test_behavior_windows_and_rate_policies() -> None:
    behavior = default_behavior(down_window=60)
    # scale-up: +100 % or +4 pods per 15 s, whichever is more (selectPolicy Max)
    assert decide_one(3, 20, behavior=behavior, maximum=50).desired == 7
    assert decide_one(10, 50, behavior=behavior, maximum=50).desired == 20
    # a scale-up 10 s ago counts against the period: start from the replicas before it
    recent = History(scale_up=(ScaleEvent(4, NOW - 10),))
    assert scale_up_limit(8, recent, behavior.scale_up, NOW) == 8  # period start 4: max(4+4, 4×2)
    # scale-down stabilized for the window, then limited by −100 % per 15 s (i.e. not at all)
    seen = History(recommendations=(Recommendation(8, NOW - 30),))
    assert decide_one(8, 2, behavior=behavior, history=seen).desired == 8
    assert decide_one(8, 2, behavior=behavior, history=seen, now=NOW + 31).desired == 2
    slow = Behavior(behavior.scale_up, Rules(0, "Max", (Policy("Pods", 1, 60),)))
    stepped = decide_one(8, 2, behavior=slow)
    assert stepped.desired == 7 and _reason(stepped, "ScalingLimited") == ("True", "ScaleDownLimit")
    assert decide_one(7, 2, behavior=slow, history=stepped.history, now=NOW + 10).desired == 7  # 1 per 60 s used up
    off = Behavior(Rules(0, "Disabled", ()), behavior.scale_down)
    assert decide_one(3, 9, behavior=off).desired == 3
    assert scale_down_limit(10, History(), Rules(0, "Min", (Policy("Pods", 2, 15), Policy("Percent", 50, 15))), NOW) == 8


@given(st.integers(0, 200), st.integers(0, 400), st.integers(1, 50), st.integers(0, 150),
       st.lists(st.tuples(st.integers(0, 400), st.integers(0, 600)), max_size=6), st.booleans())
def test_the_decision_stays_within_min_and_max(current: int, proposed: int, minimum: int, extra: int,
                                               past: list[tuple[int, int]], with_behavior: bool) -> None:
    maximum = minimum + extra
    history = History(recommendations=tuple(Recommendation(r, NOW - age) for r, age in past))
    decision = decide_one(current, proposed, minimum=minimum, maximum=maximum, history=history,
                          behavior=default_behavior(120) if with_behavior else None)
    if current == 0:
        assert decision.desired == 0
    else:
        assert minimum <= decision.desired <= maximum
        # with behavior it never moves against the proposal's direction (without, kube's downscale
        # stabilization may return a recent higher recommendation even above the current count)
        if minimum <= current <= maximum and with_behavior:
            assert min(current, proposed) <= decision.desired or decision.desired == minimum
            assert decision.desired <= max(current, proposed) or decision.desired == minimum


def _reason(decision, kind: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    found = next(c for c in decision.conditions if c.type == kind)
    return found.status, found.reason
