"""When is a StatefulSet or a Job converged: pure functions of the stored objects (plain JSON
documents, as the gateway returns them), so they are table-tested without a cluster.

Each returns the problems found (empty: converged), phrased for a report. The rules are what
``kubectl rollout status`` and the Job controller's terminal conditions say in Kubernetes:

- a StatefulSet (``kubectl rollout status statefulset``, staging/src/k8s.io/kubectl/pkg/polymorphichelpers/
  rollout_status.go): ``status.observedGeneration`` caught up; ``replicas``, ``readyReplicas``,
  ``availableReplicas`` and (RollingUpdate without a partition) ``updatedReplicas`` equal
  ``spec.replicas``; ``currentRevision == updateRevision``; and the pods are exactly ordinals
  ``start … start+replicas-1`` (``<name>-<ordinal>``), Running and Ready on Ready nodes, none
  terminating;
- a Job (pkg/controller/job): a ``Complete`` condition True with ``succeeded`` ≥ ``completions``
  (default 1 when not indexed-with-parallelism-only), or ``suspend`` with nothing active; a ``Failed``
  condition is a problem naming its reason; while neither, the Job is still running. Its pods
  must all have finished (no Running or Pending pod left behind a finished Job).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Doc = Mapping[str, Any]


def _cond(obj: Doc, kind: str) -> Doc | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def pod_ready(pod: Doc) -> bool:
    cond = _cond(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def statefulset_problems(sts: Doc, pods: list[Doc], node_ready: Callable[[str], bool]) -> list[str]:
    """Problems of StatefulSet ``sts`` given the pods it controls (by ownerReference) and whether
    a node is Ready; ``[]`` when converged."""
    meta, spec, status = sts.get("metadata") or {}, sts.get("spec") or {}, sts.get("status") or {}
    name = f"statefulset {_key(sts)}"
    want = 1 if spec.get("replicas") is None else int(spec["replicas"])
    found: list[str] = []
    if status.get("observedGeneration") != meta.get("generation"):
        found.append(f"{name}: status.observedGeneration {status.get('observedGeneration')} "
                     f"behind generation {meta.get('generation')}")
    strategy = spec.get("updateStrategy") or {}
    partitioned = bool((strategy.get("rollingUpdate") or {}).get("partition"))
    counters = ["replicas", "readyReplicas", "availableReplicas"]
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and not partitioned:
        counters.append("updatedReplicas")
    for counter in counters:
        if int(status.get(counter) or 0) != want:
            found.append(f"{name}: status.{counter} {status.get(counter) or 0}, want {want}")
    if not partitioned and status.get("currentRevision") != status.get("updateRevision"):
        found.append(f"{name}: currentRevision {status.get('currentRevision')} != updateRevision "
                     f"{status.get('updateRevision')}")
    start = int((spec.get("ordinals") or {}).get("start") or 0)
    wanted = {f"{meta.get('name')}-{i}" for i in range(start, start + want)}
    have = {p["metadata"]["name"]: p for p in pods}
    found += [f"{name}: pod {n} missing" for n in sorted(wanted - set(have))]
    found += [f"{name}: pod {n} beyond its ordinals" for n in sorted(set(have) - wanted)]
    for pod_name in sorted(wanted & set(have)):
        found += _running_problems(have[pod_name], node_ready)
    return found


def job_problems(job: Doc, pods: list[Doc]) -> list[str]:
    """Problems of Job ``job`` given its pods; ``[]`` when it completed (or is suspended with
    nothing active)."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    name = f"job {_key(job)}"
    failed = _cond(job, "Failed")
    if failed is not None and failed.get("status") == "True":
        return [f"{name}: Failed ({failed.get('reason')}: {failed.get('message')})"]
    left = [p["metadata"]["name"] for p in pods
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    complete = _cond(job, "Complete")
    if spec.get("suspend"):
        found = [f"{name}: suspended but {status.get('active')} active"] if status.get("active") else []
    elif complete is None or complete.get("status") != "True":
        return [f"{name}: not complete ({status.get('succeeded') or 0} succeeded, "
                f"{status.get('active') or 0} active, {status.get('failed') or 0} failed)"]
    else:
        completions = spec.get("completions")
        want = int(completions) if completions is not None else 1
        found = [] if int(status.get("succeeded") or 0) >= want else [
            f"{name}: Complete with {status.get('succeeded') or 0} succeeded, want {want}"]
        if status.get("active"):
            found.append(f"{name}: Complete but status.active {status.get('active')}")
    return found + [f"{name}: pod {p} still running after the job finished" for p in sorted(left)]


def _running_problems(pod: Doc, node_ready: Callable[[str], bool]) -> list[str]:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    node = (pod.get("spec") or {}).get("nodeName") or ""
    if meta.get("deletionTimestamp"):
        return [f"pod {_key(pod)} terminating"]
    if not node or not node_ready(node):
        return [f"pod {_key(pod)} on {node or 'no node'} (not a Ready node)"]
    if status.get("phase") != "Running" or not pod_ready(pod):
        return [f"pod {_key(pod)} on {node}: {status.get('phase')}, ready={pod_ready(pod)}"]
    return []


def _key(obj: Doc) -> str:
    """``name`` in the default namespace, else ``namespace/name`` (how reports and ``expected`` name objects)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    return str(meta.get("name")) if namespace == "default" else f"{namespace}/{meta.get('name')}"


def object_key(namespace: str | None, name: str) -> str:
    """The same key for a (namespace, name) pair."""
    return name if (namespace or "default") == "default" else f"{namespace}/{name}"
