"""The HorizontalPodAutoscaler's decisions, pure: Kubernetes' replica calculator and normalization.

Follows ``pkg/controller/podautoscaler`` (horizontal.go, replica_calculator.go) of Kubernetes 1.32:

- **replica calculator** (:func:`resource_replicas`), per Resource metric (cpu or memory):
  pods being deleted or Failed are ignored; Pending pods, and for CPU pods not yet ready (within
  the 5 min CPU initialization period: not Ready, or no full metric window since they turned
  Ready; after it: not Ready and never ready since 30 s after start) are *unready*; pods with no
  sample are *missing*. Usage ratio = Σ usage / Σ requests ÷ target utilization (Utilization) or
  average usage ÷ target average (AverageValue). Without unready or missing pods: within 10 %
  tolerance keep the count, else ``ceil(ratio × ready pods)``. Otherwise missing pods count as
  using 100 % of their request (or the target, if higher) when scaling down and 0 when scaling
  up, unready pods as 0 when scaling up; if that flips the direction or lands within
  tolerance the count is kept.
- **normalization**: the largest proposal of all metrics; then without ``behavior``: the highest
  recommendation of the last 5 min (downscale stabilization), bounded by min/max and a scale-up
  limit of max(2 × current, 4); with ``behavior``: stabilized between the lowest recommendation
  within the scale-up window and the highest within the scale-down window, then bounded by the
  rate policies (Pods/Percent per period, ``selectPolicy`` Max/Min/Disabled) over the recorded
  scale events, and by min/max. The conditions' reasons and messages are Kubernetes' words.

All times are epoch seconds; quantities are integers (CPU in millicores, memory in bytes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0
INITIAL_READINESS_DELAY = 30.0
DOWNSCALE_STABILIZATION = 300.0
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class PodSample:
    """One pod the target selects, as the replica calculator sees it."""

    name: str
    phase: str = "Running"
    deleting: bool = False
    ready: bool | None = True  # the Ready condition; None: no condition
    ready_since: float | None = None  # the Ready condition's lastTransitionTime
    start_time: float | None = None
    request: int | None = None  # Σ containers' request of the resource; None: a container has none
    usage: int | None = None  # Σ containers' usage; None: no sample
    sampled_at: float | None = None
    window: float = 0.0


@dataclass(frozen=True)
class Target:
    resource: str  # "cpu" | "memory"
    utilization: int | None = None  # percent of request (type Utilization)
    average_value: int | None = None  # millicores or bytes (type AverageValue)


@dataclass(frozen=True)
class Proposal:
    replicas: int
    utilization: int | None  # percent of request, for Utilization targets
    average: int  # average usage per pod (millicores or bytes)
    at: float | None = None  # the oldest sample used


class MetricError(Exception):
    """The replica count cannot be computed from this metric (the message says why; Kubernetes' words)."""


def _group(pods: list[PodSample], resource: str, now: float) -> tuple[int, set[str], set[str], dict[str, int]]:
    ready, unready, missing, usage = 0, set(), set(), {}
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        if pod.usage is None:
            missing.add(pod.name)
            continue
        if resource == "cpu" and _cpu_unready(pod, now):
            unready.add(pod.name)
            continue
        ready += 1
        usage[pod.name] = pod.usage
    return ready, unready, missing, usage


def _cpu_unready(pod: PodSample, now: float) -> bool:
    if pod.ready is None or pod.start_time is None:
        return True
    since = pod.ready_since if pod.ready_since is not None else pod.start_time
    if pod.start_time + CPU_INITIALIZATION_PERIOD > now:
        sampled = pod.sampled_at if pod.sampled_at is not None else now
        return not pod.ready or sampled < since + pod.window
    return not pod.ready and pod.start_time + INITIAL_READINESS_DELAY > since


def _ratio(usage: dict[str, int], requests: dict[str, int], target: Target) -> tuple[float, int | None, int]:
    total = sum(usage.values())
    average = total // len(usage) if usage else 0
    if target.utilization is not None:
        requested = sum(requests[p] for p in usage)
        if requested == 0:
            raise MetricError("no metrics returned matched known pods")
        utilization = total * 100 // requested
        return utilization / target.utilization, utilization, average
    assert target.average_value is not None
    return (total / len(usage)) / target.average_value, None, average


def resource_replicas(current: int, target: Target, pods: list[PodSample], now: float, *,
                      tolerance: float = TOLERANCE) -> Proposal:
    """Kubernetes' GetResourceReplicas / GetRawResourceReplicas; raises MetricError."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    ready, unready, missing, usage = _group(pods, target.resource, now)
    if not usage:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    requests: dict[str, int] = {}
    if target.utilization is not None:
        for pod in pods:
            if pod.request is None:
                raise MetricError(f"missing request for {target.resource} in pod {pod.name}")
            requests[pod.name] = pod.request
    ratio, utilization, average = _ratio(usage, requests, target)
    oldest = min((p.sampled_at for p in pods if p.name in usage and p.sampled_at is not None), default=None)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return Proposal(current, utilization, average, oldest)
        return Proposal(math.ceil(ratio * ready), utilization, average, oldest)
    filled = dict(usage)
    for name in missing:
        if ratio < 1.0:
            if target.utilization is not None:
                filled[name] = requests[name] * max(100, target.utilization) // 100
            else:
                assert target.average_value is not None
                filled[name] = target.average_value
        else:
            filled[name] = 0
    if scale_up_with_unready:
        for name in unready:
            filled[name] = 0
    new_ratio, _, _ = _ratio(filled, requests, target)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return Proposal(current, utilization, average, oldest)
    replicas = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return Proposal(current, utilization, average, oldest)
    return Proposal(replicas, utilization, average, oldest)


# -- normalization ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    type: str  # "Pods" | "Percent"
    value: int
    period: int  # seconds


@dataclass(frozen=True)
class Rules:
    stabilization: int  # seconds
    select: str = "Max"  # "Max" | "Min" | "Disabled"
    policies: tuple[Policy, ...] = ()


@dataclass(frozen=True)
class Behavior:
    scale_up: Rules
    scale_down: Rules


@dataclass(frozen=True)
class Recommendation:
    replicas: int
    at: float


@dataclass(frozen=True)
class ScaleEvent:
    change: int
    at: float


@dataclass(frozen=True)
class History:
    """What the controller remembers of one HPA between syncs (in memory, as kube's controller)."""

    recommendations: tuple[Recommendation, ...] = ()
    scale_up: tuple[ScaleEvent, ...] = ()
    scale_down: tuple[ScaleEvent, ...] = ()


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    desired: int
    conditions: tuple[Condition, ...]
    history: History
    rescale_reason: str = ""  # for the SuccessfulRescale event, when desired != current
    proposals: dict[str, Proposal] = field(default_factory=dict)


def _changed_within(events: tuple[ScaleEvent, ...], period: int, now: float) -> int:
    return sum(e.change for e in events if e.at > now - period)


def scale_up_limit(current: int, history: History, rules: Rules, now: float) -> int:
    if rules.select == "Disabled":
        return current
    pick, result = (min, INT32_MAX) if rules.select == "Min" else (max, -INT32_MAX - 1)
    for policy in rules.policies:
        start = current - _changed_within(history.scale_up, policy.period, now) \
            + _changed_within(history.scale_down, policy.period, now)
        proposed = start + policy.value if policy.type == "Pods" else math.ceil(start * (1 + policy.value / 100))
        result = pick(result, proposed)
    return result


def scale_down_limit(current: int, history: History, rules: Rules, now: float) -> int:
    if rules.select == "Disabled":
        return current
    pick, result = (max, -INT32_MAX - 1) if rules.select == "Min" else (min, INT32_MAX)
    for policy in rules.policies:
        start = current - _changed_within(history.scale_up, policy.period, now) \
            + _changed_within(history.scale_down, policy.period, now)
        proposed = start - policy.value if policy.type == "Pods" else int(start * (1 - policy.value / 100))
        result = pick(result, proposed)
    return result


_WITHIN = ("DesiredWithinRange", "the desired count is within the acceptable range")
_READY = Condition("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size")


def _without_behavior(current: int, desired: int, minimum: int, maximum: int, history: History, now: float,
                      window: float) -> tuple[int, Condition, Condition, History]:
    recent = [r for r in history.recommendations if r.at > now - window]
    stabilized = max([desired, *(r.replicas for r in recent)])
    able = _READY if stabilized == desired else Condition(
        "AbleToScale", "True", "ScaleDownStabilized",
        "recent recommendations were higher than current one, applying the highest recent recommendation")
    history = replace(history, recommendations=(*recent, Recommendation(desired, now)))
    up_limit = max(2 * current, 4)  # against bogus usage reports (convertDesiredReplicasWithRules)
    if maximum > up_limit:
        allowed, why = up_limit, ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
    else:
        allowed, why = maximum, ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
    if stabilized < minimum:
        bounded, reason = minimum, ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
    elif stabilized > allowed:
        bounded, reason = allowed, why
    else:
        bounded, reason = stabilized, _WITHIN
    limited = Condition("ScalingLimited", "False" if reason is _WITHIN else "True", *reason)
    return bounded, able, limited, history


def _with_behavior(current: int, desired: int, minimum: int, maximum: int, behavior: Behavior, history: History,
                   now: float) -> tuple[int, Condition, Condition, History]:
    up_cutoff, down_cutoff = now - behavior.scale_up.stabilization, now - behavior.scale_down.stabilization
    up, down = desired, desired
    for rec in history.recommendations:
        if rec.at > up_cutoff:
            up = min(rec.replicas, up)
        if rec.at > down_cutoff:
            down = max(rec.replicas, down)
    stabilized = min(max(current, up), down)
    kept = tuple(r for r in history.recommendations if r.at > min(up_cutoff, down_cutoff))
    history = replace(history, recommendations=(*kept, Recommendation(desired, now)))
    if stabilized == desired:
        able = _READY
    elif desired >= current:
        able = Condition("AbleToScale", "True", "ScaleUpStabilized",
                         "recent recommendations were lower than current one, applying the lowest recent recommendation")
    else:
        able = Condition("AbleToScale", "True", "ScaleDownStabilized",
                         "recent recommendations were higher than current one, applying the highest recent recommendation")
    bounded, reason = stabilized, _WITHIN
    if stabilized > current:
        limit = max(scale_up_limit(current, history, behavior.scale_up, now), current)
        if maximum > limit:
            allowed, why = limit, ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
        else:
            allowed, why = maximum, ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
        if stabilized > allowed:
            bounded, reason = allowed, why
    elif stabilized < current:
        limit = min(scale_down_limit(current, history, behavior.scale_down, now), current)
        if minimum < limit:
            allowed, why = limit, ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")
        else:
            allowed, why = minimum, ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
        if stabilized < allowed:
            bounded, reason = allowed, why
    limited = Condition("ScalingLimited", "True" if bounded != stabilized else "False", *reason)
    return bounded, able, limited, history


def record_scale(history: History, before: int, after: int, now: float, behavior: Behavior | None) -> History:
    """Remember a rescale for the rate policies; events older than the longest period are dropped."""
    longest = max((p.period for r in (behavior.scale_up, behavior.scale_down) for p in r.policies), default=0) \
        if behavior else 0
    up = tuple(e for e in history.scale_up if e.at > now - longest)
    down = tuple(e for e in history.scale_down if e.at > now - longest)
    if after > before:
        up = (*up, ScaleEvent(after - before, now))
    elif after < before:
        down = (*down, ScaleEvent(before - after, now))
    return replace(history, scale_up=up, scale_down=down)


METRIC_NAMES = {"cpu": "cpu resource utilization (percentage of request)",
                "memory": "memory resource utilization (percentage of request)"}


def metric_name(target: Target) -> str:
    if target.utilization is not None:
        return METRIC_NAMES.get(target.resource, f"{target.resource} resource utilization (percentage of request)")
    return f"{target.resource} resource"


def decide(*, current: int, minimum: int, maximum: int, targets: list[Target], proposals: dict[int, Proposal],
           errors: dict[int, str], behavior: Behavior | None, history: History, now: float,
           downscale_window: float = DOWNSCALE_STABILIZATION) -> Decision:
    """The HPA's decision for one sync (horizontal.go reconcileAutoscaler from "currentReplicas").

    ``proposals``/``errors``: per index of ``targets``, what the replica calculator gave.
    """
    if current == 0 and minimum != 0:
        return Decision(0, (Condition("ScalingActive", "False", "ScalingDisabled",
                                      "scaling is disabled since the replica count of the target is zero"),), history)
    got_scale = Condition("AbleToScale", "True", "SucceededGetScale",
                          "the HPA controller was able to get the target's current scale")
    if current > maximum:  # out of bounds: back within them at once, no metrics needed (horizontal.go)
        return Decision(maximum, (got_scale,), record_scale(history, current, maximum, now, behavior),
                        "Current number of replicas above Spec.MaxReplicas")
    if current < minimum:
        return Decision(minimum, (got_scale,), record_scale(history, current, minimum, now, behavior),
                        "Current number of replicas below Spec.MinReplicas")
    desired = max((p.replicas for p in proposals.values()), default=0)
    # all metrics invalid, or some invalid and the rest would scale down: no decision (computeReplicasForMetrics)
    if not proposals or (errors and desired < current):
        message = "; ".join(errors.values()) or "no metrics to compute a replica count from"
        return Decision(current, (got_scale, Condition("ScalingActive", "False", "FailedGetResourceMetric",
                                                       f"the HPA was unable to compute the replica count: {message}")),
                        history)
    best = max(proposals, key=lambda i: proposals[i].replicas)
    name = metric_name(targets[best])
    active = Condition("ScalingActive", "True", "ValidMetricFound",
                       f"the HPA was able to successfully calculate a replica count from {name}")
    rescale_reason = f"{name} above target" if desired > current else "All metrics below target"
    if behavior is None:
        final, able, limited, history = _without_behavior(current, desired, minimum, maximum, history, now,
                                                          downscale_window)
    else:
        final, able, limited, history = _with_behavior(current, desired, minimum, maximum, behavior, history, now)
    if final != current:
        history = record_scale(history, current, final, now, behavior)
    return Decision(final, (able, active, limited), history, rescale_reason if final != current else "",
                    {targets[i].resource: p for i, p in proposals.items()})
