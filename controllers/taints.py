"""Pure node-lifecycle decisions: the Ready condition and lifecycle taint a node should have,
and when each of its pods must be evicted (Kubernetes' taint manager)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kubelite.api.core import Node, Pod, Taint

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
LIFECYCLE_TAINTS = (UNREACHABLE, NOT_READY)


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
    """The node's taints with exactly the wanted lifecycle NoExecute taint; None if unchanged."""
    kept = [t for t in taints if not (t.key in LIFECYCLE_TAINTS and t.key != wanted)]
    if wanted is not None and not any(t.key == wanted and t.effect == "NoExecute" for t in kept):
        kept.append(Taint(key=wanted, effect="NoExecute", time_added=now))
    return None if [t.to_dict() for t in kept] == [t.to_dict() for t in taints] else kept


def eviction_time(pod: Pod, taints: list[Taint], *, default_toleration_seconds: int,
                  now: datetime) -> datetime | None:
    """When the pod must leave the node, or None if every NoExecute taint is tolerated forever.

    Pods that do not tolerate unreachable/not-ready get a toleration of
    ``default_toleration_seconds`` (Kubernetes' DefaultTolerationSeconds admission).
    """
    earliest: datetime | None = None
    for taint in taints:
        if taint.effect != "NoExecute":
            continue
        added = taint.time_added or now
        matching = [t for t in pod.spec.tolerations or [] if (not t.effect or t.effect == "NoExecute")
                    and t.tolerates(taint)]
        if not matching:
            seconds: int | None = default_toleration_seconds if taint.key in LIFECYCLE_TAINTS else 0
        elif any(t.toleration_seconds is None for t in matching):
            seconds = None
        else:
            seconds = max(0, min(t.toleration_seconds or 0 for t in matching))
        if seconds is None:
            continue
        at = added + timedelta(seconds=seconds)
        earliest = at if earliest is None or at < earliest else earliest
    return earliest


def force_delete_time(pod: Pod) -> datetime | None:
    """A terminating pod on an unreachable node is removed once its grace period has passed."""
    started = pod.metadata.deletion_timestamp
    if started is None:
        return None
    return started + timedelta(seconds=pod.metadata.deletion_grace_period_seconds or 0)
