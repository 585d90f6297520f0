"""LimitRange admission through the gateway on a real etcd: a pod created in a namespace with a LimitRange
gets its container defaults (and the kubernetes.io/limit-ranger annotation), one breaking a constraint is
refused with 403 and nothing stored, a pod a controller writes straight through the Store is admitted the
same way, and a claim outside the storage bounds is refused."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kubelite.api.core import Pod
from kubelite.api.resources import PODS as PODS_RESOURCE
from kubelite.gateway import Gateway
from tests.gateway.conftest import etcd_revision

pytestmark = pytest.mark.timeout(90)

PODS = "/api/v1/namespaces/default/pods"
LIMITS = "/api/v1/namespaces/default/limitranges"
CLAIMS = "/api/v1/namespaces/default/persistentvolumeclaims"

LIMIT_RANGE = {
    "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
    "spec": {"limits": [
        {"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
         "defaultRequest": {"cpu": "100m", "memory": "128Mi"}, "max": {"cpu": "1"}},
        {"type": "PersistentVolumeClaim", "max": {"storage": "1Gi"}},
    ]},
}


def pod(name: str, container: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "kubelite/demo:latest", **(container or {})}]}}


async def test_limit_range_defaults_and_constraints(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    async with api.post(LIMITS, json=LIMIT_RANGE) as r:
        stored = await r.json()
        assert r.status == 201, stored
    assert stored["spec"]["limits"][0]["default"] == {"cpu": "500m", "memory": "256Mi"}  # max did not replace it

    async with api.post(PODS, json=pod("plain")) as r:
        created = await r.json()
        assert r.status == 201, created
    assert created["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
    assert created["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c")
    assert created["status"]["qosClass"] == "Burstable"

    before = await etcd_revision(gateway)
    async with api.post(PODS, json=pod("greedy", {"resources": {"limits": {"cpu": "2"}}})) as r:
        refused = await r.json()
    assert r.status == 403 and refused["reason"] == "Forbidden"
    assert refused["message"] == 'pods "greedy" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
    assert await etcd_revision(gateway) == before  # nothing stored

    # a controller's pod, written straight through the Store, is admitted the same way
    assert gateway.state is not None
    stored = await gateway.state.store.create(PODS_RESOURCE, Pod.model_validate({**pod("by-controller"),
                                                                                "metadata": {"name": "by-controller",
                                                                                             "namespace": "default"}}))
    resources = stored.spec.containers[0].resources
    assert resources is not None and resources.limits == {"cpu": "500m", "memory": "256Mi"}

    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "big"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}
    async with api.post(CLAIMS, json=claim) as r:
        refused = await r.json()
    assert r.status == 403, refused
    assert refused["message"] == ('persistentvolumeclaims "big" is forbidden: maximum storage usage per '
                                  "PersistentVolumeClaim is 1Gi, but request is 5Gi")


async def test_an_invalid_limit_range_is_refused(api: aiohttp.ClientSession) -> None:
    bad = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "bad"},
           "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}}
    async with api.post(LIMITS, json=bad) as r:
        body = await r.json()
    assert r.status == 422
    assert [(c["field"], c["message"]) for c in body["details"]["causes"]] == [
        ("spec.limits[0].min[cpu]", 'Invalid value: "2": min value 2 is greater than max value 1')]


async def test_a_limit_range_with_a_bad_quantity_is_refused_and_pods_still_go(api: aiohttp.ClientSession) -> None:
    bad = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "typo"},
           "spec": {"limits": [{"type": "Pod", "max": {"cpu": "abc"}}]}}
    async with api.post(LIMITS, json=bad) as r:
        body = await r.json()
    assert r.status == 422 and body["details"]["causes"][0]["field"] == "spec.limits[0].max[cpu]", body
    async with api.post(PODS, json=pod("fine")) as r:
        assert r.status == 201, await r.json()
