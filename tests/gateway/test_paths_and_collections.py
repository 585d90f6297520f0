"""Path rules kube-apiserver has and clients rely on: an empty name (trailing slash) is
never the collection, deletecollection only where Kubernetes offers it, and an escaped
name is one segment whatever characters it holds."""

from __future__ import annotations

import aiohttp
import pytest

from kubelite.gateway.requestinfo import parse_request_info
from tests.gateway.test_api import DEPLOYMENTS, create, deployment

pytestmark = pytest.mark.timeout(90)


def test_trailing_slash_is_an_object_path_with_an_empty_name() -> None:
    info = parse_request_info("DELETE", "/apis/apps/v1/namespaces/default/deployments/", {})
    assert info is not None and info.verb == "delete" and info.name == ""
    collection = parse_request_info("DELETE", "/apis/apps/v1/namespaces/default/deployments", {})
    assert collection is not None and collection.verb == "deletecollection" and collection.name is None
    # A slash after a name matches no kube-apiserver route: not the object, not the namespace.
    assert parse_request_info("DELETE", "/apis/apps/v1/namespaces/default/deployments/web/", {}) is None
    assert parse_request_info("DELETE", "/api/v1/namespaces/shop/", {}) is None


async def names(api: aiohttp.ClientSession) -> list[str]:
    async with api.get(DEPLOYMENTS) as r:
        return sorted(d["metadata"]["name"] for d in (await r.json())["items"])


async def test_empty_name_never_deletes_the_collection(api: aiohttp.ClientSession) -> None:
    for name in ("cart", "billing"):
        await create(api, DEPLOYMENTS, deployment(name))
    for method in ("DELETE", "GET", "PUT", "PATCH"):
        async with api.request(method, f"{DEPLOYMENTS}/", params={"x": "1"}, json={}) as r:
            body = await r.json()
            assert (r.status, body["reason"], body["message"]) == (400, "BadRequest", "name must be provided"), method
    assert await names(api) == ["billing", "cart"]
    async with api.delete(f"{DEPLOYMENTS}/cart/") as r:
        assert r.status == 404
    assert await names(api) == ["billing", "cart"]


async def test_escaped_name_is_one_segment(api: aiohttp.ClientSession) -> None:
    await create(api, DEPLOYMENTS, deployment("cart"))
    async with api.delete(aiohttp.client.URL(f"{DEPLOYMENTS}/%3Fx%3D1", encoded=True)) as r:
        body = await r.json()
        assert r.status == 404 and body["message"] == 'deployments.apps "?x=1" not found', body
    assert await names(api) == ["cart"]


async def test_no_deletecollection_on_namespaces_but_on_nodes(api: aiohttp.ClientSession) -> None:
    async with api.delete("/api/v1/namespaces") as r:
        body = await r.json()
        assert (r.status, body["reason"]) == (405, "MethodNotAllowed"), body
    async with api.get("/api/v1/namespaces") as r:
        assert len((await r.json())["items"]) >= 4  # nothing deleted
    async with api.get("/api/v1") as r:
        verbs = {res["name"]: res["verbs"] for res in (await r.json())["resources"]}
    assert "deletecollection" not in verbs["namespaces"] and "delete" in verbs["namespaces"]
    assert "deletecollection" in verbs["nodes"]
    async with api.delete("/api/v1/nodes") as r:  # kube-apiserver serves it on nodes
        assert r.status == 200, await r.text()
    async with api.get("/openapi/v3/api/v1") as r:
        paths = (await r.json())["paths"]
    assert "delete" not in paths["/api/v1/namespaces"] and "delete" in paths["/api/v1/nodes"]
