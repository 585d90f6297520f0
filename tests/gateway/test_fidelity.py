"""Byte-level fidelity with kube-apiserver: discovery with a trailing slash, Status bodies, create responses."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from kubernetes import client

from kubelite.api import errors
from kubelite.gateway import Gateway
from kubelite.gateway.respond import render, status_doc
from tests.gateway.conftest import Kubectl

pytestmark = pytest.mark.timeout(90)

DISCOVERY = ["/version", "/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/apis/coordination.k8s.io/v1"]


@pytest.mark.parametrize("path", DISCOVERY)
async def test_discovery_answers_with_and_without_a_trailing_slash(api: aiohttp.ClientSession, path: str) -> None:
    async with api.get(path) as plain, api.get(path + "/") as slashed:
        assert plain.status == slashed.status == 200
        assert await plain.json() == await slashed.json()


async def test_python_client_discovery_calls(k8s: client.ApiClient) -> None:
    """The official client asks for /version/, /api/, /apis/, /api/v1/, /apis/apps/, /apis/apps/v1/."""
    version = await asyncio.to_thread(client.VersionApi(k8s).get_code)
    assert (version.major, version.minor) == ("1", "32")
    assert (await asyncio.to_thread(client.CoreApi(k8s).get_api_versions)).versions == ["v1"]
    groups = await asyncio.to_thread(client.ApisApi(k8s).get_api_versions)
    assert "apps" in [g.name for g in groups.groups]
    core = await asyncio.to_thread(client.CoreV1Api(k8s).get_api_resources)
    assert "pods" in [r.name for r in core.resources]
    group = await asyncio.to_thread(client.AppsApi(k8s).get_api_group)
    assert group.preferred_version.group_version == "apps/v1"
    apps = await asyncio.to_thread(client.AppsV1Api(k8s).get_api_resources)
    assert "deployments" in [r.name for r in apps.resources]


# -- Status bodies, byte for byte (k8s.io/apimachinery: metav1.Status field order, json.Encoder's newline) --

async def test_not_found_status_bytes(api: aiohttp.ClientSession) -> None:
    async with api.get("/api/v1/namespaces/default/pods/nope") as r:
        assert r.status == 404 and r.content_type == "application/json"
        assert await r.read() == (
            b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"nope\\" not found",'
            b'"reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}\n'
        )
    async with api.get("/apis/apps/v1/namespaces/default/deployments/web") as r:
        assert await r.read() == (
            b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
            b'"message":"deployments.apps \\"web\\" not found","reason":"NotFound",'
            b'"details":{"name":"web","group":"apps","kind":"deployments"},"code":404}\n'
        )
    async with api.get("/api/v1/componentstatuses") as r:  # a resource not served
        assert await r.read() == (
            b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
            b'"message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}\n'
        )


async def test_invalid_status_bytes(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }
    async with api.post("/apis/apps/v1/namespaces/default/deployments", data=json.dumps(deployment),
                        headers={"Content-Type": "application/json"}) as r:
        assert r.status == 422
        assert await r.read() == (  # what kube-apiserver 1.32 answers for the same body
            b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Deployment.apps \\"web\\" '
            b'is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0","reason":"Invalid",'
            b'"details":{"name":"web","group":"apps","kind":"Deployment","causes":[{"reason":"FieldValueInvalid",'
            b'"message":"Invalid value: -1: must be greater than or equal to 0","field":"spec.replicas"}]},'
            b'"code":422}\n'
        )


def test_render_escapes_like_go() -> None:
    error = errors.not_found("pods", "a<b>&c\u2028")
    assert render(status_doc(error)) == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"pods \\"a\\u003cb\\u003e\\u0026c\\u2028\\" not found","reason":"NotFound",'
        b'"details":{"name":"a\\u003cb\\u003e\\u0026c\\u2028","kind":"pods"},"code":404}\n'
    )
    assert render(status_doc(errors.bad_request("no"))) == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"no","reason":"BadRequest",'
        b'"code":400}\n'
    )
    internal = status_doc(errors.internal("boom"))
    assert internal["message"] == "Internal error occurred: boom"
    assert internal["details"] == {"causes": [{"message": "boom"}]}


@pytest.mark.parametrize(("plural", "kind", "status"), [
    ("deployments", "Deployment", {}), ("replicasets", "ReplicaSet", {"replicas": 0}),  # replicas: no omitempty in Go
])
async def test_create_answers_and_stores_the_reset_status(api: aiohttp.ClientSession, plural: str, kind: str,
                                                          status: dict[str, int]) -> None:
    doc = {
        "apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "status": {"replicas": 5, "readyReplicas": 5},  # a client's status is not kept
    }
    path = f"/apis/apps/v1/namespaces/default/{plural}"
    async with api.post(path, data=json.dumps(doc), headers={"Content-Type": "application/json"}) as r:
        assert r.status == 201
        assert (await r.json())["status"] == status
    async with api.get(f"{path}/web") as r:
        assert (await r.json())["status"] == status


# -- /openapi/v2: kubectl's fallback for kinds the v3 documents lack (issue 10) ----------------------

@pytest.mark.parametrize(("manifest", "kind", "version"), [
    ("apiVersion: v1\nkind: ComponentStatus\nmetadata: {name: c}\n", "ComponentStatus", "v1"),
    ("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", "Widget", "example.com/v1"),
])
async def test_apply_of_a_kind_not_served_says_no_matches(kubectl: Kubectl, manifest: str, kind: str,
                                                           version: str) -> None:
    for verb in ("apply", "create"):
        result = await kubectl(verb, "-f", "-", "-v=6", stdin=manifest, check=False)
        assert result.returncode != 0
        assert f'no matches for kind "{kind}" in version "{version}"' in result.stderr, result.stderr[-1500:]
        assert "failed to download openapi" not in result.stderr
        assert "GET http" in result.stderr and "/openapi/v2" in result.stderr and " 200 OK" in result.stderr


async def test_served_kinds_still_validate_on_the_server(kubectl: Kubectl) -> None:
    manifest = ("apiVersion: v1\nkind: Namespace\nmetadata: {name: ns-x}\nspec: {bogus: 1}\n")
    result = await kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert result.returncode != 0 and 'unknown field "spec.bogus"' in result.stderr


async def test_openapi_v2_json_and_protobuf(api: aiohttp.ClientSession) -> None:
    async with api.get("/openapi/v2") as r:
        assert r.status == 200
        doc = await r.json()
        assert doc["swagger"] == "2.0" and doc["paths"] == {} and doc["definitions"] == {}
    accept = {"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}
    async with api.get("/openapi/v2", headers=accept) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        # field 1 (swagger, string "2.0"), then field 2 (info)
        assert (await r.read()).startswith(b"\x0a\x032.0\x12")


def test_as_protobuf_only_for_objects_protobuf_can_carry() -> None:
    from kubelite.gateway import protobuf  # noqa: PLC0415
    from kubelite.gateway.respond import as_protobuf, json_response, prefers_protobuf  # noqa: PLC0415

    assert prefers_protobuf("application/vnd.kubernetes.protobuf, application/json")
    assert not prefers_protobuf("application/json, application/vnd.kubernetes.protobuf")
    node = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n"}, "status": {"phase": "Running"}}
    converted = as_protobuf(json_response(node, warnings=["careful"]))
    assert converted.content_type == protobuf.MEDIA_TYPE and converted.headers["Warning"] == '299 - "careful"'
    assert protobuf.decode_object(converted.body) == node  # type: ignore[arg-type]
    odd = {**node, "status": {"daemon_endpoints": {}}}  # no such field in Kubernetes: stays JSON
    assert as_protobuf(json_response(odd)).content_type == "application/json"
    listed = {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [node]}
    assert as_protobuf(json_response(listed)).content_type == "application/json"
    assert as_protobuf(json_response(status_doc(errors.bad_request("no")), status=400)).content_type == \
        "application/json"


async def test_a_get_serves_the_bytes_the_decoded_object_renders_to(api: aiohttp.ClientSession,
                                                                     gateway: Gateway) -> None:
    """A GET answers with the stored bytes, resourceVersion spliced in (nothing parsed): the document
    rendering the decoded object gives (metadata's members in stored order, resourceVersion first,
    as a LIST's items), Go's escapes included, and the same object a LIST carries; a Table and
    protobuf still come from the object."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "annotations": {"note": "a<b>&c\u2028"}, "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "c", "image": "i"}]}}
    async with api.post("/api/v1/namespaces/default/pods", json=pod) as r:
        assert r.status == 201
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    async with api.post("/api/v1/nodes", json=node) as r:
        assert r.status == 201
    assert gateway.state is not None
    store = gateway.state.store
    from kubelite.api.resources import NODES, PODS

    for path, res, name, namespace in (("/api/v1/namespaces/default/pods/p", PODS, "p", "default"),
                                       ("/api/v1/nodes/n1", NODES, "n1", None)):
        async with api.get(path) as r:
            assert r.status == 200 and r.content_type == "application/json"
            body = await r.read()
        assert body.endswith(b"}\n")
        assert json.loads(body) == json.loads(render((await store.get(res, name, namespace)).to_dict()))
    async with api.get("/api/v1/namespaces/default/pods/p") as r:
        got = await r.read()
    assert b'"note":"a\\u003cb\\u003e\\u0026c\\u2028"' in got
    async with api.get("/api/v1/namespaces/default/pods") as r:
        assert json.loads(got) == (await r.json())["items"][0]
    async with api.get("/api/v1/namespaces/default/pods/p",
                       headers={"Accept": "application/vnd.kubernetes.protobuf, application/json"}) as r:
        assert r.content_type == "application/vnd.kubernetes.protobuf"
    async with api.get("/api/v1/namespaces/default/pods/p",
                       headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}) as r:
        assert (await r.json())["kind"] == "Table"


async def test_a_malformed_node_lease_is_served_as_its_bare_identity(api: aiohttp.ClientSession,
                                                                     gateway: Gateway) -> None:
    """A node writes its own Lease key straight to etcd: a value the Lease model refuses is served,
    by a GET and by a LIST alike, as that node's bare Lease, never as the node wrote it."""
    from kubelite.etcd.ops import op_delete, op_put, txn

    assert gateway.state is not None
    key = "/registry/leases/kube-node-lease/n1"
    bad = b'{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n1"},' \
          b'"spec":{"leaseDurationSeconds":"soon"}}'
    await txn(gateway.state.client, [], [op_put(key, bad)], [], what="node write")
    try:
        async with api.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1") as r:
            got = await r.json()
        assert got["metadata"]["name"] == "n1" and got["metadata"]["namespace"] == "kube-node-lease"
        assert "soon" not in json.dumps(got)
        async with api.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases") as r:
            assert (await r.json())["items"] == [got]
    finally:  # etcd holds only valid objects at teardown (tests/strict_etcd.py)
        await txn(gateway.state.client, [], [op_delete(key)], [], what="clean up")
