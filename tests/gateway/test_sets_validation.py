"""DaemonSet and StatefulSet write rules through the gateway: 422 naming the field, etcd untouched;
the defaults kube stores; ControllerRevisions served."""

from __future__ import annotations

import copy
import json
from typing import Any

import aiohttp

from kubelite.gateway import Gateway
from tests.gateway.conftest import etcd_revision

APPS = "/apis/apps/v1/namespaces/default"
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "demo:1"}]}}
DS = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"},
      "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE}}
STS = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "sts"},
       "spec": {"serviceName": "sts", "selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE,
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}}


def changed(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return result


BAD = (
    (changed(DS, "spec.selector", {"matchLabels": {"app": "y"}}), "daemonsets", "spec.template.metadata.labels"),
    (changed(DS, "spec.selector", {}), "daemonsets", "spec.selector"),
    (changed(DS, "spec.updateStrategy", {"type": "Sometimes"}), "daemonsets", "spec.updateStrategy.type"),
    (changed(DS, "spec.updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}),
     "daemonsets", "spec.updateStrategy.rollingUpdate.maxUnavailable"),
    (changed(STS, "spec.selector", {"matchLabels": {"app": "y"}}), "statefulsets", "spec.template.metadata.labels"),
    (changed(STS, "spec.podManagementPolicy", "Random"), "statefulsets", "spec.podManagementPolicy"),
    (changed(STS, "spec.replicas", -1), "statefulsets", "spec.replicas"),
    (changed(STS, "spec.template.spec.restartPolicy", "Never"), "statefulsets", "spec.template.spec.restartPolicy"),
)


async def test_invalid_sets_are_422_naming_the_field(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    before = await etcd_revision(gateway)
    for doc, plural, path in BAD:
        async with api.post(f"{APPS}/{plural}", json=doc) as response:
            status = await response.json()
            assert response.status == 422, status
            assert path in [c["field"] for c in status["details"]["causes"]], (path, status)
    assert await etcd_revision(gateway) == before


async def patch(api: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with api.patch(path, data=json.dumps(body),
                         headers={"Content-Type": "application/merge-patch+json"}) as response:
        return response.status, await response.json()


async def test_immutable_fields_defaults_and_revisions(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    async with api.post(f"{APPS}/statefulsets", json=STS) as response:
        created = await response.json()
        assert response.status == 201, created
    spec = created["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady" and spec["replicas"] == 1
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    async with api.post(f"{APPS}/daemonsets", json=DS) as response:
        assert response.status == 201
    before = await etcd_revision(gateway)
    for path, body, field in (
        (f"{APPS}/statefulsets/sts", {"spec": {"serviceName": "other"}}, "spec"),
        (f"{APPS}/statefulsets/sts", {"spec": {"volumeClaimTemplates": []}}, "spec"),
        (f"{APPS}/statefulsets/sts", {"spec": {"podManagementPolicy": "Parallel"}}, "spec"),
        (f"{APPS}/daemonsets/ds", {"spec": {"selector": {"matchLabels": {"app": "x", "b": "c"}},
                                            "template": {"metadata": {"labels": {"app": "x", "b": "c"}}}}},
         "spec.selector"),
    ):
        code, status = await patch(api, path, body)
        assert code == 422 and [c["field"] for c in status["details"]["causes"]] == [field], status
    assert await etcd_revision(gateway) == before
    code, updated = await patch(api, f"{APPS}/statefulsets/sts", {"spec": {"replicas": 3, "minReadySeconds": 5}})
    assert code == 200 and updated["spec"]["replicas"] == 3, updated
    revision = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r1"},
                "data": {"spec": {"template": TEMPLATE}}, "revision": 1}
    async with api.post(f"{APPS}/controllerrevisions", json=revision) as response:
        assert response.status == 201
    async with api.get(f"{APPS}/controllerrevisions/r1") as response:
        assert (await response.json())["revision"] == 1


async def test_priority_class_rules(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    base = "/apis/scheduling.k8s.io/v1/priorityclasses"

    def pc(name: str, value: int) -> dict[str, Any]:
        return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                "value": value}
    before = await etcd_revision(gateway)
    for doc, field in ((pc("system-mine", 5), "metadata.name"), (pc("huge", 2_000_000_000), "value")):
        async with api.post(base, json=doc) as response:
            status = await response.json()
            assert response.status == 422 and [c["field"] for c in status["details"]["causes"]] == [field], status
    assert await etcd_revision(gateway) == before
    async with api.post(base, json=pc("high", 1000)) as response:
        assert response.status == 201
    code, status = await patch(api, f"{base}/high", {"value": 5})
    assert code == 422 and status["details"]["causes"][0]["field"] == "value", status


async def test_wrong_types_in_a_template_are_422_not_500(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    before = await etcd_revision(gateway)
    for plural, doc in (("daemonsets", DS), ("statefulsets", STS)):
        bad = changed(doc, "spec.template.spec", {"containers": [{"name": 5, "image": "x"}], "tolerations": "all"})
        async with api.post(f"{APPS}/{plural}", json=bad) as response:
            status = await response.json()
            assert response.status == 422, status
        bad = changed(doc, "spec.selector", {"matchLabels": "x"})
        async with api.post(f"{APPS}/{plural}", json=bad) as response:
            status = await response.json()
            assert response.status == 422, status
    assert await etcd_revision(gateway) == before
