"""The REST API over HTTP against a real etcd: discovery, CRUD, list, watch, subresources."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from kubelite.gateway import Gateway
from kubelite.version import build_commit
from tests.gateway.conftest import etcd_revision
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(90)

PODS = "/api/v1/namespaces/default/pods"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "kubelite/demo:latest", "ports": [{"containerPort": 80}]}]},
    }


def deployment(name: str = "web", replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": "kubelite/demo:latest"}]}},
        },
    }


async def create(api: aiohttp.ClientSession, path: str, doc: dict[str, Any]) -> dict[str, Any]:
    async with api.post(path, json=doc) as response:
        body = await response.json()
        assert response.status == 201, body
        return body


async def test_discovery_documents(api: aiohttp.ClientSession) -> None:
    async with api.get("/version") as r:
        info = await r.json()
    commit = build_commit()  # kubelite's own commit (this checkout's HEAD), in kube-apiserver's fields
    assert info["minor"] == "32" and info["gitVersion"] == "v1.32.0+kubelite"
    assert (info["gitCommit"], info["gitTreeState"]) == (commit.sha, commit.tree_state)
    async with api.get("/api") as r:
        assert (await r.json())["versions"] == ["v1"]
    async with api.get("/api/v1") as r:
        names = {res["name"]: res for res in (await r.json())["resources"]}
    assert {"pods", "pods/log", "pods/status", "pods/eviction", "nodes", "namespaces", "events"} <= set(names)
    assert names["pods"]["shortNames"] == ["po"] and names["pods"]["namespaced"]
    async with api.get("/apis") as r:
        groups = {g["name"] for g in (await r.json())["groups"]}
    assert groups == {"apps", "coordination.k8s.io", "batch", "policy", "rbac.authorization.k8s.io",
                      "networking.k8s.io", "storage.k8s.io", "scheduling.k8s.io", "discovery.k8s.io", "metrics.k8s.io",
                      "autoscaling", "apiextensions.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
                      "admissionregistration.k8s.io", "certificates.k8s.io", "apiregistration.k8s.io", "events.k8s.io"}
    async with api.get("/apis/apps/v1") as r:
        names = {res["name"]: res for res in (await r.json())["resources"]}
    assert names["deployments/scale"]["group"] == "autoscaling" and names["deployments/scale"]["kind"] == "Scale"
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    async with api.get("/apis", headers={"Accept": accept}) as r:
        assert "as=APIGroupDiscoveryList" in r.headers["Content-Type"]
        doc = await r.json()
    assert doc["kind"] == "APIGroupDiscoveryList" and {i["metadata"]["name"] for i in doc["items"]} == groups
    async with api.get("/apis/nope.example.com/v1") as r:
        assert r.status == 404 and (await r.json())["kind"] == "Status"


async def test_openapi_v3_advertises_field_validation(api: aiohttp.ClientSession) -> None:
    async with api.get("/openapi/v3") as r:
        root = await r.json()
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    async with api.get(url) as r:
        doc = await r.json()
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert any(p["name"] == "fieldValidation" and p["in"] == "query" for p in patch["parameters"])
    assert "V1Deployment" in doc["components"]["schemas"]


async def test_build_documents_builds_the_openapi_documents_before_any_request(gateway: Gateway) -> None:
    """The processes build them once started (issue 12: kubectl's first apply paid for them); a gateway in a
    test builds them when a request first needs them."""
    assert gateway.state is not None
    assert "_built" not in vars(gateway.state.openapi)  # functools.cached_property keeps them on the instance
    gateway.build_documents()
    assert "_built" in vars(gateway.state.openapi) and gateway.state.openapi.root.startswith(b"{")


async def test_create_get_update_delete(api: aiohttp.ClientSession) -> None:
    created = await create(api, PODS, pod("web"))
    assert created["metadata"]["uid"] and created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    async with api.get(f"{PODS}/web") as r:
        fetched = await r.json()
    assert fetched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    fetched["metadata"]["labels"]["tier"] = "front"
    async with api.put(f"{PODS}/web", json=fetched) as r:
        updated = await r.json()
        assert r.status == 200, updated
    assert updated["metadata"]["labels"] == {"app": "web", "tier": "front"}
    # a stale resourceVersion conflicts
    async with api.put(f"{PODS}/web", json=fetched) as r:
        assert r.status == 409 and (await r.json())["reason"] == "Conflict"
    async with api.delete(f"{PODS}/web") as r:
        assert r.status == 200 and (await r.json())["kind"] == "Pod"
    async with api.get(f"{PODS}/web") as r:
        status = await r.json()
    assert r.status == 404 and status["reason"] == "NotFound" and status["message"] == 'pods "web" not found'


async def test_generate_name_and_dry_run(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    doc = pod("")
    doc["metadata"] = {"generateName": "web-"}
    created = await create(api, PODS, doc)
    assert created["metadata"]["name"].startswith("web-") and len(created["metadata"]["name"]) == 9
    before = await etcd_revision(gateway)
    async with api.post(f"{PODS}?dryRun=All", json=pod("dry")) as r:
        assert r.status == 201
    async with api.delete(f"{PODS}/{created['metadata']['name']}?dryRun=All") as r:
        assert r.status == 200
    assert await etcd_revision(gateway) == before
    async with api.get(f"{PODS}/dry") as r:
        assert r.status == 404


async def test_list_selectors_and_pagination(api: aiohttp.ClientSession) -> None:
    for i in range(5):
        await create(api, PODS, pod(f"p{i}", app="web" if i % 2 == 0 else "db"))
    async with api.get(PODS, params={"labelSelector": "app=web"}) as r:
        doc = await r.json()
    assert doc["kind"] == "PodList" and [p["metadata"]["name"] for p in doc["items"]] == ["p0", "p2", "p4"]
    async with api.get("/api/v1/pods", params={"fieldSelector": "metadata.name=p3"}) as r:
        assert [p["metadata"]["name"] for p in (await r.json())["items"]] == ["p3"]
    async with api.get(PODS, params={"fieldSelector": "status.phase=Pending,metadata.name!=p0"}) as r:
        assert len((await r.json())["items"]) == 4
    async with api.get(PODS, params={"fieldSelector": "spec.bogus=1"}) as r:
        assert r.status == 400 and "field label not supported" in (await r.json())["message"]
    names, token, rvs = [], "", set()
    while True:
        params = {"limit": "2", **({"continue": token} if token else {})}
        async with api.get(PODS, params=params) as r:
            page = await r.json()
        names += [p["metadata"]["name"] for p in page["items"]]
        rvs.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"p{i}" for i in range(5)] and len(rvs) == 1


async def test_table_output(api: aiohttp.ClientSession) -> None:
    await create(api, PODS, pod("web"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    async with api.get(PODS, headers={"Accept": accept}) as r:
        table = await r.json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert table["rows"][0]["cells"][:4] == ["web", "0/1", "Pending", "0"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def read_events(response: aiohttp.ClientResponse, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    events = []
    async with asyncio.timeout(timeout):
        while len(events) < count:
            line = await response.content.readline()
            assert line, f"stream ended after {events}"
            events.append(json.loads(line))
    return events


async def test_watch_from_resource_version_and_initial_state(api: aiohttp.ClientSession) -> None:
    first = await create(api, PODS, pod("a"))
    async with api.get(PODS, params={"watch": "1"}) as stream:  # no resourceVersion: current state first
        [added] = await read_events(stream, 1)
        assert added["type"] == "ADDED" and added["object"]["metadata"]["name"] == "a"
    rv = first["metadata"]["resourceVersion"]
    async with api.get(f"/api/v1/watch/namespaces/default/pods", params={"resourceVersion": rv}) as stream:
        await create(api, PODS, pod("b"))
        async with api.patch(f"{PODS}/b", data=json.dumps({"metadata": {"labels": {"x": "y"}}}),
                             headers={"Content-Type": "application/merge-patch+json"}) as r:
            assert r.status == 200
        async with api.delete(f"{PODS}/b") as r:
            assert r.status == 200
        events = await read_events(stream, 3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert int(events[2]["object"]["metadata"]["resourceVersion"]) > int(events[1]["object"]["metadata"]["resourceVersion"])


async def test_watch_selector_transitions_bookmarks_and_timeout(api: aiohttp.ClientSession) -> None:
    created = await create(api, PODS, pod("a", app="db"))
    params = {"labelSelector": "app=web", "resourceVersion": created["metadata"]["resourceVersion"],
              "allowWatchBookmarks": "true", "timeoutSeconds": "2"}
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with api.get(PODS, params={**params, "watch": "true"}) as stream:
        for labels in ({"app": "web"}, {"app": "db"}):
            patch = json.dumps({"metadata": {"labels": labels}})
            async with api.patch(f"{PODS}/a", data=patch, headers={"Content-Type": "application/merge-patch+json"}):
                pass
        events = [json.loads(line) async for line in stream.content]
    assert loop.time() - started < 5, "the stream must end at timeoutSeconds"
    changes = [e["type"] for e in events if e["type"] != "BOOKMARK"]
    assert changes == ["ADDED", "DELETED"]
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks and bookmarks[-1]["object"]["metadata"]["resourceVersion"]


async def test_watch_too_old_is_410(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    for i in range(3):
        await create(api, PODS, pod(f"p{i}"))
    assert gateway.state is not None
    revision = await etcd_revision(gateway)
    await gateway.state.client.compact(revision)
    async with api.get(PODS, params={"watch": "1", "resourceVersion": "2"}) as stream:
        [event] = await read_events(stream, 1)
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"


async def test_send_initial_events_ends_with_annotated_bookmark(api: aiohttp.ClientSession) -> None:
    await create(api, PODS, pod("a"))
    params = {"watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
              "resourceVersion": "0", "allowWatchBookmarks": "true"}
    async with api.get(PODS, params=params) as stream:
        added, mark = await read_events(stream, 2)
    assert added["type"] == "ADDED"
    assert mark["type"] == "BOOKMARK"
    assert mark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_patch_types(api: aiohttp.ClientSession) -> None:
    await create(api, DEPLOYMENTS, deployment())
    smp = {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]},
                                                          {"name": "sidecar", "image": "busybox"}]}}}}
    headers = {"Content-Type": "application/strategic-merge-patch+json"}
    async with api.patch(f"{DEPLOYMENTS}/web", data=json.dumps(smp), headers=headers) as r:
        doc = await r.json()
        assert r.status == 200, doc
    containers = doc["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["c", "sidecar"]
    assert containers[0]["image"] == "kubelite/demo:latest" and containers[0]["env"] == [{"name": "A", "value": "1"}]
    assert doc["metadata"]["generation"] == 2
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 5}, {"op": "test", "path": "/spec/replicas", "value": 5}]
    async with api.patch(f"{DEPLOYMENTS}/web", data=json.dumps(ops),
                         headers={"Content-Type": "application/json-patch+json"}) as r:
        assert (await r.json())["spec"]["replicas"] == 5
    bad = [{"op": "test", "path": "/spec/replicas", "value": 1}]
    async with api.patch(f"{DEPLOYMENTS}/web", data=json.dumps(bad),
                         headers={"Content-Type": "application/json-patch+json"}) as r:
        assert r.status == 422
    async with api.patch(f"{DEPLOYMENTS}/web", data="{}", headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 415 and (await r.json())["reason"] == "UnsupportedMediaType"
    immutable = {"spec": {"selector": {"matchLabels": {"app": "other"}},
                          "template": {"metadata": {"labels": {"app": "other"}}}}}
    async with api.patch(f"{DEPLOYMENTS}/web", data=json.dumps(immutable),
                         headers={"Content-Type": "application/merge-patch+json"}) as r:
        status = await r.json()
    assert r.status == 422 and status["details"]["causes"][0]["field"] == "spec.selector"


async def test_server_side_apply_creates_then_merges(api: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "application/apply-patch+yaml"}
    manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ssa\n" \
               "spec:\n  replicas: 1\n  selector:\n    matchLabels: {app: ssa}\n  template:\n" \
               "    metadata:\n      labels: {app: ssa}\n    spec:\n      containers:\n      - {name: c, image: x}\n"
    async with api.patch(f"{DEPLOYMENTS}/ssa?fieldManager=test", data=manifest, headers=headers) as r:
        assert r.status == 201, await r.text()
    async with api.patch(f"{DEPLOYMENTS}/ssa?fieldManager=test", data=manifest.replace("replicas: 1", "replicas: 3"),
                         headers=headers) as r:
        assert r.status == 200 and (await r.json())["spec"]["replicas"] == 3
    async with api.patch(f"{DEPLOYMENTS}/ssa", data=manifest, headers=headers) as r:
        status = await r.json()
    assert r.status == 422 and status["details"]["causes"][0]["field"] == "fieldManager"  # kube's ValidatePatchOptions
    async with api.patch(f"{DEPLOYMENTS}/ssa?force=true", data="{}",
                         headers={"Content-Type": "application/merge-patch+json"}) as r:
        status = await r.json()
    assert r.status == 422 and status["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch')


async def test_status_and_scale_subresources(api: aiohttp.ClientSession) -> None:
    created = await create(api, DEPLOYMENTS, deployment(replicas=2))
    assert created["status"] == {}  # reset on create; kube-apiserver answers Go's zero status
    status_patch = json.dumps({"status": {"replicas": 2, "readyReplicas": 1}, "spec": {"replicas": 9}})
    async with api.patch(f"{DEPLOYMENTS}/web/status", data=status_patch,
                         headers={"Content-Type": "application/merge-patch+json"}) as r:
        doc = await r.json()
    assert doc["status"]["readyReplicas"] == 1 and doc["spec"]["replicas"] == 2  # status ignores spec
    async with api.get(f"{DEPLOYMENTS}/web/scale") as r:
        scale = await r.json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 2 and scale["status"] == {"replicas": 2, "selector": "app=web"}
    async with api.patch(f"{DEPLOYMENTS}/web/scale", data=json.dumps({"spec": {"replicas": 4}}),
                         headers={"Content-Type": "application/merge-patch+json"}) as r:
        assert (await r.json())["spec"]["replicas"] == 4
    scale["spec"]["replicas"] = 7  # stale resourceVersion
    async with api.put(f"{DEPLOYMENTS}/web/scale", json=scale) as r:
        assert r.status == 409
    async with api.patch(f"{DEPLOYMENTS}/web/scale", data=json.dumps({"spec": {"replicas": -1}}),
                         headers={"Content-Type": "application/merge-patch+json"}) as r:
        assert r.status == 422
    async with api.get(f"{DEPLOYMENTS}/web") as r:
        assert (await r.json())["spec"]["replicas"] == 4


async def test_graceful_pod_deletion_eviction_and_deletecollection(api: aiohttp.ClientSession) -> None:
    bound = pod("bound")
    bound["spec"]["nodeName"] = "node-1"
    await create(api, PODS, bound)
    async with api.delete(f"{PODS}/bound", json={"gracePeriodSeconds": 10}) as r:
        doc = await r.json()
    assert r.status == 200 and doc["metadata"]["deletionTimestamp"] and doc["metadata"]["deletionGracePeriodSeconds"] == 10
    await create(api, PODS, pod("evicted"))
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evicted", "namespace": "default"}}
    async with api.post(f"{PODS}/evicted/eviction", json=eviction) as r:
        assert r.status == 201 and (await r.json())["status"] == "Success"
    async with api.get(f"{PODS}/evicted") as r:
        assert r.status == 404
    for name in ("x1", "x2"):
        await create(api, PODS, pod(name, app="batch"))
    async with api.delete(PODS, params={"labelSelector": "app=batch"}) as r:
        deleted = await r.json()
    assert sorted(p["metadata"]["name"] for p in deleted["items"]) == ["x1", "x2"]
    async with api.delete(DEPLOYMENTS + "/missing") as r:
        assert r.status == 404
    async with api.delete("/api/v1/namespaces/default") as r:
        assert r.status == 403


async def test_delete_with_preconditions_and_foreground(api: aiohttp.ClientSession) -> None:
    created = await create(api, DEPLOYMENTS, deployment())
    body = {"preconditions": {"resourceVersion": "1"}}
    async with api.delete(f"{DEPLOYMENTS}/web", json=body) as r:
        assert r.status == 409
    async with api.delete(f"{DEPLOYMENTS}/web", json={"propagationPolicy": "Foreground"}) as r:
        doc = await r.json()
    assert doc["metadata"]["finalizers"] == ["foregroundDeletion"] and doc["metadata"]["deletionTimestamp"]
    await create(api, DEPLOYMENTS, deployment("other"))
    async with api.delete(f"{DEPLOYMENTS}/other", params={"propagationPolicy": "Background"}) as r:
        status = await r.json()
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"] == {"name": "other", "group": "apps", "kind": "deployments",
                                 "uid": status["details"]["uid"]}
    assert created["metadata"]["uid"]


async def test_namespace_delete_marks_it_terminating_and_refuses_new_content(api: aiohttp.ClientSession) -> None:
    """kube-apiserver: DELETE only marks a namespace (its controller empties it); creates in it get 403."""
    created = await create(api, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": "team"}})
    assert created["spec"] == {"finalizers": ["kubernetes"]} and created["status"] == {"phase": "Active"}
    await create(api, "/api/v1/namespaces/team/pods", pod("p"))
    for _ in range(2):  # the second delete answers the same: still terminating
        async with api.delete("/api/v1/namespaces/team") as r:
            doc = await r.json()
        assert r.status == 200 and doc["kind"] == "Namespace"
        assert doc["status"]["phase"] == "Terminating" and doc["metadata"]["deletionTimestamp"]
    async with api.get("/api/v1/namespaces/team/pods/p") as r:
        assert r.status == 200  # content goes through the namespace controller, not the request
    async with api.post("/api/v1/namespaces/team/pods", json=pod("q")) as r:
        status = await r.json()
    assert r.status == 403 and status["reason"] == "Forbidden"
    assert status["message"] == ('pods "q" is forbidden: unable to create new content in namespace team '
                                 "because it is being terminated")
    async with api.delete("/api/v1/namespaces") as r:  # no deletecollection on namespaces
        assert r.status == 405 and (await r.json())["reason"] == "MethodNotAllowed"
    async with api.get("/api/v1") as r:
        verbs = {res["name"]: res["verbs"] for res in (await r.json())["resources"]}
    assert "deletecollection" not in verbs["namespaces"] and "deletecollection" in verbs["pods"]
    assert verbs["namespaces/finalize"] == ["update"]
    # what an operator does to a stuck namespace: PUT .../finalize without the finalizer → it goes
    async with api.get("/api/v1/namespaces/team") as r:
        ns = await r.json()
    ns["spec"]["finalizers"] = []
    async with api.put("/api/v1/namespaces/team/finalize", json=ns) as r:
        assert r.status == 200
    async with api.get("/api/v1/namespaces/team") as r:
        assert r.status == 404


async def test_pods_get_default_tolerations_from_the_gateways_flags(etcd: Any) -> None:
    """DefaultTolerationSeconds: added on create (and kept on update) unless the pod tolerates the key."""
    from kubelite.gateway import Gateway
    from kubelite.registry.strategy import Admission
    from tests.gateway.conftest import gateway_config, stop_or_explain

    gw = Gateway(gateway_config(etcd, admission=Admission(default_not_ready_toleration_seconds=7)))
    await gw.start()
    try:
        async with aiohttp.ClientSession(base_url=gw.url) as api:
            created = await create(api, PODS, pod("plain"))
            assert created["spec"]["tolerations"] == [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 7},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300}]
            own = pod("own")
            own["spec"]["tolerations"] = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                           "effect": "NoExecute"}]
            created = await create(api, PODS, own)
            assert [(t["key"], t.get("tolerationSeconds")) for t in created["spec"]["tolerations"]] == [
                ("node.kubernetes.io/unreachable", None), ("node.kubernetes.io/not-ready", 7)]
            # a replace without the added tolerations is not an illegal toleration change: they come back
            replaced = pod("own")
            replaced["spec"]["tolerations"] = own["spec"]["tolerations"]
            async with api.put(f"{PODS}/own", json=replaced) as r:
                assert r.status == 200, await r.text()
                assert len((await r.json())["spec"]["tolerations"]) == 2
    finally:
        await stop_or_explain(gw)


async def test_namespace_finalizers_change_only_through_finalize(api: aiohttp.ClientSession) -> None:
    ns = await create(api, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "keep"}})
    ns["spec"] = {}
    async with api.put("/api/v1/namespaces/keep", json=ns) as r:
        ns = await r.json()
    assert r.status == 200 and ns["spec"]["finalizers"] == ["kubernetes"]
    ns["spec"] = {"finalizers": []}
    async with api.put("/api/v1/namespaces/keep/finalize", json=ns) as r:
        doc = await r.json()
    assert r.status == 200 and not doc["spec"].get("finalizers") and doc["status"]["phase"] == "Active"
    async with api.delete("/api/v1/namespaces/keep") as r:  # nothing left to wait for: gone at once
        assert r.status == 200
    async with api.get("/api/v1/namespaces/keep") as r:
        assert r.status == 404


async def test_health_and_metrics(api: aiohttp.ClientSession) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        async with api.get(path) as r:
            assert r.status == 200 and await r.text() == "ok"
    async with api.get(PODS + "/nope") as r:
        assert r.status == 404
    async with api.get("/metrics") as r:
        text = await r.text()
    assert 'kubelite_gateway_requests_total{code="404",resource="pods",verb="get"} 1.0' in text
    assert "kubelite_gateway_request_duration_seconds_bucket" in text
    assert ('apiserver_request_total{code="404",component="apiserver",group="",resource="pods",scope="resource",'
            'subresource="",verb="GET",version="v1"} 1.0') in text
    assert 'apiserver_request_duration_seconds_bucket{component="apiserver",group="",le="0.005",resource="pods"' in text
    assert 'etcd_request_duration_seconds_count{operation="get",type="pods"}' in text  # the GET of the missing pod

    async def watchers() -> str:
        async with api.get("/metrics") as r:
            return await r.text()

    registered = 'apiserver_registered_watchers{group="",kind="Pod",version="v1"}'
    longrunning = ('apiserver_longrunning_requests{component="apiserver",group="",resource="pods",'
                   'scope="namespace",subresource="",verb="WATCH",version="v1"}')
    async with api.get(PODS + "?watch=1&timeoutSeconds=30") as stream:
        assert stream.status == 200
        open_now = await watchers()
        assert f"{registered} 1.0" in open_now and f"{longrunning} 1.0" in open_now
    await wait_for(lambda: _contains(watchers, f"{registered} 0.0"), 10, message="the watcher unregistered")
    assert f"{longrunning} 0.0" in await watchers()


async def _contains(fetch: Any, needle: str) -> bool:
    return needle in await fetch()
