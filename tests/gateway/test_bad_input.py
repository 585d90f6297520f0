"""Bad requests get the right Status and write nothing (etcd's revision is unchanged)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from kubelite.gateway import Gateway
from tests.gateway.conftest import etcd_revision
from tests.gateway.test_api import PODS, create, pod

pytestmark = pytest.mark.timeout(90)

BIG = "x" * (2 * 1024 * 1024)


def with_spec(**changes: Any) -> dict[str, Any]:
    doc = pod("web")
    doc["spec"]["containers"][0].update(changes)
    return doc


CASES = [
    # (description, method, path, body, content type, code, reason, field or message part)
    ("malformed JSON", "POST", PODS, '{"apiVersion": "v1", "kind": ', "application/json", 400, "BadRequest", "JSON"),
    ("malformed YAML", "POST", PODS, "kind: Pod\n  metadata: [", "application/yaml", 400, "BadRequest", "YAML"),
    ("a list, not an object", "POST", PODS, "[1, 2]", "application/json", 400, "BadRequest", "object"),
    ("unknown kind", "POST", PODS, json.dumps({"apiVersion": "v1", "kind": "Gizmo", "metadata": {"name": "g"}}),
     "application/json", 400, "BadRequest", "Gizmo"),
    ("kind of another resource", "POST", PODS, json.dumps({"apiVersion": "v1", "kind": "Node",
                                                           "metadata": {"name": "n"}}),
     "application/json", 400, "BadRequest", "this URL serves Pod"),
    ("wrong type", "POST", PODS, json.dumps(with_spec(ports=[{"containerPort": "eighty"}])), "application/json",
     422, "Invalid", "spec.containers[0].ports[0].containerPort"),
    ("invalid name", "POST", PODS, json.dumps({**pod("x"), "metadata": {"name": "Not_Valid"}}), "application/json",
     422, "Invalid", "metadata.name"),
    ("namespace mismatch", "POST", PODS, json.dumps({**pod("x"), "metadata": {"name": "x", "namespace": "other"}}),
     "application/json", 400, "BadRequest", "namespace"),
    ("2 MiB object", "POST", PODS, json.dumps({**pod("big"), "metadata": {"name": "big", "annotations": {"a": BIG}}}),
     "application/json", 413, "RequestEntityTooLarge", "limit"),
    ("missing namespace", "POST", "/api/v1/namespaces/nope/pods", json.dumps(pod("x")), "application/json",
     404, "NotFound", 'namespaces "nope" not found'),
    ("unknown resource", "POST", "/api/v1/namespaces/default/gizmos", "{}", "application/json", 404, "NotFound",
     "the server could not find the requested resource"),  # kube-apiserver's words; it names no resource
    ("empty body", "POST", PODS, "", "application/json", 400, "BadRequest", "empty"),
    ("strict unknown field", "POST", PODS + "?fieldValidation=Strict",
     json.dumps({**pod("x"), "spec": {**pod("x")["spec"], "bogus": 1}}), "application/json", 400, "BadRequest",
     'unknown field "spec.bogus"'),
    ("bad fieldValidation", "POST", PODS + "?fieldValidation=Loud", json.dumps(pod("x")), "application/json",
     400, "BadRequest", "fieldValidation"),
    ("bad label selector", "GET", PODS + "?labelSelector=a%20in%20(", None, None, 400, "BadRequest", ""),
    ("bad dryRun", "POST", PODS + "?dryRun=Some", json.dumps(pod("x")), "application/json", 400, "BadRequest",
     "dryRun"),
    ("limit past int64", "GET", PODS + "?limit=" + "9" * 30, None, None, 400, "BadRequest", "out of range"),
    ("timeoutSeconds past int64", "GET", PODS + "?watch=1&timeoutSeconds=" + "9" * 20, None, None, 400,
     "BadRequest", "out of range"),
    ("method not allowed", "POST", PODS + "/web/log", "{}", "application/json", 405, "MethodNotAllowed", ""),
]


@pytest.mark.parametrize(("what", "method", "path", "body", "ctype", "code", "reason", "part"), CASES,
                         ids=[c[0] for c in CASES])
async def test_rejected_request_writes_nothing(
    api: aiohttp.ClientSession, gateway: Gateway, what: str, method: str, path: str, body: str | None,
    ctype: str | None, code: int, reason: str, part: str,
) -> None:
    await create(api, PODS, pod("web"))
    before = await etcd_revision(gateway)
    headers = {"Content-Type": ctype} if ctype else {}
    async with api.request(method, path, data=body.encode() if body is not None else None, headers=headers) as r:
        status = await r.json()
    assert r.status == code, status
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert status["code"] == code and status["reason"] == reason
    if part:
        causes = [c.get("field", "") for c in (status.get("details") or {}).get("causes", [])]
        assert part in status["message"] or part in causes, status
    assert await etcd_revision(gateway) == before


async def test_stale_resource_version_on_update_and_patch(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    created = await create(api, PODS, pod("web"))
    async with api.patch(f"{PODS}/web", data=json.dumps({"metadata": {"labels": {"v": "2"}}}),
                         headers={"Content-Type": "application/merge-patch+json"}) as r:
        assert r.status == 200
    before = await etcd_revision(gateway)
    stale = {**created, "metadata": {**created["metadata"], "labels": {"v": "3"}}}
    async with api.put(f"{PODS}/web", json=stale) as r:
        assert r.status == 409 and (await r.json())["reason"] == "Conflict"
    patch = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"], "labels": {"v": "4"}}}
    async with api.patch(f"{PODS}/web", data=json.dumps(patch),
                         headers={"Content-Type": "application/merge-patch+json"}) as r:
        assert r.status == 409
    assert await etcd_revision(gateway) == before


async def test_warn_mode_prunes_unknown_fields_and_warns(api: aiohttp.ClientSession) -> None:
    doc = pod("web")
    doc["spec"]["bogus"] = True
    doc["spec"]["containers"][0]["securityContext"] = {"runAsUser": 1000, "seLinuxOptions": {"level": "s0"}}
    async with api.post(PODS, json=doc) as r:
        created = await r.json()
        warnings = r.headers.getall("Warning", [])
    assert r.status == 201
    assert '299 - "unknown field \\"spec.bogus\\""' in warnings
    assert any("securityContext.seLinuxOptions" in w and "does not act on it" in w for w in warnings)
    assert "bogus" not in created["spec"]  # Kubernetes drops what it does not know...
    assert created["spec"]["containers"][0]["securityContext"] == {  # ...kubelite keeps the rest
        "runAsUser": 1000, "seLinuxOptions": {"level": "s0"}}


async def test_too_large_by_content_length_is_refused_before_reading(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    before = await etcd_revision(gateway)
    async with api.post(PODS, data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                        headers={"Content-Type": "application/json"}) as r:
        assert r.status == 413
    assert await etcd_revision(gateway) == before
