"""The real kubectl 1.32's typed commands, which send protobuf bodies (case 20)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from kubelite.api.resources import DEPLOYMENTS, NAMESPACES, PODS
from kubelite.gateway import Gateway, protobuf
from tests.gateway.conftest import Kubectl
from tests.gateway.test_kubectl import seed_cluster, store_of
from tests.helpers import without_nulls

pytestmark = pytest.mark.timeout(120)

_IDENTITY = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")


def _without_identity(doc: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    for key in _IDENTITY:
        doc["metadata"].pop(key, None)
    for entry in doc["metadata"].get("managedFields", []):
        entry.pop("time", None)  # who owns what must match; when is each object's own
    return doc


async def test_create_subcommands_for_served_kinds_store_what_json_would(kubectl: Kubectl, gateway: Gateway) -> None:
    store = store_of(gateway)
    # protobuf: the typed commands
    verbose = await kubectl("create", "namespace", "by-proto", "-v=8")
    assert f"Content-Type: {protobuf.MEDIA_TYPE}" in verbose.stderr  # kubectl really sent protobuf
    await kubectl("create", "namespace", "by-json")
    args = ["create", "deployment", "web", "--image=example/web:1", "--image=example/side:2", "--replicas=0",
            "--port=8080"]
    await kubectl("-n", "by-proto", *args)
    await kubectl("-n", "by-proto", "create", "deployment", "plain", "--image=example/web:1")
    # JSON: the same objects, printed by kubectl and created from the file
    for name, extra in (("web", args[3:]), ("plain", ["--image=example/web:1"])):
        printed = await kubectl("-n", "by-json", "create", "deployment", name, *extra, "--dry-run=client", "-o", "json")
        await kubectl("create", "-f", "-", stdin=printed.stdout)
    ns = await kubectl("create", "namespace", "json-ns", "--dry-run=client", "-o", "json")
    await kubectl("create", "-f", "-", stdin=ns.stdout)

    for name in ("web", "plain"):
        by_proto = (await store.get(DEPLOYMENTS, name, "by-proto")).to_dict()
        by_json = (await store.get(DEPLOYMENTS, name, "by-json")).to_dict()
        assert _without_identity(by_proto) == _without_identity(by_json)
    web = (await store.get(DEPLOYMENTS, "web", "by-proto")).to_dict()
    assert web["spec"]["replicas"] == 0  # an explicit zero survives (a pointer in Go)
    assert [c["name"] for c in web["spec"]["template"]["spec"]["containers"]] == ["web", "side"]
    assert web["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert _without_identity((await store.get(NAMESPACES, "by-proto")).to_dict()) == \
        _without_identity((await store.get(NAMESPACES, "json-ns")).to_dict())


async def test_protobuf_dry_run_and_delete_options(kubectl: Kubectl, gateway: Gateway) -> None:
    store = store_of(gateway)
    dry = await kubectl("create", "namespace", "dry", "--dry-run=server", "-o", "json")
    assert json.loads(dry.stdout)["metadata"]["name"] == "dry"
    with pytest.raises(Exception, match="not found"):
        await store.get(NAMESPACES, "dry")
    # drain without evictions deletes pods through the typed client: DeleteOptions in protobuf
    await seed_cluster(store)  # node-1 with the pod api-1 on it
    drained = await kubectl("drain", "node-1", "--force", "--disable-eviction", "--grace-period=0", "-v=8", check=False)
    assert f"Content-Type: {protobuf.MEDIA_TYPE}" in drained.stderr
    assert "pod/api-1 deleted" in drained.stdout, drained.stderr[-2000:]
    with pytest.raises(Exception, match="not found"):
        await store.get(PODS, "api-1", "default")


# every `kubectl create <kind>` kind is served now (tests/gateway/test_kinds.py); the token subresource only
# with --service-account-signing-key-file (tests/security/test_gateway_x509_rbac.py)
@pytest.mark.parametrize("command", [
    ["create", "token", "default"],
])
async def test_kinds_not_served_answer_not_found(kubectl: Kubectl, command: list[str]) -> None:
    result = await kubectl(*command, check=False)
    assert result.returncode != 0
    assert "the server could not find the requested resource" in result.stderr, result.stderr
    assert "decode" not in result.stderr


async def test_protobuf_post_for_a_kind_not_served_is_404(api: aiohttp.ClientSession) -> None:
    body = protobuf.MAGIC + b"\n\x15\n\x02v1\x12\x0fComponentStatus\x12\x00"
    async with api.post("/api/v1/componentstatuses", data=body,
                        headers={"Content-Type": protobuf.MEDIA_TYPE}) as response:
        assert response.status == 404
        assert (await response.json())["reason"] == "NotFound"


async def test_malformed_protobuf_is_400_and_writes_nothing(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    for body in (b"k8s\x00\xff\xff\xff", b"not protobuf"):
        async with api.post("/api/v1/namespaces", data=body, headers={"Content-Type": protobuf.MEDIA_TYPE}) as response:
            assert response.status == 400
            assert "protobuf" in (await response.json())["message"]
    assert [n.name for n in (await store_of(gateway).list(NAMESPACES)).items] == \
        ["default", "kube-node-lease", "kube-public", "kube-system"]


async def test_protobuf_scale_put_to_zero(kubectl: Kubectl, api: aiohttp.ClientSession, gateway: Gateway) -> None:
    """A typed client's Scale with 0 replicas carries no spec.replicas (omitempty in Go): that is 0."""
    await kubectl("create", "deployment", "web", "--image=example/web:1", "--replicas=2")
    scale = {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web", "namespace": "default"},
             "spec": {}}
    async with api.put("/apis/apps/v1/namespaces/default/deployments/web/scale", data=protobuf.encode_object(scale),
                       headers={"Content-Type": protobuf.MEDIA_TYPE,
                                "Accept": f"{protobuf.MEDIA_TYPE}, application/json"}) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == protobuf.MEDIA_TYPE  # asked for first
        answer = protobuf.decode_object(await response.read())
        assert answer["kind"] == "Scale" and answer["spec"] == {}  # replicas 0: omitempty in Go
    assert (await store_of(gateway).get(DEPLOYMENTS, "web", "default")).spec.replicas == 0


async def test_protobuf_eviction(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    from tests.factories import make_pod  # noqa: PLC0415

    await store_of(gateway).create(PODS, make_pod("victim"))
    eviction = {"kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": "victim", "namespace": "default"},
                "deleteOptions": {"gracePeriodSeconds": 0}}
    async with api.post("/api/v1/namespaces/default/pods/victim/eviction", data=protobuf.encode_object(eviction),
                        headers={"Content-Type": protobuf.MEDIA_TYPE}) as response:
        assert response.status == 201, await response.text()
    with pytest.raises(Exception, match="not found"):
        await store_of(gateway).get(PODS, "victim", "default")


def _shown(doc: dict[str, Any]) -> dict[str, Any]:
    """What kubectl prints of a stored object: without managedFields (no --show-managed-fields)."""
    doc["metadata"].pop("managedFields", None)
    return doc


async def test_protobuf_responses_decode_in_kubectl_to_the_stored_object(kubectl: Kubectl, gateway: Gateway) -> None:
    """kubectl's typed create asks for protobuf first; what it decodes is the object stored."""
    store = store_of(gateway)
    verbose = await kubectl("create", "namespace", "answers", "-v=8")
    assert "Response Status: 201 Created" in verbose.stderr
    assert f"Content-Type: {protobuf.MEDIA_TYPE}" in verbose.stderr.split("Response Status")[1]
    printed = await kubectl("-n", "answers", "create", "deployment", "web", "--image=example/web:1", "--port=80",
                            "--replicas=0", "-o", "json")
    stored = _shown((await store.get(DEPLOYMENTS, "web", "answers")).to_dict())
    assert without_nulls(json.loads(printed.stdout)) == stored
    namespace = await kubectl("create", "namespace", "shown", "-o", "json")
    assert without_nulls(json.loads(namespace.stdout)) == _shown((await store.get(NAMESPACES, "shown")).to_dict())


async def test_lists_and_errors_stay_json_for_protobuf_clients(api: aiohttp.ClientSession) -> None:
    accept = {"Accept": f"{protobuf.MEDIA_TYPE}, application/json"}
    async with api.get("/api/v1/namespaces", headers=accept) as response:
        assert response.content_type == "application/json" and (await response.json())["kind"] == "NamespaceList"
    async with api.get("/api/v1/namespaces/nope", headers=accept) as response:
        assert response.status == 404 and response.content_type == "application/json"
    async with api.get("/api/v1/namespaces/default", headers=accept) as response:
        assert response.content_type == protobuf.MEDIA_TYPE
        assert protobuf.decode_object(await response.read())["metadata"]["name"] == "default"
