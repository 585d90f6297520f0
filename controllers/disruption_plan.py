"""Pure decisions of the disruption controller: a PodDisruptionBudget's status from its pods.

The rules are kube-controller-manager's ``pkg/controller/disruption`` (Kubernetes 1.32):

- **expected pods and desired healthy**: ``minAvailable: N`` (an integer) wants N healthy of the pods
  selected; ``minAvailable: "P%"`` and ``maxUnavailable`` (integer or percentage) are taken of the
  summed scale of the pods' controllers (a Deployment's replicas for its ReplicaSets' pods, a
  ReplicaSet's, StatefulSet's or ReplicationController's own), percentages rounded up. A pod with no
  controller is reported (an ``UnmanagedPods`` event) and not counted; a controller that cannot be found
  fails the sync (the status then allows no disruption: ``SyncFailed``).
- **healthy**: Ready, not being deleted, and not listed in ``status.disruptedPods`` (evicted, its deletion
  not seen yet) within :data:`DELETION_TIMEOUT` of its eviction.
- **disruptedPods**: entries for pods gone or being deleted are dropped; an entry older than the timeout
  is dropped with a ``NotDeleted`` event on the pod; the earliest expiry is when to look again.
- **disruptionsAllowed** = healthy − desired, never below 0, and 0 while no pod is expected.

The condition rules are shared with the Eviction API: :mod:`kubelite.api.disruption`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubelite.api import disruption
from kubelite.api.apps import resolve_int_or_percent
from kubelite.api.core import Pod
from kubelite.api.meta import OwnerReference

Doc = dict[str, Any]
# (controller reference, namespace) -> (controller uid, its desired replicas), or None when no such controller
ScaleFinder = Callable[[OwnerReference, str], "tuple[str, int] | None"]


class SyncFailed(Exception):
    """The budget's status cannot be computed (the message goes into the SyncFailed condition)."""


@dataclass
class Counts:
    expected: int
    desired: int
    unmanaged: list[str] = field(default_factory=list)


def _scaled(value: Any, total: int) -> int:
    try:
        return resolve_int_or_percent(value, total, round_up=True)
    except (ValueError, TypeError) as exc:
        raise SyncFailed(str(exc)) from exc


def expected_scale(pods: list[Pod], find_scale: ScaleFinder) -> tuple[int, list[str]]:
    """(the summed scale of the pods' controllers, each counted once; the names of pods without one)."""
    scales: dict[str, int] = {}
    unmanaged: list[str] = []
    for pod in pods:
        ref = pod.metadata.controller_ref()
        if ref is None:
            unmanaged.append(pod.name)
            continue
        if ref.uid in scales:
            continue
        found = find_scale(ref, pod.metadata.namespace or "")
        if found is None:
            raise SyncFailed(f'found no controllers for pod "{pod.name}"')
        scales[found[0]] = found[1]
    return sum(scales.values()), unmanaged


def expected_and_desired(spec: Doc, pods: list[Pod], find_scale: ScaleFinder) -> Counts:
    """getExpectedPodCount. SyncFailed for a controller that cannot be found or a malformed value."""
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        expected, unmanaged = expected_scale(pods, find_scale)
        return Counts(expected, max(0, expected - _scaled(max_unavailable, expected)), unmanaged)
    if isinstance(min_available, int) and not isinstance(min_available, bool):
        return Counts(len(pods), min_available)
    if isinstance(min_available, str):
        expected, unmanaged = expected_scale(pods, find_scale)
        return Counts(expected, _scaled(min_available, expected), unmanaged)
    return Counts(0, 0)


@dataclass
class Disrupted:
    pods: dict[str, str]  # pod name -> the eviction's time, as stored
    recheck_at: datetime | None  # the earliest of the kept entries' expiry
    not_deleted: list[str]  # pods evicted longer ago than DELETION_TIMEOUT, still there


def disrupted_pods(recorded: Any, pods: list[Pod], now: datetime) -> Disrupted:
    """buildDisruptedPodMap: the ``disruptedPods`` to keep."""
    result = Disrupted({}, None, [])
    if not isinstance(recorded, dict):
        return result
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None or pod.name not in recorded:
            continue
        evicted = disruption.parse_time(recorded[pod.name])
        if evicted is None:
            continue
        expires = evicted + disruption.DELETION_TIMEOUT
        if expires < now:
            result.not_deleted.append(pod.name)
            continue
        result.pods[pod.name] = recorded[pod.name]
        if result.recheck_at is None or expires < result.recheck_at:
            result.recheck_at = expires
    return result


def count_healthy(pods: list[Pod], disrupted: dict[str, str], now: datetime) -> int:
    """countHealthyPods."""
    healthy = 0
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None:
            continue
        evicted = disruption.parse_time(disrupted[pod.name]) if pod.name in disrupted else None
        if evicted is not None and evicted + disruption.DELETION_TIMEOUT > now:
            continue
        if pod.is_ready():
            healthy += 1
    return healthy


def new_status(pdb: Doc, *, healthy: int, counts: Counts, disrupted: dict[str, str], now: datetime) -> Doc | None:
    """updatePdbStatus: the budget with its new status (a copy), or None when the stored one is current."""
    allowed = healthy - counts.desired
    if counts.expected <= 0 or allowed <= 0:
        allowed = 0
    status = disruption.status_of(pdb)
    generation = disruption.generation_of(pdb)
    if (int(status.get("currentHealthy") or 0) == healthy and int(status.get("desiredHealthy") or 0) == counts.desired
            and int(status.get("expectedPods") or 0) == counts.expected
            and int(status.get("disruptionsAllowed") or 0) == allowed
            and _same_times(status.get("disruptedPods") or {}, disrupted)
            and int(status.get("observedGeneration") or 0) == generation and disruption.conditions_up_to_date(pdb)):
        return None
    updated = copy.deepcopy(pdb)
    fresh: Doc = {"currentHealthy": healthy, "desiredHealthy": counts.desired, "disruptionsAllowed": allowed,
                  "expectedPods": counts.expected, "observedGeneration": generation}
    if disrupted:
        fresh["disruptedPods"] = dict(disrupted)
    if status.get("conditions"):
        fresh["conditions"] = copy.deepcopy(status["conditions"])
    disruption.update_disruption_allowed_condition(fresh, now)
    updated["status"] = fresh
    return updated


def failed_status(pdb: Doc, message: str, now: datetime) -> Doc:
    """failSafe: the budget allowing no disruption, with the SyncFailed condition (a copy)."""
    updated = copy.deepcopy(pdb)
    status = updated.setdefault("status", {})
    disruption.set_sync_failed(status, message, now)
    return updated


def _same_times(a: Any, b: dict[str, str]) -> bool:
    """Semantic equality of two disruptedPods maps (the same instants, however written)."""
    if not isinstance(a, dict) or set(a) != set(b):
        return False
    return all(disruption.parse_time(a[name]) == disruption.parse_time(b[name]) for name in b)


def recheck_after(disrupted: Disrupted, now: datetime) -> float | None:
    """Seconds until the earliest kept eviction expires (then the budget is synced again)."""
    if disrupted.recheck_at is None:
        return None
    return max(0.0, (disrupted.recheck_at - now).total_seconds())


__all__ = ["Counts", "Disrupted", "SyncFailed", "count_healthy", "disrupted_pods", "expected_and_desired",
           "expected_scale", "failed_status", "new_status", "recheck_after"]
