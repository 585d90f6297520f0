"""The invariants every chaos scenario ends with, and checkers that report on them.

- :func:`problems` / :func:`wait_converged`: every Deployment has exactly its replicas of
  its newest template, all Running and Ready on Ready nodes; no pod or ReplicaSet without
  its owner; no pod terminating; every container belongs to a pod bound to its node, and
  every pod runs exactly its containers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kubelite.api.resources import DEPLOYMENTS, NODES, PODS, REPLICASETS
from kubelite.api.rollout_annotations import revision_number
from kubelite.store import Store
from kubelite.testing.api import NAMESPACE
from kubelite.testing.processes import Processes, node_ready
from kubelite.testing.waiting import wait_for




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


def controller_uid(obj: Any) -> str | None:
    for ref in obj.metadata.owner_references or []:
        if ref.controller:
            return str(ref.uid)
    return None


def _pod_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status and pod.status.conditions) or [])


async def problems(store: Store, expected: dict[str, Expect] | None,
                   containers: tuple[list[dict[str, Any]], set[str]] | None = None) -> list[str]:
    """Everything that differs from a converged cluster; empty when it converged.
    ``expected=None``: every Deployment there is, at its own spec's replicas and newest template."""
    found: list[str] = []
    deployments = {d.name: d for d in (await store.list(DEPLOYMENTS, NAMESPACE)).items}
    if expected is None:
        expected = {name: Expect(d.spec.replicas if d.spec.replicas is not None else 1, None)
                    for name, d in deployments.items()}
    replicasets = (await store.list(REPLICASETS, NAMESPACE)).items
    pods = (await store.list(PODS, NAMESPACE)).items
    nodes = {n.name: n for n in (await store.list(NODES)).items}
    deployment_uids = {d.metadata.uid: d for d in deployments.values()}
    rs_uids = {rs.metadata.uid: rs for rs in replicasets}
    found += [f"unexpected deployment {name}" for name in deployments if name not in expected]
    for name, want in expected.items():
        d = deployments.get(name)
        if d is None:
            found.append(f"deployment {name} missing")
            continue
        if d.spec.replicas != want.replicas or (
                want.version is not None and _version(d.spec.template.spec) != want.version):
            found.append(f"deployment {name}: spec says {d.spec.replicas}×{_version(d.spec.template.spec)}, "
                         f"acknowledged {want.replicas}×{want.version}")
        s = d.status
        if not (s and s.observed_generation == d.metadata.generation and s.replicas == want.replicas
                and (s.updated_replicas or 0) == want.replicas and (s.available_replicas or 0) == want.replicas
                and (s.ready_replicas or 0) == want.replicas):
            found.append(f"deployment {name}: status not converged: {s and s.to_dict()}")
    for rs in replicasets:
        owner = deployment_uids.get(controller_uid(rs))
        if owner is None:
            found.append(f"orphan replicaset {rs.name}")
            continue
        wanted = expected.get(owner.name)
        if wanted is not None and wanted.version is None:
            newest = max((_revision(r) for r in replicasets if controller_uid(r) == owner.metadata.uid), default=0)
            current = _revision(rs) == newest
        else:
            current = wanted is not None and _version(rs.spec.template.spec) == wanted.version
        if not current and (rs.spec.replicas or (rs.status and rs.status.replicas)):
            found.append(f"old replicaset {rs.name} still has replicas")
    per_deployment: dict[str, list[Any]] = {name: [] for name in expected}
    for pod in pods:
        rs = rs_uids.get(controller_uid(pod))
        owner = deployment_uids.get(controller_uid(rs)) if rs is not None else None
        if owner is None:
            found.append(f"orphan pod {pod.name}")
            continue
        if pod.metadata.deletion_timestamp is not None:
            found.append(f"pod {pod.name} terminating")
            continue
        per_deployment.setdefault(owner.name, []).append(pod)
        node = nodes.get(pod.spec.node_name or "")
        phase = pod.status.phase if pod.status else None
        if node is None or not node_ready(node):
            found.append(f"pod {pod.name} on {pod.spec.node_name or 'no node'} (not a Ready node)")
        elif phase != "Running" or not _pod_ready(pod):
            found.append(f"pod {pod.name} on {pod.spec.node_name}: {phase}, ready={_pod_ready(pod)}")
        wanted = expected.get(owner.name)
        if wanted is not None and wanted.version is not None and _version(pod.spec) != wanted.version:
            found.append(f"pod {pod.name} runs {_version(pod.spec)}, not {wanted.version}")
    for name, want in expected.items():
        have = len(per_deployment.get(name, []))
        if have != want.replicas:
            found.append(f"deployment {name}: {have} pods, want exactly {want.replicas}")
    if containers is not None:
        found += container_problems(pods, *containers)
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
                         *, containers: bool = True) -> float:
    """Wait until :func:`problems` finds none; seconds it took. On timeout, the problems left."""
    store = await cluster.connect_store()
    started = time.monotonic()
    last: list[str] = []

    async def converged() -> bool:
        nonlocal last
        try:
            seen = await cluster.containers() if containers else None
            last = await problems(store, expected, seen)
        except Exception as exc:  # noqa: BLE001 - etcd may still be electing: not converged yet
            last = [f"could not read: {exc!r}"]
        return not last

    try:
        await wait_for(converged, timeout, 0.3)
    except AssertionError:
        raise AssertionError(f"not converged after {timeout}s: {last[:12]} ({len(last)} problems)") from None
    return time.monotonic() - started


