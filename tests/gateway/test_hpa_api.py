"""HorizontalPodAutoscalers through the gateway: autoscaling/v2 stored, the v1 view, kubectl autoscale and
get hpa (real kubectl 1.32, whose autoscale sends a protobuf autoscaling/v1 body), bad input."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from kubelite.api import hpa
from kubelite.registry.printers import hpa_targets
from tests.gateway.conftest import Kubectl

pytestmark = pytest.mark.timeout(90)
V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "web", "image": "kubelite/demo:latest"}]}}}}


async def etcd_revision(api: aiohttp.ClientSession) -> str:
    async with api.get("/api/v1/namespaces") as r:
        return str((await r.json())["metadata"]["resourceVersion"])


async def test_kubectl_autoscale_and_get_hpa(kubectl: Kubectl, api: aiohttp.ClientSession) -> None:
    await kubectl("apply", "-f", "-", stdin=json.dumps(DEPLOYMENT))
    out = await kubectl("autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=10")
    assert out.stdout.strip() == "horizontalpodautoscaler.autoscaling/web autoscaled"
    async with api.get(f"{V2}/web") as r:
        stored = await r.json()
    assert stored["apiVersion"] == "autoscaling/v2" and stored["spec"]["metrics"] == [hpa.cpu_utilization_metric(50)]
    assert stored["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert stored["status"] == {"desiredReplicas": 0}
    async with api.get(f"{V1}/web") as r:
        viewed = await r.json()
    assert viewed["apiVersion"] == "autoscaling/v1" and viewed["spec"]["targetCPUUtilizationPercentage"] == 50
    async with api.get(V1) as r:
        listed = await r.json()
    assert listed["kind"] == "HorizontalPodAutoscalerList" and listed["items"][0]["apiVersion"] == "autoscaling/v1"

    table = (await kubectl("get", "hpa")).stdout.splitlines()
    assert table[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert table[1].split()[:7] == ["web", "Deployment/web", "cpu:", "<unknown>/50%", "1", "10", "0"]
    names = (await kubectl("get", "all", "-o", "name")).stdout.split()
    assert "horizontalpodautoscaler.autoscaling/web" in names
    described = (await kubectl("describe", "hpa", "web")).stdout
    assert "Reference:" in described and "Deployment/web" in described
    assert "horizontalpodautoscaler.autoscaling \"web\" deleted" in (await kubectl("delete", "hpa", "web")).stdout


async def test_v1_round_trip_keeps_what_v1_cannot_say(api: aiohttp.ClientSession) -> None:
    body: dict[str, Any] = {"metadata": {"name": "two"}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5,
        "metrics": [hpa.cpu_utilization_metric(60),
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                                  "averageValue": "64Mi"}}}],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}}
    async with api.post(V2, json=body) as r:
        assert r.status == 201, await r.text()
        created = await r.json()
    # defaults: minReplicas 1, the given behavior completed with kube's rules
    assert created["spec"]["minReplicas"] == 1
    assert created["spec"]["behavior"]["scaleUp"] == hpa.SCALE_UP_DEFAULTS
    assert created["spec"]["behavior"]["scaleDown"]["policies"] == hpa.SCALE_DOWN_DEFAULTS["policies"]
    async with api.get(f"{V1}/two") as r:
        v1 = await r.json()
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 60
    assert hpa.METRICS_ANNOTATION in v1["metadata"]["annotations"]
    v1["spec"]["maxReplicas"] = 7
    async with api.put(f"{V1}/two", json=v1) as r:
        assert r.status == 200, await r.text()
    async with api.get(f"{V2}/two") as r:
        after = await r.json()
    assert after["spec"]["maxReplicas"] == 7 and after["spec"]["metrics"] == created["spec"]["metrics"]
    assert after["spec"]["behavior"] == created["spec"]["behavior"]
    assert hpa.METRICS_ANNOTATION not in (after["metadata"].get("annotations") or {})
    async with api.get(f"{V1}?watch=1") as r:
        assert r.status == 405 and "autoscaling/v2" in (await r.json())["message"]


@pytest.mark.parametrize(("spec", "field"), [
    ({"maxReplicas": 2, "minReplicas": 3}, "spec.maxReplicas"),
    ({"maxReplicas": 2, "minReplicas": 0}, "spec.minReplicas"),
    ({"minReplicas": 1}, "spec.maxReplicas"),
    ({"maxReplicas": 2, "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization"}}}]}, "spec.metrics[0].resource.target.averageUtilization"),
    ({"maxReplicas": 2, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 4000}}},
     "spec.behavior.scaleDown.stabilizationWindowSeconds"),
    ({"maxReplicas": 2, "behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}}},
     "spec.behavior.scaleUp.policies[0].value"),
])
async def test_invalid_hpas_are_422_naming_the_field(api: aiohttp.ClientSession, spec: dict[str, Any],
                                                     field: str) -> None:
    before = await etcd_revision(api)
    body = {"metadata": {"name": "bad"}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, **spec}}
    async with api.post(V2, json=body) as r:
        status = await r.json()
    assert r.status == 422 and field in [c["field"] for c in status["details"]["causes"]], status
    assert await etcd_revision(api) == before


def test_targets_column() -> None:
    spec = {"metrics": [hpa.cpu_utilization_metric(50),
                        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                                      "averageValue": "64Mi"}}},
                        hpa.cpu_utilization_metric(70)]}
    status = {"currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40}}}]}
    assert hpa_targets(spec, status) == "cpu: 40%/50%, memory: <unknown>/64Mi + 1 more..."
    assert hpa_targets({}, {}) == "<none>"




async def test_official_python_client_in_both_versions(k8s: Any) -> None:
    import asyncio

    from kubernetes import client

    v1 = client.AutoscalingV1Api(k8s)
    body = client.V1HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name="py"),
        spec=client.V1HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V1CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name="web"),
            min_replicas=2, max_replicas=6, target_cpu_utilization_percentage=70))
    created = await asyncio.to_thread(v1.create_namespaced_horizontal_pod_autoscaler, "default", body)
    assert created.spec.target_cpu_utilization_percentage == 70 and created.status.desired_replicas == 0
    v2 = client.AutoscalingV2Api(k8s)
    read = await asyncio.to_thread(v2.read_namespaced_horizontal_pod_autoscaler, "py", "default")
    assert read.spec.metrics[0].resource.target.average_utilization == 70 and read.spec.min_replicas == 2
    patched = await asyncio.to_thread(v2.patch_namespaced_horizontal_pod_autoscaler, "py", "default",
                                      {"spec": {"maxReplicas": 9}})
    assert patched.spec.max_replicas == 9
    listed = await asyncio.to_thread(v1.list_namespaced_horizontal_pod_autoscaler, "default")
    assert [(h.metadata.name, h.spec.max_replicas) for h in listed.items] == [("py", 9)]
    await asyncio.to_thread(v1.delete_namespaced_horizontal_pod_autoscaler, "py", "default")
