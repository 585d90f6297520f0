"""Pure StatefulSet decisions, after Kubernetes' stateful set control (pkg/controller/statefulset).

(StatefulSet, its pods, current and update revision, now) → which ordinals get a pod (of
which revision), which pods go, and the status. Plain data in and out; no I/O.

- Pods are ``<set>-<ordinal>`` for ordinals ``start … start+replicas-1``; others are condemned.
- OrderedReady (monotonic): one step at a time — create the lowest missing ordinal, and go on
  only once every lower pod is Running and Ready (and available after ``minReadySeconds``);
  condemned pods go highest ordinal first, one at a time, only while the rest is healthy.
  Parallel: every missing pod at once, every condemned pod at once.
- A new pod gets the current revision below ``partition`` (RollingUpdate), else the update
  revision. RollingUpdate deletes pods of an older revision from the highest ordinal down to
  ``partition``, never leaving more than ``maxUnavailable`` (default 1) pods unhealthy; the
  deleted pod comes back at the update revision. OnDelete: only what users delete is replaced.
- Failed or Succeeded pods are deleted and come back.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubelite.api.apps import resolve_int_or_percent
from kubelite.api.core import Pod
from kubelite.api.workloads import (
    POD_INDEX_LABEL,
    REVISION_HASH_LABEL,
    STS_POD_NAME_LABEL,
    StatefulSet,
    StatefulSetStatus,
)

from controllers.podutil import is_available, seconds_until_available


def pod_name(set_name: str, ordinal: int) -> str:
    return f"{set_name}-{ordinal}"


def ordinal_of(set_name: str, pod: Pod) -> int | None:
    """The ordinal in ``<set>-<ordinal>``, or None for a pod not named so (getParentNameAndOrdinal)."""
    match = re.fullmatch(re.escape(set_name) + r"-(\d+)", pod.name)
    return int(match.group(1)) if match else None


def claim_name(claim: str, set_name: str, ordinal: int) -> str:
    return f"{claim}-{set_name}-{ordinal}"


def revision_of(pod: Pod) -> str | None:
    return (pod.metadata.labels or {}).get(REVISION_HASH_LABEL)


def running_and_ready(pod: Pod) -> bool:
    return pod.phase == "Running" and pod.is_ready()


def terminating(pod: Pod) -> bool:
    return pod.metadata.deletion_timestamp is not None


def healthy(pod: Pod, min_ready: int, now: datetime) -> bool:
    """Running, Ready for ``minReadySeconds``, not going away."""
    return running_and_ready(pod) and not terminating(pod) and is_available(pod, min_ready, now)


def stateful_pod(sts: StatefulSet, template: dict[str, Any], ordinal: int, revision: str) -> dict[str, Any]:
    """The pod document of one ordinal (newStatefulSetPod: identity, storage, revision label)."""
    name = pod_name(sts.name, ordinal)
    meta = template.get("metadata") or {}
    spec = copy.deepcopy(template.get("spec") or {})
    labels = {**(meta.get("labels") or {}), STS_POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
              REVISION_HASH_LABEL: revision}
    spec["hostname"] = name
    if sts.spec.service_name:
        spec["subdomain"] = sts.spec.service_name
    claims = [c for c in sts.spec.volume_claim_templates or [] if (c.get("metadata") or {}).get("name")]
    if claims:
        names = {c["metadata"]["name"] for c in claims}
        volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in names]
        volumes += [{"name": c["metadata"]["name"],
                     "persistentVolumeClaim": {"claimName": claim_name(c["metadata"]["name"], sts.name, ordinal)}}
                    for c in claims]
        spec["volumes"] = volumes
    metadata: dict[str, Any] = {"name": name, "namespace": sts.namespace, "labels": labels}
    if meta.get("annotations"):
        metadata["annotations"] = dict(meta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def claims_of(sts: StatefulSet, ordinal: int) -> list[dict[str, Any]]:
    """The PersistentVolumeClaims of one ordinal (getPersistentVolumeClaims): the template's, named
    ``<claim>-<set>-<ordinal>``, labelled with the set's selector labels."""
    selector = (sts.spec.selector.match_labels if sts.spec.selector else None) or {}
    claims = []
    for template in sts.spec.volume_claim_templates or []:
        meta = template.get("metadata") or {}
        if not meta.get("name"):
            continue
        metadata: dict[str, Any] = {"name": claim_name(meta["name"], sts.name, ordinal), "namespace": sts.namespace,
                                    "labels": {**(meta.get("labels") or {}), **selector}}
        if meta.get("annotations"):
            metadata["annotations"] = dict(meta["annotations"])
        claims.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
                       "spec": copy.deepcopy(template.get("spec") or {})})
    return claims


@dataclass(frozen=True)
class Revisions:
    current: str
    update: str


@dataclass
class Plan:
    create: list[tuple[int, str]] = field(default_factory=list)  # (ordinal, revision name)
    delete: list[str] = field(default_factory=list)  # pod names
    status: StatefulSetStatus = field(default_factory=StatefulSetStatus)
    requeue_after: float | None = None


def new_pod_revision(sts: StatefulSet, ordinal: int, revisions: Revisions) -> str:
    """newVersionedStatefulSetPod: below the partition a RollingUpdate keeps the current revision."""
    if sts.spec.strategy_type == "RollingUpdate" and ordinal < sts.spec.start_ordinal + sts.spec.partition:
        return revisions.current
    return revisions.update


def _steps(sts: StatefulSet, pods: dict[int, Pod], revisions: Revisions, now: datetime) -> Plan:
    plan = Plan()
    monotonic = not sts.spec.parallel
    min_ready = sts.spec.min_ready_seconds or 0
    start, replicas = sts.spec.start_ordinal, sts.spec.effective_replicas
    wanted = range(start, start + replicas)
    condemned = sorted(o for o in pods if o not in wanted)
    unhealthy = [o for o in [*wanted, *condemned] if o in pods and not healthy(pods[o], min_ready, now)]
    first_unhealthy = unhealthy[0] if unhealthy else None
    for ordinal in wanted:
        pod = pods.get(ordinal)
        if pod is None:
            plan.create.append((ordinal, new_pod_revision(sts, ordinal, revisions)))
            if monotonic:
                return plan
            continue
        if pod.is_terminated() and not terminating(pod):
            plan.delete.append(pod.name)  # it comes back on a later pass, once gone
            if monotonic:
                return plan
            continue
        if monotonic and not healthy(pod, min_ready, now):
            return plan  # wait: Pending, not Ready, terminating or not yet available
    for ordinal in reversed(condemned):
        pod = pods[ordinal]
        if terminating(pod):
            if monotonic:
                return plan
            continue
        if monotonic and not healthy(pod, min_ready, now) and ordinal != first_unhealthy:
            return plan
        plan.delete.append(pod.name)
        if monotonic:
            return plan
    if sts.spec.strategy_type != "RollingUpdate":
        return plan
    budget = max(resolve_int_or_percent(sts.spec.max_unavailable, replicas, round_up=True), 1)
    unavailable = sum(1 for o in wanted if o not in pods or not healthy(pods[o], min_ready, now))
    room = budget - unavailable
    for ordinal in reversed(range(start + sts.spec.partition, start + replicas)):
        if room <= 0:
            break
        pod = pods.get(ordinal)
        if pod is not None and revision_of(pod) != revisions.update and not terminating(pod):
            if pod.name not in plan.delete:
                plan.delete.append(pod.name)
            room -= 1
    return plan


def compute_status(sts: StatefulSet, pods: list[Pod], revisions: Revisions,
                   now: datetime) -> tuple[StatefulSetStatus, float | None]:
    """updateStatus / computeReplicaStatus, and completeRollingUpdate when every pod is updated and ready."""
    min_ready = sts.spec.min_ready_seconds or 0
    ready = available = current = updated = 0
    waits: list[float] = []
    for pod in pods:
        if running_and_ready(pod):
            ready += 1
            if is_available(pod, min_ready, now):
                available += 1
            elif (wait := seconds_until_available(pod, min_ready, now)) is not None:
                waits.append(wait)
        if not terminating(pod):
            current += revision_of(pod) == revisions.current
            updated += revision_of(pod) == revisions.update
    previous = sts.status
    status = StatefulSetStatus(
        # readyReplicas, currentReplicas and updatedReplicas are omitempty in Go: a zero is not written
        observed_generation=sts.metadata.generation, replicas=len(pods), ready_replicas=ready or None,
        current_replicas=current or None, updated_replicas=updated or None, current_revision=revisions.current,
        update_revision=revisions.update, available_replicas=available,
        collision_count=(previous.collision_count if previous else None) or 0,
        conditions=previous.conditions if previous else None,
    )
    if sts.spec.strategy_type == "RollingUpdate" and updated == len(pods) and ready == len(pods):
        status.current_replicas = updated or None
        status.current_revision = revisions.update
    return status, (min(waits) if waits else None)


def plan(sts: StatefulSet, pods: list[Pod], revisions: Revisions, now: datetime) -> Plan:
    """One sync of the set: creates and deletes (see the module), then the status it reports."""
    by_ordinal: dict[int, Pod] = {}
    for pod in pods:
        ordinal = ordinal_of(sts.name, pod)
        if ordinal is not None:
            by_ordinal[ordinal] = pod
    result = _steps(sts, by_ordinal, revisions, now)
    result.status, result.requeue_after = compute_status(sts, pods, revisions, now)
    return result
