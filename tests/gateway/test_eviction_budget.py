"""The Eviction API against PodDisruptionBudgets, through the gateway on a real etcd (kube-apiserver's
``pkg/registry/core/pod/storage/eviction.go``). The budgets' status is written here as the disruption
controller would write it (that controller has its own tests), so each case sets exactly the state it needs."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kubelite.api.resources import PODS as PODS_RESOURCE
from kubelite.gateway import Gateway
from tests.gateway.conftest import etcd_revision

pytestmark = pytest.mark.timeout(90)

PODS = "/api/v1/namespaces/default/pods"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"


async def running_pod(api: aiohttp.ClientSession, name: str, *, ready: bool = True, phase: str = "Running",
                      app: str = "web") -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "kubelite/demo:latest"}]}}
    async with api.post(PODS, json=body) as r:
        created = await r.json()
        assert r.status == 201, created
    created["status"] = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    async with api.put(f"{PODS}/{name}/status", json=created) as r:
        assert r.status == 200, await r.json()


async def budget(api: aiohttp.ClientSession, name: str, spec: dict[str, Any], status: dict[str, Any],
                 *, app: str = "web") -> dict[str, Any]:
    body = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": app}}, **spec}}
    async with api.post(PDBS, json=body) as r:
        created = await r.json()
        assert r.status == 201, created
    created["status"] = {"observedGeneration": created["metadata"]["generation"], **status}
    async with api.put(f"{PDBS}/{name}/status", json=created) as r:
        written: dict[str, Any] = await r.json()
        assert r.status == 200, written
    return written


async def evict(api: aiohttp.ClientSession, name: str, **params: str) -> tuple[int, dict[str, Any]]:
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}}
    async with api.post(f"{PODS}/{name}/eviction", json=eviction, params=params) as r:
        return r.status, await r.json()


async def get(api: aiohttp.ClientSession, path: str) -> dict[str, Any]:
    async with api.get(path) as r:
        doc: dict[str, Any] = await r.json()
        assert r.status == 200, doc
        return doc


async def test_an_eviction_spends_the_budget_and_the_next_is_refused(api: aiohttp.ClientSession) -> None:
    for name in ("web-0", "web-1", "web-2"):
        await running_pod(api, name)
    await budget(api, "web", {"minAvailable": 2},
                 {"currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3, "disruptionsAllowed": 1})

    code, body = await evict(api, "web-0")
    assert (code, body["status"]) == (201, "Success")
    pdb = await get(api, f"{PDBS}/web")
    assert pdb["status"]["disruptionsAllowed"] == 0 and list(pdb["status"]["disruptedPods"]) == ["web-0"]
    assert pdb["status"]["conditions"][0]["reason"] == "InsufficientPods"
    evicted = await get(api, f"{PODS}/web-0")  # bound: graceful deletion, so still there, marked
    assert evicted["metadata"]["deletionTimestamp"]
    target = [c for c in evicted["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert [(c["status"], c["reason"], c["message"]) for c in target] == [
        ("True", "EvictionByEvictionAPI", "Eviction API: evicting")]

    code, body = await evict(api, "web-1")
    assert code == 429 and body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [{"reason": "DisruptionBudget",
                                          "message": "The disruption budget web needs 2 healthy pods and has 3 currently"}]
    assert "deletionTimestamp" not in (await get(api, f"{PODS}/web-1"))["metadata"]


async def test_a_budget_not_yet_seen_by_the_controller_refuses(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    await running_pod(api, "web-0")
    pdb = await budget(api, "web", {"minAvailable": 0}, {"disruptionsAllowed": 1, "currentHealthy": 1})
    pdb["spec"]["minAvailable"] = 1  # a spec change: generation 2, observedGeneration still 1
    async with api.put(f"{PDBS}/web", json=pdb) as r:
        assert r.status == 200
    before = await etcd_revision(gateway)
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-0", "namespace": "default"}}
    async with api.post(f"{PODS}/web-0/eviction", json=eviction) as r:
        code, body = r.status, await r.json()
        assert r.headers.get("Retry-After") == "10"  # kube's ErrorNegotiated; client-go waits that long
    assert code == 429 and body["details"]["retryAfterSeconds"] == 10
    assert body["details"]["causes"][0]["message"] == "The disruption budget web is still being processed by the server."
    assert await etcd_revision(gateway) == before  # nothing written


async def test_two_budgets_are_refused_and_pending_pods_need_none(api: aiohttp.ClientSession) -> None:
    await running_pod(api, "web-0")
    await running_pod(api, "web-1", phase="Pending", ready=False)
    closed = {"currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1, "disruptionsAllowed": 0}
    await budget(api, "a", {"minAvailable": 1}, closed)
    await budget(api, "b", {"maxUnavailable": 0}, closed)
    code, body = await evict(api, "web-0")
    assert code == 500
    assert body["message"] == ("This pod has more than one PodDisruptionBudget, which the eviction subresource does "
                               "not support.")
    code, _ = await evict(api, "web-1")  # Pending: it disrupts nothing yet
    assert code == 201
    assert (await get(api, f"{PODS}/web-1"))["metadata"]["deletionTimestamp"]


async def test_unready_pods_go_free_while_the_budget_is_met(api: aiohttp.ClientSession) -> None:
    await running_pod(api, "web-0", ready=False)
    await running_pod(api, "db-0", ready=False, app="db")
    await budget(api, "web", {"minAvailable": 1},
                 {"currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 2, "disruptionsAllowed": 0})
    await budget(api, "db", {"minAvailable": 1},
                 {"currentHealthy": 0, "desiredHealthy": 1, "expectedPods": 1, "disruptionsAllowed": 0}, app="db")
    assert (await evict(api, "web-0"))[0] == 201  # met: its unready pod adds nothing, nothing is spent
    assert (await get(api, f"{PDBS}/web"))["status"]["disruptionsAllowed"] == 0
    assert "disruptedPods" not in (await get(api, f"{PDBS}/web"))["status"]
    assert (await evict(api, "db-0"))[0] == 429  # not met: IfHealthyBudget keeps it
    db = await get(api, f"{PDBS}/db")
    db["spec"]["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
    async with api.put(f"{PDBS}/db", json=db) as r:
        assert r.status == 200
    assert (await evict(api, "db-0"))[0] == 201


async def test_a_dry_run_eviction_changes_nothing(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    await running_pod(api, "web-0")
    await budget(api, "web", {"minAvailable": 0},
                 {"currentHealthy": 1, "desiredHealthy": 0, "expectedPods": 1, "disruptionsAllowed": 1})
    before = await etcd_revision(gateway)
    code, _ = await evict(api, "web-0", dryRun="All")
    assert code == 201
    assert await etcd_revision(gateway) == before


async def test_budget_validation_and_columns(api: aiohttp.ClientSession) -> None:
    both = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "both"},
            "spec": {"minAvailable": 1, "maxUnavailable": 1, "selector": {}}}
    async with api.post(PDBS, json=both) as r:
        body = await r.json()
    assert r.status == 422
    assert [(c["field"], c["message"].endswith("minAvailable and maxUnavailable cannot be both set"))
            for c in body["details"]["causes"]] == [("spec", True)]
    over = {**both, "metadata": {"name": "over"}, "spec": {"minAvailable": "150%", "unhealthyPodEvictionPolicy": "Maybe"}}
    async with api.post(PDBS, json=over) as r:
        body = await r.json()
    assert r.status == 422
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.minAvailable", "spec.unhealthyPodEvictionPolicy"]

    await budget(api, "web", {"maxUnavailable": "25%"}, {"disruptionsAllowed": 3})
    async with api.get(PDBS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}) as r:
        table = await r.json()
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"]
    assert table["rows"][0]["cells"][:4] == ["web", "N/A", "25%", 3]


async def test_a_pending_pod_that_changes_meanwhile_is_still_evicted(api: aiohttp.ClientSession, gateway: Gateway,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler reads the pod, and a kubelet's write lands before its delete: the eviction re-reads the pod
    and goes on (kube retries the no-budget path on a conflict), where a pinned delete alone would be 409."""
    await running_pod(api, "starting", phase="Pending", ready=False)
    assert gateway.state is not None
    store = gateway.state.store
    original = store.get
    touched: list[str] = []

    async def read_then_touch(res: Any, name: str, namespace: str | None = None) -> Any:
        obj = await original(res, name, namespace)
        if res is PODS_RESOURCE and name == "starting" and not touched:
            touched.append(name)  # first: the update below reads through this store too
            fresh = obj.deep_copy()
            fresh.metadata.labels = {**(fresh.metadata.labels or {}), "touched": "yes"}
            await store.update(PODS_RESOURCE, fresh)  # what the handler read is now one version behind
        return obj

    monkeypatch.setattr(store, "get", read_then_touch)
    code, body = await evict(api, "starting")
    assert touched == ["starting"] and code == 201, body
    assert (await get(api, f"{PODS}/starting"))["metadata"]["deletionTimestamp"]


async def test_budget_status_writes_are_validated(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    created = await budget(api, "web", {"minAvailable": 1}, {"disruptionsAllowed": 0})
    created["status"] = {"disruptionsAllowed": -1, "conditions": [{"type": "DisruptionAllowed", "status": "Maybe"}]}
    before = await etcd_revision(gateway)
    async with api.put(f"{PDBS}/web/status", json=created) as r:
        body = await r.json()
    assert r.status == 422, body
    assert [(c["field"], c["message"]) for c in body["details"]["causes"]] == [
        ("status.conditions[0].status", 'Unsupported value: "Maybe": supported values: "False", "True", "Unknown"'),
        ("status.conditions[0].lastTransitionTime", "Required value: must be set"),
        ("status.conditions[0].reason", "Required value: must be set"),
        ("status.disruptionsAllowed", "Invalid value: -1: must be greater than or equal to 0")]
    assert await etcd_revision(gateway) == before
