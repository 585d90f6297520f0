"""Pure DaemonSet decisions, after Kubernetes' daemon controller (pkg/controller/daemon).

(DaemonSet, nodes, its pods, the current revision's hash, now) → which nodes get a
new pod, which pods go, and the status. Plain data in and out; no I/O.

- A node should run the pod when the template's ``nodeName`` (if any), ``nodeSelector``
  and required node affinity match it and every NoSchedule/NoExecute taint is
  tolerated — with the tolerations every daemon pod gets (:func:`daemon_tolerations`).
  A pod already there keeps running unless a NoExecute taint is untolerated
  (NodeShouldRunDaemonPod).
- Pods are not bound here: each is pinned to its node by node affinity
  (``matchFields metadata.name In [node]``) and the default scheduler binds it, as
  kube-controller-manager does since ScheduleDaemonSetPods.
- RollingUpdate: with ``maxSurge`` 0, old pods are deleted while at most
  ``maxUnavailable`` of the desired nodes lack an available pod; with a surge, a new pod
  starts beside the old one on at most ``maxSurge`` nodes, and the old one goes once the
  new one is available (daemon/update.go rollingUpdate). OnDelete: only missing pods are
  created, from the current template.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubelite.api import nodeaffinity
from kubelite.api import taints as taint_keys
from kubelite.api.apps import resolve_int_or_percent
from kubelite.api.core import Node, Pod, Toleration
from kubelite.api.workloads import REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL, DaemonSet, DaemonSetStatus

from controllers.podutil import is_available, ready_since, seconds_until_available

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# AddOrUpdateDaemonPodTolerations (pkg/controller/daemon/util): a daemon pod survives node trouble.
_DEFAULT_TOLERATIONS = (
    (taint_keys.NOT_READY, "NoExecute"),
    (taint_keys.UNREACHABLE, "NoExecute"),
    (taint_keys.DISK_PRESSURE, "NoSchedule"),
    (taint_keys.MEMORY_PRESSURE, "NoSchedule"),
    (taint_keys.PID_PRESSURE, "NoSchedule"),
    (taint_keys.UNSCHEDULABLE, "NoSchedule"),
)
_HOST_NETWORK_TOLERATION = (taint_keys.NETWORK_UNAVAILABLE, "NoSchedule")


def daemon_tolerations(tolerations: list[Toleration] | None, host_network: bool) -> list[Toleration]:
    """The template's tolerations plus the daemon defaults it lacks (same key, operator Exists, effect)."""
    result = list(tolerations or [])
    wanted = [*_DEFAULT_TOLERATIONS, *([_HOST_NETWORK_TOLERATION] if host_network else [])]
    for key, effect in wanted:
        if not any(t.key == key and t.effect == effect and (t.operator or "Equal") == "Exists" for t in result):
            result.append(Toleration(key=key, operator="Exists", effect=effect))
    return result


def _host_network(ds: DaemonSet) -> bool:
    spec = ds.spec.template.spec if ds.spec.template else None
    return bool(spec is not None and (spec.model_extra or {}).get("hostNetwork"))


def pod_tolerations(ds: DaemonSet) -> list[Toleration]:
    """What every pod of ``ds`` tolerates: the template's tolerations and the daemon defaults."""
    spec = ds.spec.template.spec if ds.spec.template else None
    return daemon_tolerations(spec.tolerations if spec else None, _host_network(ds))


def should_run(ds: DaemonSet, node: Node, tolerations: list[Toleration] | None = None) -> tuple[bool, bool]:
    """(should run, should continue running) on ``node`` (NodeShouldRunDaemonPod); ``tolerations``:
    :func:`pod_tolerations`, when the caller has it already."""
    spec = ds.spec.template.spec if ds.spec.template else None
    if spec is None:
        return False, False
    if spec.node_name and spec.node_name != node.name:
        return False, False
    if not nodeaffinity.matches(spec.node_selector, spec.affinity, node.name, dict(node.metadata.labels or {})):
        return False, False
    if not node.taints:
        return True, True
    tolerations = tolerations if tolerations is not None else pod_tolerations(ds)
    untolerated = [t for t in node.taints if t.effect in ("NoSchedule", "NoExecute")
                   and not any(tol.tolerates(t) for tol in tolerations)]
    if untolerated:
        return False, not any(t.effect == "NoExecute" for t in untolerated)
    return True, True


def daemon_pod(ds: DaemonSet, node_name: str, template_hash: str) -> dict[str, Any]:
    """The pod document to create on ``node_name`` (CreatePodTemplate + the node-name affinity)."""
    template = ds.spec.template.to_dict() if ds.spec.template else {}
    meta = template.get("metadata") or {}
    spec = copy.deepcopy(template.get("spec") or {})
    spec["tolerations"] = [t.to_dict() for t in pod_tolerations(ds)]
    spec["affinity"] = nodeaffinity.with_node_name(spec.get("affinity"), node_name)
    spec.pop("nodeName", None)
    labels = {**(meta.get("labels") or {}), REVISION_HASH_LABEL: template_hash,
              TEMPLATE_GENERATION_LABEL: str(ds.metadata.generation or 1)}
    metadata: dict[str, Any] = {"generateName": f"{ds.name}-", "namespace": ds.namespace, "labels": labels}
    if meta.get("annotations"):
        metadata["annotations"] = dict(meta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def target_node(pod: Pod) -> str | None:
    return nodeaffinity.target_node(pod.spec.node_name, pod.spec.affinity)


def _created(pod: Pod) -> tuple[datetime, str]:
    return (pod.metadata.creation_timestamp or _EPOCH, pod.name)


def pods_by_node(pods: list[Pod]) -> dict[str, list[Pod]]:
    """Live pods (not being deleted) by the node they are for, oldest first."""
    result: dict[str, list[Pod]] = defaultdict(list)
    for pod in sorted(pods, key=_created):
        node = target_node(pod)
        if node is not None and pod.metadata.deletion_timestamp is None:
            result[node].append(pod)
    return result


def is_updated(pod: Pod, template_hash: str) -> bool:
    return (pod.metadata.labels or {}).get(REVISION_HASH_LABEL) == template_hash


def resolve_budget(ds: DaemonSet, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) scaled to the desired node count, both rounded up; never both 0."""
    surge = resolve_int_or_percent(ds.spec.max_surge, desired, round_up=True)
    unavailable = resolve_int_or_percent(ds.spec.max_unavailable, desired, round_up=True)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass
class Plan:
    create: list[str] = field(default_factory=list)  # node names
    delete: list[str] = field(default_factory=list)  # pod names
    status: DaemonSetStatus = field(default_factory=DaemonSetStatus)
    requeue_after: float | None = None  # a ready pod becomes available (minReadySeconds), a back-off ends
    failed_nodes: list[str] = field(default_factory=list)  # nodes whose failed pod is deleted now (back-off grows)


Eligibility = dict[str, tuple[bool, bool]]  # node name -> should_run()


def eligibility(ds: DaemonSet, nodes: list[Node]) -> Eligibility:
    tolerations = pod_tolerations(ds)
    return {node.name: should_run(ds, node, tolerations) for node in nodes}


def _manage(ds: DaemonSet, nodes: list[Node], by_node: dict[str, list[Pod]], template_hash: str,
            eligible: Eligibility, backoff: dict[str, float]) -> Plan:
    """podsShouldBeOnNode for every node, plus pods for nodes that are gone. ``backoff``: seconds
    until a node's failed pod may be deleted again (kube's failedPodsBackoff, against a kubelet that
    keeps rejecting the pod)."""
    plan = Plan()
    waits: list[float] = []
    names = {n.name for n in nodes}
    for node in nodes:
        run, keep = eligible[node.name]
        pods = by_node.get(node.name, [])
        if run and not pods:
            plan.create.append(node.name)
        elif keep:
            failed = [p for p in pods if p.is_terminated()]
            if failed and backoff.get(node.name, 0.0) > 0:
                waits.append(backoff[node.name])
            elif failed:
                plan.delete += [p.name for p in failed]
                plan.failed_nodes.append(node.name)
            running = [p for p in pods if not p.is_terminated()]
            if not running and run:
                plan.create.append(node.name)
            plan.delete += [p.name for p in _extra(ds, running, template_hash)]
        elif pods:
            plan.delete += [p.name for p in pods]
    for node_name, pods in by_node.items():
        if node_name not in names:
            plan.delete += [p.name for p in pods]
    plan.requeue_after = min(waits) if waits else None
    return plan


def _extra(ds: DaemonSet, running: list[Pod], template_hash: str) -> list[Pod]:
    """More than one pod on a node: keep the oldest; with a surge allowed, the oldest new and the
    oldest old one (the rolling update removes the old one once the new one is available)."""
    if len(running) <= 1:
        return []
    if ds.spec.strategy_type != "RollingUpdate" or resolve_budget(ds, 1)[0] == 0:
        return running[1:]
    new = [p for p in running if is_updated(p, template_hash)]
    old = [p for p in running if not is_updated(p, template_hash)]
    return new[1:] + old[1:]


def _split(pods: list[Pod], template_hash: str) -> tuple[Pod | None, Pod | None, bool]:
    """findUpdatedPodsOnNode: (new pod, old pod, ok); two of a kind → not ok (manage cleans up)."""
    new = [p for p in pods if not p.is_terminated() and is_updated(p, template_hash)]
    old = [p for p in pods if not p.is_terminated() and not is_updated(p, template_hash)]
    if len(new) > 1 or len(old) > 1:
        return None, None, False
    return (new[0] if new else None), (old[0] if old else None), True


def _rolling(ds: DaemonSet, wanted: list[str], by_node: dict[str, list[Pod]], template_hash: str,
             now: datetime) -> tuple[list[str], list[str]]:
    """(nodes to surge onto, old pods to delete) for one RollingUpdate pass."""
    min_ready = ds.spec.min_ready_seconds or 0
    max_surge, max_unavailable = resolve_budget(ds, len(wanted))
    creates: list[str] = []
    deletes: list[str] = []
    if max_surge == 0:
        unavailable = 0
        replace_now: list[str] = []
        candidates: list[str] = []
        for node in wanted:
            new, old, ok = _split(by_node.get(node, []), template_hash)
            if not ok or (new is None) == (old is None):
                unavailable += 1  # missing, or both: manage's business
            elif new is not None:
                unavailable += 0 if is_available(new, min_ready, now) else 1
            elif old is not None and not is_available(old, min_ready, now):
                replace_now.append(old.name)  # unavailable anyway: replacing it costs nothing
            elif old is not None and unavailable < max_unavailable:
                candidates.append(old.name)
        room = min(max(max_unavailable - unavailable, 0), len(candidates))
        return [], replace_now + candidates[:room]
    surged = unavailable = 0
    for node in wanted:
        new, old, ok = _split(by_node.get(node, []), template_hash)
        if not ok:
            unavailable += 1
            continue
        if old is None:
            continue
        if new is None:
            if not is_available(old, min_ready, now):
                creates.append(node)
            elif surged < max_surge:
                surged += 1
                creates.append(node)
        elif not is_available(new, min_ready, now):
            surged += 1
        else:
            deletes.append(old.name)
    return creates, deletes


def compute_status(ds: DaemonSet, nodes: list[Node], by_node: dict[str, list[Pod]], template_hash: str,
                   now: datetime, eligible: Eligibility | None = None) -> tuple[DaemonSetStatus, float | None]:
    """updateDaemonSetStatus: counts over the oldest pod of each node; when to look again."""
    min_ready = ds.spec.min_ready_seconds or 0
    eligible = eligible if eligible is not None else eligibility(ds, nodes)
    desired = current = misscheduled = ready = available = updated = 0
    waits: list[float] = []
    for node in nodes:
        run, _ = eligible[node.name]
        pods = [p for p in by_node.get(node.name, []) if not p.is_terminated()]
        if run:
            desired += 1
            if pods:
                current += 1
                pod = pods[0]
                if ready_since(pod) is not None:
                    ready += 1
                    if is_available(pod, min_ready, now):
                        available += 1
                    elif (wait := seconds_until_available(pod, min_ready, now)) is not None:
                        waits.append(wait)
                if is_updated(pod, template_hash):
                    updated += 1
        elif pods:
            misscheduled += 1
    previous = ds.status
    status = DaemonSetStatus(
        current_number_scheduled=current, number_misscheduled=misscheduled, desired_number_scheduled=desired,
        # omitempty in Go: a zero is not written
        number_ready=ready, observed_generation=ds.metadata.generation, updated_number_scheduled=updated or None,
        number_available=available or None, number_unavailable=(desired - available) or None,
        collision_count=previous.collision_count if previous else None,
        conditions=previous.conditions if previous else None,
    )
    return status, (min(waits) if waits else None)


def plan(ds: DaemonSet, nodes: list[Node], pods: list[Pod], template_hash: str, now: datetime,
         backoff: dict[str, float] | None = None) -> Plan:
    """One sync: manage (create missing, delete misplaced), then the rolling update, then status.
    ``backoff``: node → seconds its failed pod must still be left alone."""
    by_node = pods_by_node(pods)
    eligible = eligibility(ds, nodes)
    result = _manage(ds, nodes, by_node, template_hash, eligible, backoff or {})
    backoff_wait = result.requeue_after
    if ds.spec.strategy_type == "RollingUpdate":
        wanted = [n.name for n in nodes if eligible[n.name][0]]
        creates, deletes = _rolling(ds, wanted, by_node, template_hash, now)
        result.create += [n for n in creates if n not in result.create]
        result.delete += [p for p in deletes if p not in result.delete]
    result.status, available_wait = compute_status(ds, nodes, by_node, template_hash, now, eligible)
    waits = [w for w in (backoff_wait, available_wait) if w is not None]
    result.requeue_after = min(waits) if waits else None
    return result

