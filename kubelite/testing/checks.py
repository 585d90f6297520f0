"""The invariants every chaos scenario ends with, and checkers that report on them.

- :func:`problems` / :func:`wait_converged`: in every namespace (or those given), every
  Deployment has exactly its replicas of its newest template, all Running and Ready on Ready
  nodes; every StatefulSet rolled out and every Job finished
  (:mod:`kubelite.testing.convergence`); no pod or ReplicaSet whose controller is gone; no pod
  terminating; every container belongs to a pod bound to its node, and every pod runs
  exactly its containers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubelite.api.resources import DEPLOYMENTS, JOBS, NODES, PODS, REPLICASETS, STATEFULSETS, Resource
from kubelite.api.rollout_annotations import revision_number
from kubelite.storage.store import Store
from kubelite.testing.convergence import job_problems, object_key, statefulset_problems
from kubelite.testing.processes import Processes, node_ready
from kubelite.testing.waiting import wait_for
from kubelite.util import clock




@dataclass(frozen=True)
class Expect:
    """What a Deployment should converge to: ``replicas`` pods of template ``version`` (the value
    of the ``VERSION`` env var of the built-in workloads); ``version=None``: its newest template,
    whatever it is (a user's Deployment)."""

    replicas: int
    version: str | None = "v1"


def _revision(obj: Any) -> int:
    return revision_number(obj.metadata.annotations) or 0


def _version(template_spec: Any) -> str | None:
    for env in template_spec.containers[0].env or []:
        if env.name == "VERSION":
            return str(env.value)
    return None


CHECKED_CONTROLLERS = ("ReplicaSet", "StatefulSet", "Job")  # pods whose controller's absence makes them orphans


def _controller_kind(obj: Any) -> str | None:
    for ref in obj.metadata.owner_references or []:
        if ref.controller:
            return str(ref.kind)
    return None


def controller_uid(obj: Any) -> str | None:
    for ref in obj.metadata.owner_references or []:
        if ref.controller:
            return str(ref.uid)
    return None


def _pod_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status and pod.status.conditions) or [])


async def problems(store: Store, expected: dict[str, Expect] | None,
                   containers: tuple[list[dict[str, Any]], set[str]] | None = None,
                   namespaces: Sequence[str] | None = None) -> list[str]:
    """Everything that differs from a converged cluster; empty when it converged.

    Looks at ``namespaces`` (``None``: all of them). ``expected`` names Deployments by
    :func:`~kubelite.testing.convergence.object_key` (``name`` in ``default``, else ``ns/name``);
    ``None``: every Deployment there is, at its own spec's replicas and newest template.
    StatefulSets and Jobs are checked by :mod:`kubelite.testing.convergence`; a pod whose
    controller (ReplicaSet, StatefulSet, Job) is gone is an orphan; a pod without a controller
    is the user's own and only its containers are checked."""
    found: list[str] = []
    listed = await _list_all(store, namespaces)
    deployments = {object_key(d.namespace, d.name): d for d in listed[DEPLOYMENTS]}
    if expected is None:
        expected = {key: Expect(d.spec.replicas if d.spec.replicas is not None else 1, None)
                    for key, d in deployments.items()}
    replicasets = listed[REPLICASETS]
    pods = listed[PODS]
    nodes = {n.name: n for n in (await store.list(NODES)).items}
    deployment_uids = {d.metadata.uid: key for key, d in deployments.items()}
    rs_uids = {rs.metadata.uid: rs for rs in replicasets}
    found += [f"unexpected deployment {key}" for key in deployments if key not in expected]
    for key, want in expected.items():
        found += _deployment_problems(key, deployments.get(key), want)
    for rs in replicasets:
        owner = deployment_uids.get(controller_uid(rs))
        if owner is None:
            if controller_uid(rs) is not None:
                found.append(f"orphan replicaset {object_key(rs.namespace, rs.name)}")
            continue
        wanted = expected.get(owner)
        if wanted is not None and wanted.version is None:
            newest = max((_revision(r) for r in replicasets if controller_uid(r) == controller_uid(rs)), default=0)
            current = _revision(rs) == newest
        else:
            current = wanted is not None and _version(rs.spec.template.spec) == wanted.version
        if not current and (rs.spec.replicas or (rs.status and rs.status.replicas)):
            found.append(f"old replicaset {object_key(rs.namespace, rs.name)} still has replicas")
    sets = {s["metadata"]["uid"]: s for s in listed[STATEFULSETS]}
    jobs = {j["metadata"]["uid"]: j for j in listed[JOBS]}
    per_owner: dict[str, list[Any]] = {}
    for pod in pods:
        owner_uid = controller_uid(pod)
        if owner_uid is None or _controller_kind(pod) not in CHECKED_CONTROLLERS:
            continue  # the user's own pod, or a controller's this module does not judge (DaemonSet, an operator)
        if owner_uid in sets or owner_uid in jobs:
            per_owner.setdefault(owner_uid, []).append(pod)
            continue
        rs = rs_uids.get(owner_uid)
        owner = deployment_uids.get(controller_uid(rs)) if rs is not None else None
        if rs is not None and owner is None and controller_uid(rs) is None:
            continue  # a bare ReplicaSet's pod: the user's own
        if owner is None:
            found.append(f"orphan pod {object_key(pod.namespace, pod.name)}")
            continue
        if pod.metadata.deletion_timestamp is not None:
            found.append(f"pod {object_key(pod.namespace, pod.name)} terminating")
            continue
        per_owner.setdefault(owner, []).append(pod)
        node = nodes.get(pod.spec.node_name or "")
        phase = pod.status.phase if pod.status else None
        if node is None or not node_ready(node):
            found.append(f"pod {pod.name} on {pod.spec.node_name or 'no node'} (not a Ready node)")
        elif phase != "Running" or not _pod_ready(pod):
            found.append(f"pod {pod.name} on {pod.spec.node_name}: {phase}, ready={_pod_ready(pod)}")
        wanted = expected.get(owner)
        if wanted is not None and wanted.version is not None and _version(pod.spec) != wanted.version:
            found.append(f"pod {pod.name} runs {_version(pod.spec)}, not {wanted.version}")
    for key, want in expected.items():
        have = len(per_owner.get(key, []))
        if have != want.replicas:
            found.append(f"deployment {key}: {have} pods, want exactly {want.replicas}")

    def ready(node: str) -> bool:
        return node in nodes and node_ready(nodes[node])

    for uid, sts in sets.items():
        found += statefulset_problems(sts, [p.to_dict() for p in per_owner.get(uid, [])], ready)
    for uid, job in jobs.items():
        found += job_problems(job, [p.to_dict() for p in per_owner.get(uid, [])])
    if containers is not None:
        found += container_problems(pods, *containers)
    return found


async def _list_all(store: Store, namespaces: Sequence[str] | None) -> dict[Resource, list[Any]]:
    """Deployments, ReplicaSets and Pods as models, StatefulSets and Jobs as JSON documents."""
    out: dict[Resource, list[Any]] = {}
    for res in (DEPLOYMENTS, REPLICASETS, PODS, STATEFULSETS, JOBS):
        documents = res in (STATEFULSETS, JOBS)
        out[res] = []
        for namespace in namespaces if namespaces is not None else [None]:
            out[res] += (await store.list(res, namespace, as_documents=documents)).items
    return out


def _deployment_problems(key: str, d: Any, want: Expect) -> list[str]:
    if d is None:
        return [f"deployment {key} missing"]
    found = []
    if d.spec.replicas != want.replicas or (
            want.version is not None and _version(d.spec.template.spec) != want.version):
        found.append(f"deployment {key}: spec says {d.spec.replicas}×{_version(d.spec.template.spec)}, "
                     f"acknowledged {want.replicas}×{want.version}")
    s = d.status
    if not (s and s.observed_generation == d.metadata.generation and s.replicas == want.replicas
            and (s.updated_replicas or 0) == want.replicas and (s.available_replicas or 0) == want.replicas
            and (s.ready_replicas or 0) == want.replicas):
        found.append(f"deployment {key}: status not converged: {s and s.to_dict()}")
    return found


def container_problems(pods: list[Any], containers: list[dict[str, Any]], observed: set[str]) -> list[str]:
    """Each container belongs to a live pod bound to its node; each pod on an ``observed`` node runs
    exactly its sandbox and app containers."""
    found: list[str] = []
    bound = {(p.spec.node_name, p.metadata.uid): p for p in pods if p.metadata.deletion_timestamp is None}
    running: dict[tuple[str, str], list[str]] = {}
    for c in containers:
        key = (c["node"], c["pod_uid"])
        if key not in bound:
            found.append(f"orphan container {c['container']} of pod {c['pod']} ({c['state']}) on {c['node']}")
        elif c["state"] == "running":
            running.setdefault(key, []).append(c["container"])
    for (node, uid), pod in bound.items():
        if node not in observed:
            continue  # a dead sim agent's containers died with it; its pods fail the node check
        want = sorted(["POD", *(c.name for c in pod.spec.containers)])
        if sorted(running.get((node, uid), [])) != want:
            found.append(f"pod {pod.name} on {node} runs {sorted(running.get((node, uid), []))}, want {want}")
    return found


async def wait_converged(cluster: Processes, expected: dict[str, Expect] | None, timeout: float,
                         *, containers: bool = True, namespaces: Sequence[str] | None = None) -> float:
    """Wait until :func:`problems` finds none; seconds it took. On timeout, the problems left."""
    store = await cluster.connect_store()
    started = clock.monotonic()
    last: list[str] = []

    async def converged() -> bool:
        nonlocal last
        try:
            seen = await cluster.containers() if containers else None
            last = await problems(store, expected, seen, namespaces)
        except Exception as exc:  # noqa: BLE001 - etcd may still be electing: not converged yet
            last = [f"could not read: {exc!r}"]
        return not last

    try:
        await wait_for(converged, timeout, 0.3)
    except AssertionError:
        raise AssertionError(f"not converged after {timeout}s: {last[:12]} ({len(last)} problems)") from None
    return clock.monotonic() - started


