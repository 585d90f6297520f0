"""Pure node-lifecycle decisions: the Ready condition and lifecycle taint a node should have,
the NoSchedule taints that follow its conditions (TaintNodesByCondition), when each of its pods
must be evicted (Kubernetes' taint manager) and with which condition, and which pods to mark not
ready (MarkPodsNotReady). Data in, data out; the clock is a parameter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kubelite.api.core import Node, Pod, PodCondition, PodStatus, Taint
from kubelite.api.taints import (
    DISK_PRESSURE,
    MEMORY_PRESSURE,
    NETWORK_UNAVAILABLE,
    NOT_READY,
    PID_PRESSURE,
    UNREACHABLE,
    UNSCHEDULABLE,
)

LIFECYCLE_TAINTS = (UNREACHABLE, NOT_READY)

# nodeConditionToTaintKeyStatusMap (pkg/controller/nodelifecycle): condition type -> status -> the
# NoSchedule taint key the node carries while that condition has that status
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": NOT_READY, "Unknown": UNREACHABLE},
    "MemoryPressure": {"True": MEMORY_PRESSURE},
    "DiskPressure": {"True": DISK_PRESSURE},
    "NetworkUnavailable": {"True": NETWORK_UNAVAILABLE},
    "PIDPressure": {"True": PID_PRESSURE},
}
# the NoSchedule taints the condition pass owns (adds and removes); any other taint is left alone
CONDITION_TAINT_KEYS = frozenset({*(k for by in CONDITION_TAINTS.values() for k in by.values()), UNSCHEDULABLE})


@dataclass(frozen=True)
class NodeVerdict:
    ready: str | None  # the Ready status to write, None to leave it
    taint: str | None  # the lifecycle taint the node should carry (None: neither)


def judge_node(node: Node, *, lease_present: bool, lease_missing_for: float, grace: float) -> NodeVerdict | None:
    """None while a missing lease is still within its grace (change nothing yet)."""
    condition = node.status.condition("Ready") if node.status else None
    status = condition.status if condition else None
    if not lease_present:
        if lease_missing_for < grace:
            return None
        return NodeVerdict(None if status == "Unknown" else "Unknown", UNREACHABLE)
    if status == "Unknown":
        return NodeVerdict("True", None)  # the lease is back; the agent will post its own status too
    if status == "False":
        return NodeVerdict(None, NOT_READY)
    return NodeVerdict(None, None)


def with_lifecycle_taint(taints: list[Taint], wanted: str | None, now: datetime) -> list[Taint] | None:
    """The node's taints with exactly the wanted lifecycle NoExecute taint; None if unchanged.
    Only NoExecute taints are the taint manager's: the NoSchedule ones of the same keys follow
    the conditions (:func:`with_condition_taints`)."""
    kept = [t for t in taints if not (t.effect == "NoExecute" and t.key in LIFECYCLE_TAINTS and t.key != wanted)]
    if wanted is not None and not any(t.key == wanted and t.effect == "NoExecute" for t in kept):
        kept.append(Taint(key=wanted, effect="NoExecute", time_added=now))
    return None if [t.to_dict() for t in kept] == [t.to_dict() for t in taints] else kept


def condition_taint_keys(node: Node) -> set[str]:
    """The NoSchedule taint keys the node's conditions and ``spec.unschedulable`` call for
    (``doNoScheduleTaintingPass``; a condition it does not report calls for nothing)."""
    wanted = {CONDITION_TAINTS[c.type][c.status] for c in (node.status.conditions if node.status else None) or []
              if c.status in CONDITION_TAINTS.get(c.type, {})}
    if node.spec is not None and node.spec.unschedulable:
        wanted.add(UNSCHEDULABLE)
    return wanted


def with_condition_taints(taints: list[Taint], node: Node, now: datetime) -> list[Taint] | None:
    """``taints`` with exactly the condition NoSchedule taints ``node`` calls for (Kubernetes'
    TaintNodesByCondition: kube-controller-manager, not the kubelet, keeps them); None if unchanged.
    Added ones get ``timeAdded`` now (``SwapNodeControllerTaint``); others' order is kept."""
    wanted = condition_taint_keys(node)
    kept = [t for t in taints if not (t.effect == "NoSchedule" and t.key in CONDITION_TAINT_KEYS
                                      and t.key not in wanted)]
    present = {t.key for t in kept if t.effect == "NoSchedule"}
    added = [Taint(key=key, effect="NoSchedule", time_added=now) for key in sorted(wanted - present)]
    if not added and len(kept) == len(taints):
        return None
    return [*kept, *added]


def reconciled_taints(node: Node, verdict: NodeVerdict | None, now: datetime) -> list[Taint] | None:
    """The node's taints after both passes: the lifecycle NoExecute taint of ``verdict`` (None:
    leave it as it is, a missing lease still within its grace) and the condition NoSchedule taints
    of the node's current conditions; None when nothing changes."""
    taints = node.taints
    lifecycle = with_lifecycle_taint(taints, verdict.taint, now) if verdict is not None else None
    conditions = with_condition_taints(lifecycle if lifecycle is not None else taints, node, now)
    return conditions if conditions is not None else lifecycle


def eviction_time(pod: Pod, taints: list[Taint], *, now: datetime) -> datetime | None:
    """When the pod must leave the node, or None if it may stay (Kubernetes' NoExecuteTaintManager).

    Each NoExecute taint is matched against the pod's *first* toleration that tolerates
    it (``GetMatchingTolerations``): a taint nothing tolerates evicts at once; otherwise
    the pod stays for the smallest ``tolerationSeconds`` among the matched tolerations
    (0 or less: at once), and forever when none of them has seconds. Default tolerations
    are not invented here: admission added them to the pod (:mod:`kubelite.registry.strategy`).

    The clock starts when the pod was first on a NoExecute-tainted node: the earliest
    ``timeAdded`` of those taints, or the pod's binding (PodScheduled) if that came later.
    """
    no_execute = [t for t in taints if t.effect == "NoExecute"]
    if not no_execute:
        return None
    start = min(t.time_added or now for t in no_execute)
    bound = _bound_at(pod)
    if bound is not None and bound > start:
        start = min(bound, now)
    tolerations = pod.spec.tolerations or []
    seconds: list[int] = []
    for taint in no_execute:
        first = next((t for t in tolerations if t.tolerates(taint)), None)
        if first is None:
            return start
        if first.toleration_seconds is not None:
            seconds.append(first.toleration_seconds)
    if not seconds:
        return None
    return start + timedelta(seconds=max(0, min(seconds)))


def _bound_at(pod: Pod) -> datetime | None:
    condition = pod.status.condition("PodScheduled") if pod.status else None
    return condition.last_transition_time if condition is not None and condition.status == "True" else None


def force_delete_time(pod: Pod) -> datetime | None:
    """A terminating pod on an unreachable node is removed once its grace period is over:
    its deletionTimestamp (the delete time plus the grace period, as Kubernetes sets it)."""
    return pod.metadata.deletion_timestamp


def with_disruption_target(pod: Pod, now: datetime) -> Pod | None:
    """A copy with the ``DisruptionTarget`` condition the taint manager sets before it evicts
    (reason DeletionByTaintManager; Kubernetes' PodDisruptionConditions, GA in 1.31), or None
    when the pod already has it."""
    status = pod.status or PodStatus()
    current = status.condition("DisruptionTarget")
    if current is not None and current.status == "True" and current.reason == _DISRUPTION_REASON:
        return None
    marked = pod.deep_copy()
    condition = PodCondition(type="DisruptionTarget", status="True", reason=_DISRUPTION_REASON,
                             message="Taint manager: deleting due to NoExecute taint", last_transition_time=now)
    conditions = [c for c in status.conditions or [] if c.type != "DisruptionTarget"]
    marked.status = status.model_copy(update={"conditions": [*conditions, condition]})
    return marked


_DISRUPTION_REASON = "DeletionByTaintManager"


# -- MarkPodsNotReady ---------------------------------------------------------------------

def should_mark_not_ready(pod: Pod, node: Node) -> bool:
    """Whether the node lifecycle controller must set this pod's Ready condition to False.

    Kubernetes' ``MarkPodsNotReady``: a pod with Ready=True on a node whose Ready condition
    is not True. While the node is Unknown nobody else speaks for its pods. A node that
    says Ready=False itself has a live agent: a pod it reported Ready *after* the node went
    NotReady is the agent's word and is left alone (no write fight with the agent).
    """
    node_ready = node.status.condition("Ready") if node.status else None
    if node_ready is None or node_ready.status == "True":
        return False
    pod_ready = pod.status.condition("Ready") if pod.status else None
    if pod_ready is None or pod_ready.status != "True":
        return False
    if node_ready.status == "False" and pod_ready.last_transition_time and node_ready.last_transition_time:
        return pod_ready.last_transition_time <= node_ready.last_transition_time
    return True


def marked_not_ready(pod: Pod, now: datetime) -> Pod | None:
    """A copy with Ready=False (its transition time now; reason and message kept, as
    ``UpdatePodCondition`` does), or None when its Ready condition is not True."""
    condition = pod.status.condition("Ready") if pod.status else None
    if condition is None or condition.status != "True" or pod.status is None:
        return None
    marked = pod.deep_copy()
    assert marked.status is not None
    marked.status.conditions = [
        c.model_copy(update={"status": "False", "last_transition_time": now}) if c.type == "Ready" else c
        for c in marked.status.conditions or []
    ]
    return marked
