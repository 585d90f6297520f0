"""Pure Deployment decisions, after Kubernetes' deployment controller.

Plain data in, plain data out: the pod-template hash, which ReplicaSet is
the new one, how far a rolling update may scale the new ReplicaSet up
(maxSurge, rounded up) and the old ones down (maxUnavailable, rounded down),
proportional scaling during a rollout, history clean-up, and the status and
conditions ``kubectl rollout status`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from kubelite.api import semantic
from kubelite.api.apps import Deployment, DeploymentCondition, DeploymentStatus
from kubelite.api.core import PodTemplateSpec
from kubelite.api.rollout_annotations import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    NOT_COPIED,
    REVISION,
    REVISION_HISTORY,
    ROLLBACK_TO,
    revision_number,
)

HASH_LABEL = semantic.POD_TEMPLATE_HASH


def template_hash(template: PodTemplateSpec | None, collision_count: int | None = None) -> str:
    """The pod-template-hash of a Deployment's template: equal for semantically equal templates
    (see :func:`kubelite.api.semantic.template_hash`)."""
    return semantic.template_hash(template.to_dict() if template is not None else None, collision_count)


def same_template(a: PodTemplateSpec | None, b: PodTemplateSpec | None) -> bool:
    """Kubernetes' EqualIgnoreHash: which ReplicaSet runs the Deployment's current template."""
    return semantic.templates_equal_ignoring_hash(a.to_dict() if a is not None else None,
                                                  b.to_dict() if b is not None else None)


MAX_REVISION_HISTORY_CHARS = 2000  # Kubernetes' maxRevHistoryLengthInChars


def new_rs_annotations(deployment_annotations: dict[str, str] | None, rs_annotations: dict[str, str] | None,
                       new_revision: int, *, replicas: int, max_surge: int) -> dict[str, str]:
    """Kubernetes' SetNewReplicaSetAnnotations: the annotations the new ReplicaSet must carry.

    The Deployment's own annotations are copied (except the rollout ones);
    the revision rises to ``new_revision`` (max of the old ones + 1) if it is
    lower, and the revision it had is appended to
    ``deployment.kubernetes.io/revision-history`` (a rollback reuses the
    ReplicaSet, so its earlier numbers stay visible), oldest dropped beyond
    2000 characters; desired/max replicas are added when missing.
    """
    result = dict(rs_annotations or {})
    for key, value in (deployment_annotations or {}).items():
        if key not in NOT_COPIED:
            result[key] = value
    old_text = result.get(REVISION)
    old = revision_number(result)
    if old_text is not None and old is None:
        return result  # a revision that is not a number: Kubernetes leaves the annotations alone
    if (old or 0) < new_revision:
        result[REVISION] = str(new_revision)
        if old_text is not None:
            result[REVISION_HISTORY] = _append_history(result.get(REVISION_HISTORY, ""), old_text)
    if DESIRED_REPLICAS not in result or MAX_REPLICAS not in result:
        result.setdefault(DESIRED_REPLICAS, str(replicas))
        result.setdefault(MAX_REPLICAS, str(replicas + max_surge))
    return result


def _append_history(history: str, revision: str) -> str:
    previous = [r for r in history.split(",") if r] if history else []
    entries = [*previous, revision]
    while len(",".join(entries)) > MAX_REVISION_HISTORY_CHARS and len(entries) > 1:
        entries.pop(0)
    return ",".join(entries)


@dataclass(frozen=True)
class RSView:
    """What the rollout arithmetic needs of a ReplicaSet."""

    name: str
    replicas: int  # spec
    available: int = 0  # status.availableReplicas
    revision: int = 0
    created: float = 0.0  # creation time, for "oldest first"


def new_rs_replicas(replicas: int, max_surge: int, all_rs: list[RSView], new: RSView) -> int:
    """Kubernetes' NewRSNewReplicas (RollingUpdate): grow the new RS within replicas + maxSurge."""
    current = sum(rs.replicas for rs in all_rs)
    max_total = replicas + max_surge
    if current >= max_total:
        return new.replicas
    scale_up = min(max_total - current, replicas - new.replicas)
    return new.replicas + max(scale_up, 0)


def scale_down_old(replicas: int, max_unavailable: int, old: list[RSView], new: RSView) -> dict[str, int]:
    """Kubernetes' reconcileOldReplicaSets: new sizes for old ReplicaSets that shrink.

    First unhealthy old pods go (they count for nothing), bounded so that the
    total never drops below ``replicas - maxUnavailable`` plus what the new RS
    still lacks; then available old pods go, as far as availability allows.
    """
    if sum(rs.replicas for rs in old) == 0:
        return {}
    all_rs = [*old, new]
    all_pods = sum(rs.replicas for rs in all_rs)
    min_available = replicas - max_unavailable
    new_unavailable = max(new.replicas - new.available, 0)
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    sizes = {rs.name: rs.replicas for rs in old}
    oldest_first = sorted(old, key=lambda rs: (rs.created, rs.name))
    cleaned = 0
    for rs in oldest_first:
        if cleaned >= max_scaled_down:
            break
        unhealthy = sizes[rs.name] - min(rs.available, sizes[rs.name])
        if unhealthy <= 0:
            continue
        take = min(max_scaled_down - cleaned, unhealthy)
        sizes[rs.name] -= take
        cleaned += take
    available = sum(min(rs.available, sizes.get(rs.name, rs.replicas)) for rs in old) + min(new.available, new.replicas)
    can_remove = available - min_available
    removed = 0
    for rs in oldest_first:
        if removed >= can_remove:
            break
        if sizes[rs.name] == 0:
            continue
        take = min(sizes[rs.name], can_remove - removed)
        sizes[rs.name] -= take
        removed += take
    return {name: size for name, size in sizes.items() if size != next(r.replicas for r in old if r.name == name)}


def rolling_step(replicas: int, max_surge: int, max_unavailable: int, new: RSView, old: list[RSView]) -> dict[str, int]:
    """One rolling-update pass: the new RS grows within the surge, then old ones shrink within
    the availability budget. Returns only the ReplicaSets whose size changes."""
    changes: dict[str, int] = {}
    if new.replicas > replicas:
        changes[new.name] = replicas
    elif new.replicas < replicas:
        grown = new_rs_replicas(replicas, max_surge, [*old, new], new)
        if grown != new.replicas:
            changes[new.name] = grown
    if new.name in changes:
        new = replace(new, replicas=changes[new.name])
    changes.update(scale_down_old(replicas, max_unavailable, old, new))
    return changes


def proportional_sizes(replicas: int, max_surge: int, active: list[RSView], newest: str) -> dict[str, int]:
    """A scale of the Deployment during a rollout: spread the change over the active ReplicaSets
    in proportion to their size (largest first; the rest to the newest), so the total is
    ``replicas + maxSurge`` at most and old and new keep their ratio."""
    current = sum(rs.replicas for rs in active)
    allowed = replicas + max_surge
    delta = allowed - current
    if delta == 0 or current == 0:
        return {}
    sizes = {rs.name: rs.replicas for rs in active}
    given = 0
    for rs in sorted(active, key=lambda r: (-r.replicas, r.name)):
        share = int(rs.replicas * delta / current)
        if delta < 0:
            share = max(share, -sizes[rs.name])
        share = max(share, delta - given) if delta < 0 else min(share, delta - given)
        sizes[rs.name] += share
        given += share
    leftover = delta - given
    if leftover:
        order = [newest, *[rs.name for rs in sorted(active, key=lambda r: (-r.replicas, r.name)) if rs.name != newest]]
        for name in order:
            if leftover == 0:
                break
            if name not in sizes:
                continue
            change = leftover if leftover > 0 else max(leftover, -sizes[name])
            sizes[name] += change
            leftover -= change
    return {name: size for name, size in sizes.items() if size != next(r.replicas for r in active if r.name == name)}


def history_to_delete(old: list[tuple[str, int, int, int]], limit: int) -> list[str]:
    """Old ReplicaSets beyond ``revisionHistoryLimit``: (name, revision, spec replicas, status replicas),
    only empty ones, oldest revision first."""
    empty = sorted((rev, name) for name, rev, spec, status in old if spec == 0 and status == 0)
    excess = len(empty) - limit
    return [name for _rev, name in empty[:max(excess, 0)]]


# -- status ---------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    replicas: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0


def deployment_counts(all_rs: list[tuple[int, int, int]], new: tuple[int, int, int] | None) -> Counts:
    """From (status.replicas, ready, available) of every RS and of the new one."""
    return Counts(
        replicas=sum(r for r, _, _ in all_rs), updated=new[0] if new else 0,
        ready=sum(r for _, r, _ in all_rs), available=sum(a for _, _, a in all_rs),
    )


def _set(conditions: list[DeploymentCondition], new: DeploymentCondition) -> list[DeploymentCondition]:
    """Replace the condition of that type; keep lastTransitionTime if the status did not change."""
    old = next((c for c in conditions if c.type == new.type), None)
    if old is not None:
        if old.status == new.status and old.reason == new.reason and old.message == new.message:
            return conditions
        if old.status == new.status:
            new = replace_condition(new, last_transition_time=old.last_transition_time)
    return [*[c for c in conditions if c.type != new.type], new]


def replace_condition(c: DeploymentCondition, **changes: Any) -> DeploymentCondition:
    return c.model_copy(update=changes)


def compute_status(
    d: Deployment, counts: Counts, *, new_rs_name: str | None, old_active: int, now: datetime,
    max_unavailable: int, created_new: bool = False,
) -> DeploymentStatus:
    """The status to write, including Available and Progressing (with progressDeadlineSeconds)."""
    previous = d.status or DeploymentStatus()
    replicas = d.replicas
    status = DeploymentStatus(
        observed_generation=d.metadata.generation, replicas=counts.replicas, updated_replicas=counts.updated,
        ready_replicas=counts.ready, available_replicas=counts.available,
        unavailable_replicas=max(replicas - counts.available, 0) if replicas else 0,
        collision_count=previous.collision_count, conditions=list(previous.conditions or []),
    )
    conditions = list(status.conditions or [])
    if counts.available >= replicas - max_unavailable:
        conditions = _set(conditions, DeploymentCondition(
            type="Available", status="True", reason="MinimumReplicasAvailable",
            message="Deployment has minimum availability.", last_update_time=now, last_transition_time=now))
    else:
        conditions = _set(conditions, DeploymentCondition(
            type="Available", status="False", reason="MinimumReplicasUnavailable",
            message="Deployment does not have minimum availability.", last_update_time=now,
            last_transition_time=now))
    rs_text = f'ReplicaSet "{new_rs_name}"' if new_rs_name else "ReplicaSet"
    progressing = previous.condition("Progressing")
    if d.spec.paused:
        conditions = _set(conditions, DeploymentCondition(
            type="Progressing", status="Unknown", reason="DeploymentPaused", message="Deployment is paused",
            last_update_time=now, last_transition_time=now))
    elif _complete(d, counts, old_active):
        conditions = _set(conditions, DeploymentCondition(
            type="Progressing", status="True", reason="NewReplicaSetAvailable",
            message=f"{rs_text} has successfully progressed.", last_update_time=now, last_transition_time=now))
    elif progressing is not None and progressing.reason == "DeploymentPaused":
        conditions = _set(conditions, DeploymentCondition(
            type="Progressing", status="Unknown", reason="DeploymentResumed", message="Deployment is resumed",
            last_update_time=now, last_transition_time=now))
    elif created_new or progressing is None or _made_progress(previous, status) or (
        progressing.reason == "NewReplicaSetAvailable"
    ):
        reason = "NewReplicaSetCreated" if created_new else "ReplicaSetUpdated"
        message = f"Created new replica set \"{new_rs_name}\"" if created_new else f"{rs_text} is progressing."
        condition = DeploymentCondition(type="Progressing", status="True", reason=reason, message=message,
                                        last_update_time=now, last_transition_time=now)
        if progressing is not None and progressing.status == "True":
            condition = replace_condition(condition, last_transition_time=progressing.last_transition_time)
        conditions = [*[c for c in conditions if c.type != "Progressing"], condition]
    elif progressing.status == "True" and timed_out(d, progressing, now):
        conditions = _set(conditions, DeploymentCondition(
            type="Progressing", status="False", reason="ProgressDeadlineExceeded",
            message=f"{rs_text} has timed out progressing.", last_update_time=now, last_transition_time=now))
    status.conditions = conditions
    return status


def _complete(d: Deployment, counts: Counts, old_active: int) -> bool:
    return (counts.updated == d.replicas and counts.replicas == d.replicas and counts.available == d.replicas
            and old_active == 0)


def _made_progress(old: DeploymentStatus, new: DeploymentStatus) -> bool:
    """Kubernetes' DeploymentProgressing: more updated, ready or available pods, or fewer old ones."""
    def n(v: int | None) -> int:
        return v or 0
    old_old = n(old.replicas) - n(old.updated_replicas)
    new_old = n(new.replicas) - n(new.updated_replicas)
    return (n(new.updated_replicas) > n(old.updated_replicas) or n(new.ready_replicas) > n(old.ready_replicas)
            or n(new.available_replicas) > n(old.available_replicas) or new_old < old_old)


def timed_out(d: Deployment, progressing: DeploymentCondition, now: datetime) -> bool:
    deadline = d.spec.progress_deadline_seconds
    if deadline is None or progressing.last_update_time is None:
        return False
    return progressing.last_update_time + timedelta(seconds=deadline) < now


def seconds_to_deadline(d: Deployment, status: DeploymentStatus, now: datetime) -> float | None:
    """When to look again so that a stalled rollout is reported without any event."""
    progressing = status.condition("Progressing")
    deadline = d.spec.progress_deadline_seconds
    if (deadline is None or progressing is None or progressing.status != "True"
            or progressing.reason == "NewReplicaSetAvailable" or progressing.last_update_time is None):
        return None
    remaining = (progressing.last_update_time + timedelta(seconds=deadline) - now).total_seconds()
    return max(remaining, 0.0) + 0.05


__all__ = [
    "DESIRED_REPLICAS", "MAX_REPLICAS", "REVISION", "REVISION_HISTORY", "ROLLBACK_TO",
    "Counts", "RSView", "compute_status", "deployment_counts", "history_to_delete", "new_rs_annotations", "new_rs_replicas",
    "proportional_sizes", "revision_number", "same_template", "scale_down_old", "seconds_to_deadline", "template_hash", "replace",
]
