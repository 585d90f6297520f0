"""Pure ReplicaSet decisions: which pods it owns, adopts or releases, how many to create,
which to delete first, and its status. Plain objects in, plain data out; no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubelite.api.apps import ReplicaSet, ReplicaSetStatus
from kubelite.api.core import LabelSelector, Pod
from kubelite.api.labels import Selector, selector_from_label_selector

from controllers.podutil import is_active, is_available, ready_since, seconds_until_available

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Claims:
    owned: list[Pod] = field(default_factory=list)
    adopt: list[Pod] = field(default_factory=list)
    release: list[Pod] = field(default_factory=list)


def selector_matches(selector: LabelSelector | None, labels: dict[str, str] | None) -> bool:
    """A ReplicaSet without a selector selects nothing (it would be rejected by validation)."""
    parsed = workload_selector(selector)
    return parsed is not None and parsed.matches(labels)


def workload_selector(selector: LabelSelector | None) -> Selector | None:
    """``selector`` parsed for :func:`selector_matches`' rule; None when it selects nothing (absent, empty
    or malformed). Parse once to match many pods."""
    if selector is None or (not selector.match_labels and not selector.match_expressions):
        return None
    try:
        return selector_from_label_selector(selector)
    except ValueError:
        return None


def claim_pods(rs: ReplicaSet, pods: list[Pod]) -> Claims:
    """Kubernetes' ClaimPods: keep matching owned pods, adopt matching orphans, release the rest.

    A ReplicaSet being deleted adopts nothing.
    """
    return claim(rs.metadata.uid, rs.spec.selector, rs.metadata.deletion_timestamp is not None, pods)


def claim(uid: str | None, selector: LabelSelector | None, deleting: bool, pods: list[Pod]) -> Claims:
    """:func:`claim_pods` for any controller (DaemonSet, StatefulSet): its uid, selector, and whether it is
    being deleted (then it adopts nothing)."""
    claims = Claims()
    parsed = workload_selector(selector)
    for pod in pods:
        ref = pod.metadata.controller_ref()
        matches = parsed is not None and parsed.matches(pod.metadata.labels)
        if ref is not None:
            if ref.uid != uid:
                continue
            if matches:
                claims.owned.append(pod)
            elif pod.metadata.deletion_timestamp is None:
                claims.release.append(pod)
        elif matches and not deleting and pod.metadata.deletion_timestamp is None and not pod.is_terminated():
            claims.adopt.append(pod)
    return claims


def deletion_rank(pod: Pod) -> tuple[int, int, int, float, int, float]:
    """Sort key: pods to delete first come first (Kubernetes' ActivePods ordering)."""
    assigned = 1 if pod.spec.node_name else 0
    phase = _PHASE_RANK.get(pod.phase, 1)
    since = ready_since(pod)
    ready = 1 if since is not None else 0
    restarts = max((s.restart_count for s in (pod.status.container_statuses or [])), default=0) if pod.status else 0
    created = pod.metadata.creation_timestamp or _EPOCH
    ready_for = -(since or _EPOCH).timestamp()  # more recently ready first
    return (assigned, phase, ready, ready_for if ready else 0.0, -restarts, -created.timestamp())


def pods_to_delete(active: list[Pod], count: int) -> list[Pod]:
    if count <= 0:
        return []
    return sorted(active, key=lambda p: (deletion_rank(p), p.name))[:count]


def replica_diff(active_count: int, replicas: int) -> int:
    """Positive: pods to create; negative: pods to delete."""
    return replicas - active_count


def slow_start_batches(count: int, initial: int = 1) -> list[int]:
    """Batch sizes 1, 2, 4, ... summing to ``count``: a failing create stops early, not after N calls."""
    batches, size, left = [], initial, count
    while left > 0:
        take = min(size, left)
        batches.append(take)
        left -= take
        size *= 2
    return batches


def rs_status(rs: ReplicaSet, owned: list[Pod], now: datetime) -> tuple[ReplicaSetStatus, float | None]:
    """The status to write, and when to look again (a ready pod becoming available).

    One pass over the pods, each pod's Ready condition read once (this runs on every change of
    any of the set's pods: with a thousand pods it is the controller's hot loop)."""
    template_items = tuple(((rs.spec.template.metadata.labels if rs.spec.template and rs.spec.template.metadata
                             else None) or {}).items())
    min_ready = rs.spec.min_ready_seconds or 0
    active = fully_labeled = ready = available = 0
    waits: list[float] = []
    for pod in owned:
        if not is_active(pod):
            continue
        active += 1
        labels = pod.metadata.labels or {}
        if all(labels.get(k) == v for k, v in template_items):
            fully_labeled += 1
        since = ready_since(pod)
        if since is None:
            continue
        ready += 1
        if min_ready <= 0:
            available += 1
        elif is_available(pod, min_ready, now):
            available += 1
        elif (wait := seconds_until_available(pod, min_ready, now)) is not None:
            waits.append(wait)
    status = ReplicaSetStatus(
        replicas=active, fully_labeled_replicas=fully_labeled, ready_replicas=ready,
        available_replicas=available, observed_generation=rs.metadata.generation,
        conditions=rs.status.conditions if rs.status else None,
    )
    return status, (min(waits) if waits else None)
