"""kubelite.testing.convergence and checks.problems: when StatefulSets and Jobs count as converged
(pure functions, table-tested) and that ``problems`` finds them in any namespace (MemStore)."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.core import Namespace, NodeCondition, NodeStatus
from kubelite.api.meta import ObjectMeta, OwnerReference
from kubelite.api.resources import NAMESPACES, NODES, PODS, STATEFULSETS
from kubelite.bootstrap import ensure_system_namespaces
from kubelite.memstore import MemStore
from kubelite.testing.checks import problems
from kubelite.testing.convergence import job_problems, object_key, statefulset_problems

from tests.controllers.objects import bare_pod


def pod(name: str, *, phase: str = "Running", ready: bool = True, node: str = "n1",
        namespace: str = "default", terminating: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if terminating:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}}


def sts(replicas: int = 2, **status: Any) -> dict[str, Any]:
    full = {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
            "updatedReplicas": replicas, "currentRevision": "db-1", "updateRevision": "db-1", **status}
    return {"metadata": {"name": "db", "namespace": "data", "generation": 1}, "spec": {"replicas": replicas},
            "status": full}


def ready(node: str) -> bool:
    return node == "n1"


def test_a_rolled_out_statefulset_has_no_problems() -> None:
    assert statefulset_problems(sts(), [pod("db-0"), pod("db-1")], ready) == []


@pytest.mark.parametrize(("status", "pods", "expect"), [
    ({"observedGeneration": 0}, ["db-0", "db-1"], "observedGeneration 0 behind generation 1"),
    ({"readyReplicas": 1}, ["db-0", "db-1"], "status.readyReplicas 1, want 2"),
    ({"updatedReplicas": 1}, ["db-0", "db-1"], "status.updatedReplicas 1, want 2"),
    ({"updateRevision": "db-2"}, ["db-0", "db-1"], "currentRevision db-1 != updateRevision db-2"),
    ({}, ["db-0"], "pod db-1 missing"),
    ({}, ["db-0", "db-1", "db-2"], "pod db-2 beyond its ordinals"),
])
def test_a_statefulset_not_rolled_out_says_why(status: dict[str, Any], pods: list[str], expect: str) -> None:
    found = statefulset_problems(sts(**status), [pod(n) for n in pods], ready)
    assert any(expect in p for p in found), found
    assert all(p.startswith("statefulset data/db") for p in found), found


def test_statefulset_pods_must_run_ready_on_ready_nodes_and_ordinals_may_start_elsewhere() -> None:
    found = statefulset_problems(sts(), [pod("db-0", node="n2"), pod("db-1", ready=False)], ready)
    assert found == ["pod db-0 on n2 (not a Ready node)", "pod db-1 on n1: Running, ready=False"]
    shifted = sts()
    shifted["spec"]["ordinals"] = {"start": 5}
    assert statefulset_problems(shifted, [pod("db-5"), pod("db-6")], ready) == []
    assert statefulset_problems(sts(), [pod("db-0"), pod("db-1", terminating=True)], ready) == ["pod db-1 terminating"]


def job(*, conditions: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "pi", "namespace": "default"}, "spec": {"completions": 2},
            "status": {"conditions": conditions or [], **status}}


COMPLETE = [{"type": "Complete", "status": "True"}]


def test_job_convergence() -> None:
    assert job_problems(job(conditions=COMPLETE, succeeded=2), [pod("pi-a", phase="Succeeded")]) == []
    assert job_problems(job(active=1, succeeded=1), []) == ["job pi: not complete (1 succeeded, 1 active, 0 failed)"]
    assert job_problems(job(conditions=COMPLETE, succeeded=1), []) == ["job pi: Complete with 1 succeeded, want 2"]
    assert job_problems(job(conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                         "message": "too many"}]), []) == \
        ["job pi: Failed (BackoffLimitExceeded: too many)"]
    assert job_problems(job(conditions=COMPLETE, succeeded=2), [pod("pi-x")]) == \
        ["job pi: pod pi-x still running after the job finished"]
    suspended = job()
    suspended["spec"]["suspend"] = True
    assert job_problems(suspended, []) == []


def test_object_keys() -> None:
    assert object_key("default", "web") == "web" and object_key(None, "web") == "web"
    assert object_key("shop", "web") == "shop/web"


async def test_problems_sees_statefulsets_and_jobs_in_other_namespaces_and_their_orphans() -> None:
    store = MemStore()
    await ensure_system_namespaces(store)
    await store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="data")))
    await store.create(NODES, NODES.model.model_validate({"metadata": {"name": "n1"}}))
    await store.guaranteed_update(NODES, "n1", None, _node_ready, subresource="status")
    made = await store.create(STATEFULSETS, STATEFULSETS.model.model_validate(
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "data"},
         "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                  "template": {"metadata": {"labels": {"app": "db"}},
                               "spec": {"containers": [{"name": "c", "image": "demo"}]}}}}))
    owned = bare_pod("db-0", labels={"app": "db"})
    owned.metadata.namespace = "data"
    owned.metadata.owner_references = [OwnerReference(api_version="apps/v1", kind="StatefulSet", name="db",
                                                      uid=made.metadata.uid, controller=True)]
    await store.create(PODS, owned)
    orphan = bare_pod("gone-0")
    orphan.metadata.owner_references = [OwnerReference(api_version="batch/v1", kind="Job", name="gone",
                                                       uid="no-such-uid", controller=True)]
    await store.create(PODS, orphan)
    await store.create(PODS, bare_pod("mine"))  # no controller: the user's own, not an orphan
    daemon = bare_pod("ds-x")
    daemon.metadata.owner_references = [OwnerReference(api_version="apps/v1", kind="DaemonSet", name="ds",
                                                       uid="a-daemonset", controller=True)]
    await store.create(PODS, daemon)  # a controller this checker does not judge
    found = await problems(store, None)
    assert "orphan pod gone-0" in found, found
    assert not any("mine" in p or "ds-x" in p for p in found), found
    assert any(p.startswith("statefulset data/db: status.observedGeneration") for p in found), found
    assert any(p.startswith("pod data/db-0 on no node") for p in found), found
    only_default = await problems(store, None, namespaces=["default"])
    assert not any("data/" in p for p in only_default) and "orphan pod gone-0" in only_default


def _node_ready(node: Any) -> Any:
    node.status = NodeStatus(conditions=[NodeCondition(type="Ready", status="True")])
    return node


class _StoreOnly:
    """A stand-in for a Cluster where a checker only reads the store."""

    def __init__(self, store: MemStore) -> None:
        self._store = store

    async def store(self) -> MemStore:
        return self._store


async def test_the_burst_check_wants_every_patch_answered_and_the_last_acknowledged_stored() -> None:
    from kubelite.api.resources import DEPLOYMENTS
    from kubelite.testing import ScenarioReport, deployment_doc
    from kubelite.testing.checkers import BurstAcknowledged
    from kubelite.testing.workloads import UpdateBurst

    store = MemStore()
    await ensure_system_namespaces(store)
    doc = deployment_doc("web", 5)
    doc["metadata"]["namespace"] = "default"
    await store.create(DEPLOYMENTS, DEPLOYMENTS.model.model_validate(doc))
    burst = UpdateBurst(api=None, name="web")  # type: ignore[arg-type]  # results set by hand: no I/O
    burst.results = [(200, 10, 3), (200, 12, 5), (200, 11, 7)]
    check = await BurstAcknowledged(burst).check(_StoreOnly(store), ScenarioReport("t"))  # type: ignore[arg-type]
    assert check.ok and check.figures["stored_replicas"] == 5 and burst.last_acknowledged == 5, check
    burst.results = [(200, 10, 3), (0, None, 9), (503, None, 2), (200, 10, 4), (200, 13, 8)]
    check = await BurstAcknowledged(burst).check(_StoreOnly(store), ScenarioReport("t"))  # type: ignore[arg-type]
    assert check.problems == ["1 patch(es) answered nothing", "1 patch(es) answered 503",
                              "different values acknowledged at revision 10: [3, 4]",
                              "stored replicas 5, but the last acknowledged write set 8"], check.problems
