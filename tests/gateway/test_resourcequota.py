"""ResourceQuota enforcement on a real etcd, through the gateway: the controller's sync fills the status, a
create past `hard` is refused with 403 and kube's message and nothing is written, a quota on cpu needs every
container to name it, scopes, count/deployments.apps, parallel creates never pass `hard` (the charge is in
the object's own transaction), a delete lowers `used` at the next sync, a Service's type change is charged,
dry runs charge nothing, and the quota's own validation and printer columns."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from kubelite.gateway import Gateway
from kubelite.storage.store import Store
from controllers.context import ControllerContext, SharedInformers
from controllers.resourcequota import ResourceQuotaController
from tests.gateway.conftest import etcd_revision

pytestmark = pytest.mark.timeout(90)

NS = "/api/v1/namespaces/default"
PODS, QUOTAS, SERVICES = f"{NS}/pods", f"{NS}/resourcequotas", f"{NS}/services"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def pod(name: str, cpu: str | None = None, **spec: Any) -> dict[str, Any]:
    resources = {"resources": {"requests": {"cpu": cpu}}} if cpu else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "kubelite/demo:latest", **resources}], **spec}}


async def sync(gateway: Gateway, name: str) -> None:
    """One sync of the quota by the resource quota controller (its own Store, as the controller manager has)."""
    assert gateway.state is not None
    store = Store(gateway.state.client)
    controller = ResourceQuotaController(ControllerContext(store=store, informers=SharedInformers.create(store)))
    await controller.reconcile(f"default/{name}")


async def quota(api: aiohttp.ClientSession, gateway: Gateway, name: str, hard: dict[str, Any], **spec: Any) -> None:
    async with api.post(QUOTAS, json={"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name},
                                      "spec": {"hard": hard, **spec}}) as r:
        assert r.status == 201, await r.json()
    await sync(gateway, name)


async def create(api: aiohttp.ClientSession, path: str, body: dict[str, Any], **params: str) -> tuple[int, Any]:
    async with api.post(path, json=body, params=params) as r:
        return r.status, await r.json()


async def used(api: aiohttp.ClientSession, name: str) -> dict[str, Any]:
    async with api.get(f"{QUOTAS}/{name}") as r:
        found: dict[str, Any] = (await r.json())["status"]["used"]
        return found


async def test_status_and_an_exceeding_create(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    assert (await create(api, PODS, pod("before")))[0] == 201
    await quota(api, gateway, "q", {"pods": "2", "count/pods": "10"})
    async with api.get(f"{QUOTAS}/q") as r:
        assert (await r.json())["status"] == {"hard": {"pods": "2", "count/pods": "10"},
                                              "used": {"pods": "1", "count/pods": "1"}}
    assert (await create(api, PODS, pod("second")))[0] == 201
    assert await used(api, "q") == {"pods": "2", "count/pods": "2"}  # charged by the create itself

    before = await etcd_revision(gateway)
    code, body = await create(api, PODS, pod("third"))
    assert code == 403 and body["reason"] == "Forbidden"
    assert body["message"] == ('pods "third" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, '
                               "limited: pods=2")
    assert await etcd_revision(gateway) == before  # neither the pod nor the quota

    async with api.delete(f"{PODS}/before") as r:
        assert r.status == 200
    await sync(gateway, "q")
    assert await used(api, "q") == {"pods": "1", "count/pods": "1"}
    code, _ = await create(api, PODS, pod("third"), dryRun="All")
    assert code == 201 and await used(api, "q") == {"pods": "1", "count/pods": "1"}  # a dry run charges nothing
    assert (await create(api, PODS, pod("third")))[0] == 201


async def test_compute_quota_must_be_specified_and_scopes(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    await quota(api, gateway, "cpu", {"requests.cpu": "1"}, scopes=["NotTerminating"])
    code, body = await create(api, PODS, pod("plain"))
    assert code == 403 and body["message"] == 'pods "plain" is forbidden: failed quota: cpu: must specify requests.cpu for: c'
    assert (await create(api, PODS, pod("deadline", activeDeadlineSeconds=30)))[0] == 201  # Terminating: out of scope
    assert (await create(api, PODS, pod("small", "600m")))[0] == 201
    code, body = await create(api, PODS, pod("big", "500m"))
    assert code == 403 and body["message"] == ('pods "big" is forbidden: exceeded quota: cpu, requested: requests.cpu=500m, '
                                               "used: requests.cpu=600m, limited: requests.cpu=1")
    assert await used(api, "cpu") == {"requests.cpu": "600m"}


async def test_object_counts_and_service_updates(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    await quota(api, gateway, "objects", {"count/deployments.apps": "1", "services.nodeports": "1"})
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d1"},
                  "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                      "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}
    assert (await create(api, DEPLOYMENTS, deployment))[0] == 201
    code, body = await create(api, DEPLOYMENTS, {**deployment, "metadata": {"name": "d2"}})
    assert code == 403 and body["message"] == (
        'deployments.apps "d2" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, '
        "used: count/deployments.apps=1, limited: count/deployments.apps=1")

    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]}}
    code, created = await create(api, SERVICES, service)
    assert code == 201
    created["spec"]["type"] = "NodePort"
    async with api.put(f"{SERVICES}/s", json=created) as r:
        body = await r.json()
        assert r.status == 403, body
    assert body["message"] == ('services "s" is forbidden: exceeded quota: objects, requested: services.nodeports=2, '
                               "used: services.nodeports=0, limited: services.nodeports=1")


async def test_parallel_creates_never_pass_hard(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    await quota(api, gateway, "three", {"pods": "3"})
    codes = await asyncio.gather(*(create(api, PODS, pod(f"p{i}")) for i in range(10)))
    assert sorted(code for code, _ in codes) == [201] * 3 + [403] * 7
    assert await used(api, "three") == {"pods": "3"}
    async with api.get(PODS) as r:
        assert len((await r.json())["items"]) == 3
    await sync(gateway, "three")
    assert await used(api, "three") == {"pods": "3"}


async def test_a_burst_of_creates_takes_turns_instead_of_conflicting(api: aiohttp.ClientSession,
                                                                    gateway: Gateway) -> None:
    """50 creates at once against room for 40: each one's charge compares the revision the one before wrote
    (one charged write at a time per namespace in a process), so none runs out of retries with a 409."""
    await quota(api, gateway, "forty", {"pods": "40"})
    codes = await asyncio.gather(*(create(api, PODS, pod(f"b{i}")) for i in range(50)))
    assert sorted(code for code, _ in codes) == [201] * 40 + [403] * 10
    assert await used(api, "forty") == {"pods": "40"}


async def test_quota_validation_and_columns(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    code, body = await create(api, QUOTAS, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "bad"},
                                            "spec": {"hard": {"pods": "-1"}, "scopes": ["BestEffort", "NotBestEffort"]}})
    assert code == 422
    assert [(c["field"], c["message"]) for c in body["details"]["causes"]] == [
        ("spec.hard[pods]", 'Invalid value: "-1": must be greater than or equal to 0'),
        ("spec.scopes", 'Invalid value: ["BestEffort", "NotBestEffort"]: conflicting scopes')]
    await quota(api, gateway, "q", {"pods": "4", "requests.memory": "1Gi", "limits.cpu": "2"})
    async with api.get(f"{QUOTAS}/q", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}) as r:
        table = await r.json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age", "Request", "Limit"]
    row = table["rows"][0]["cells"]
    assert (row[0], row[2], row[3]) == ("q", "pods: 0/4, requests.memory: 0/1Gi", "limits.cpu: 0/2")


async def test_claims_storage_per_class(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    await quota(api, gateway, "storage", {"requests.storage": "3Gi",
                                          "gold.storageclass.storage.k8s.io/persistentvolumeclaims": "1"})
    claims = f"{NS}/persistentvolumeclaims"

    def claim(name: str, size: str, storage_class: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                         "resources": {"requests": {"storage": size}}}}
    assert (await create(api, claims, claim("a", "1Gi", "gold")))[0] == 201
    code, body = await create(api, claims, claim("b", "1Gi", "gold"))
    assert code == 403 and body["message"] == (
        'persistentvolumeclaims "b" is forbidden: exceeded quota: storage, requested: '
        "gold.storageclass.storage.k8s.io/persistentvolumeclaims=1, used: "
        "gold.storageclass.storage.k8s.io/persistentvolumeclaims=1, limited: "
        "gold.storageclass.storage.k8s.io/persistentvolumeclaims=1")
    code, body = await create(api, claims, claim("c", "2560Mi", "silver"))
    assert code == 403 and "requested: requests.storage=2560Mi, used: requests.storage=1Gi, limited: " \
        "requests.storage=3Gi" in body["message"]
    assert (await create(api, claims, claim("d", "2Gi", "silver")))[0] == 201
    assert await used(api, "storage") == {"requests.storage": "3Gi",
                                          "gold.storageclass.storage.k8s.io/persistentvolumeclaims": "1"}
    await sync(gateway, "storage")
    assert await used(api, "storage") == {"requests.storage": "3Gi",
                                          "gold.storageclass.storage.k8s.io/persistentvolumeclaims": "1"}


async def test_two_writers_with_their_own_caches_never_pass_hard(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    """A second Store (a controller manager's, with its own cached quotas) and the gateway create at once:
    each charge compares the quota's revision, so a stale cache costs a retry, never an extra pod."""
    from kubelite.api import errors
    from kubelite.api.core import Pod
    from kubelite.api.resources import PODS as PODS_RESOURCE

    assert gateway.state is not None
    other = Store(gateway.state.client)
    await quota(api, gateway, "four", {"pods": "4", "count/pods": "4"})

    async def through_store(i: int) -> int:
        try:
            doc = pod(f"s{i}")
            doc["metadata"]["namespace"] = "default"
            await other.create(PODS_RESOURCE, Pod.model_validate(doc))
        except errors.ApiError as exc:
            return exc.code
        return 201
    results = await asyncio.gather(*(through_store(i) for i in range(6)),
                                   *(create(api, PODS, pod(f"g{i}")) for i in range(6)))
    codes = [r if isinstance(r, int) else r[0] for r in results]
    assert sorted(codes) == [201] * 4 + [403] * 8
    assert await used(api, "four") == {"pods": "4", "count/pods": "4"}
    await sync(gateway, "four")
    assert await used(api, "four") == {"pods": "4", "count/pods": "4"}


async def test_a_claims_growth_is_charged(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    await quota(api, gateway, "grow", {"requests.storage": "2Gi"})
    claims = f"{NS}/persistentvolumeclaims"
    code, created = await create(api, claims, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    assert code == 201
    created["spec"]["resources"]["requests"]["storage"] = "3Gi"
    async with api.put(f"{claims}/data", json=created) as r:
        body = await r.json()
    assert r.status == 403 and body["message"] == (
        'persistentvolumeclaims "data" is forbidden: exceeded quota: grow, requested: requests.storage=2Gi, '
        "used: requests.storage=1Gi, limited: requests.storage=2Gi")
    created["spec"]["resources"]["requests"]["storage"] = "2Gi"
    async with api.put(f"{claims}/data", json=created) as r:
        body = await r.json()
        assert r.status == 200, body
    assert await used(api, "grow") == {"requests.storage": "2Gi"}
