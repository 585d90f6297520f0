"""Pure parts of the gateway: request paths, patches, tables, options, auth, schema checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api import errors
from kubelite.api.schema import prune, unknown_to_kubernetes
from kubelite.gateway.auth import TokenAuthenticator, TokenFileError, parse_token_file
from kubelite.gateway.catalog import lookup
from kubelite.api.defaults import with_defaults
from kubelite.gateway.discovery import (
    AGGREGATED_V2,
    aggregated_discovery,
    wants_aggregated,
)
from kubelite.gateway.immutable import immutable_field_causes
from kubelite.gateway.options import parse_delete_options, parse_list_options
from kubelite.gateway.patch import (
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from kubelite.gateway.requestinfo import RequestInfo, parse_request_info
from kubelite.registry.printers import build_table, node_status, pod_row, pod_status_reason
from kubelite.gateway.watchstream import filter_event
from kubelite.util.humanize import human_duration

pytestmark = pytest.mark.timeout(90)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/api/v1/pods", {}, RequestInfo("list", "", "v1", "pods")),
    ("GET", "/api/v1/namespaces/default/pods/web", {}, RequestInfo("get", "", "v1", "pods", "default", "web")),
    ("GET", "/api/v1/namespaces/default/pods/web/log", {}, RequestInfo("get", "", "v1", "pods", "default", "web", "log")),
    ("GET", "/api/v1/namespaces/default", {}, RequestInfo("get", "", "v1", "namespaces", None, "default")),
    ("PUT", "/api/v1/namespaces/default/status", {}, RequestInfo("update", "", "v1", "namespaces", None, "default", "status")),
    ("GET", "/api/v1/namespaces", {"watch": "true"}, RequestInfo("watch", "", "v1", "namespaces")),
    ("GET", "/api/v1/watch/namespaces/ns/pods/p", {}, RequestInfo("watch", "", "v1", "pods", "ns", "p")),
    ("PATCH", "/apis/apps/v1/namespaces/d/deployments/w/scale", {},
     RequestInfo("patch", "apps", "v1", "deployments", "d", "w", "scale")),
    ("DELETE", "/apis/apps/v1/namespaces/d/replicasets", {}, RequestInfo("deletecollection", "apps", "v1", "replicasets", "d")),
    ("POST", "/api/v1/namespaces/d/pods", {}, RequestInfo("create", "", "v1", "pods", "d")),
])
def test_request_info(method: str, path: str, query: dict[str, str], expected: RequestInfo) -> None:
    assert parse_request_info(method, path, query) == expected


@pytest.mark.parametrize("path", ["/version", "/api", "/apis/apps/v1", "/healthz", "/api/v1/a/b/c/d/e"])
def test_non_resource_paths(path: str) -> None:
    assert parse_request_info("GET", path, {}) is None


def test_paths_no_route_serves_are_authorized_as_the_resource_they_name() -> None:
    """kube's RequestInfo ignores parts past the subresource and a trailing slash (the router 404s later)."""
    assert parse_request_info("GET", "/api/v1/namespaces/a/pods/p/status/x", {}) is None
    assert parse_request_info("GET", "/api/v1/namespaces/a/pods/p/status/x", {}, for_authorization=True) == \
        RequestInfo("get", "", "v1", "pods", "a", "p", "status")
    assert parse_request_info("GET", "/api/v1/namespaces/a/pods/p/", {}, for_authorization=True) == \
        RequestInfo("get", "", "v1", "pods", "a", "p")
    assert parse_request_info("GET", "/version", {}, for_authorization=True) is None


def test_merge_patch_rfc7386() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None, "d": 3}, "l": [2]}) == \
        {"a": {"c": 2, "d": 3}, "l": [2]}


def test_json_patch_operations() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [{"op": "add", "path": "/a/-", "value": 3}, {"op": "add", "path": "/a/0", "value": 0},
           {"op": "remove", "path": "/b/c"}, {"op": "copy", "from": "/a/1", "path": "/b/x"},
           {"op": "move", "from": "/b/x", "path": "/y"}, {"op": "replace", "path": "/a/1", "value": 9},
           {"op": "test", "path": "/y", "value": 1}]
    assert json_patch(doc, ops) == {"a": [0, 9, 2, 3], "b": {}, "y": 1}
    assert doc == {"a": [1, 2], "b": {"c": 1}}  # the input is untouched
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "remove", "path": "/nope"}])
    with pytest.raises(PatchError) as bad:
        json_patch(doc, {"op": "add"})
    assert bad.value.bad_format


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3),
                           lambda inner: st.dictionaries(st.text("abc", max_size=2), inner, max_size=3), max_leaves=8)


@given(st.dictionaries(st.text("abc", max_size=2), json_values, max_size=4),
       st.dictionaries(st.text("abc", max_size=2), json_values, max_size=4))
def test_strategic_merge_of_plain_maps_is_a_merge_patch(live: dict[str, Any], patch: dict[str, Any]) -> None:
    assert strategic_merge_patch(live, patch) == merge_patch(live, patch)


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 20 * 60, "3h20m"), (30 * 3600, "30h"),
    (3 * 86400 + 3600, "3d1h"), (400 * 86400, "400d"), (3 * 365 * 86400, "3y"), (-5, "<invalid>"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def _pod(status: dict[str, Any], deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "creationTimestamp": (NOW - timedelta(minutes=3)).isoformat()}
    if deleting:
        meta["deletionTimestamp"] = NOW.isoformat()
    return {"metadata": meta, "spec": {"containers": [{"name": "c"}], "nodeName": "n1"}, "status": status}


@pytest.mark.parametrize(("status", "deleting", "expected"), [
    ({}, False, "Pending"),
    ({"phase": "Running", "containerStatuses": [{"ready": True, "state": {"running": {}}}]}, False, "Running"),
    ({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}, False,
     "ContainerCreating"),
    ({"phase": "Running", "containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}, False,
     "CrashLoopBackOff"),
    ({"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]},
     False, "Completed"),
    ({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 2}}}]}, False, "ExitCode:2"),
    ({"phase": "Running"}, True, "Terminating"),
])
def test_pod_status_column(status: dict[str, Any], deleting: bool, expected: str) -> None:
    assert pod_status_reason(_pod(status, deleting)) == expected


def test_pod_row_restarts_and_wide_columns() -> None:
    status = {"phase": "Running", "podIP": "10.1.0.4", "containerStatuses": [{
        "ready": True, "restartCount": 3, "state": {"running": {}},
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": (NOW - timedelta(seconds=65)).isoformat()}}}]}
    assert pod_row(_pod(status), NOW) == ["p", "1/1", "Running", "3 (65s ago)", "3m", "10.1.0.4", "n1", "<none>", "<none>"]


def test_node_status_and_table_shape() -> None:
    node = {"metadata": {"name": "n"}, "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    assert node_status(node) == "NotReady,SchedulingDisabled"
    assert node_status({"metadata": {"name": "n"}}) == "Unknown"
    table = build_table("Node", [node], now=NOW, resource_version="7", include_object="None")
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"]) and "object" not in table["rows"][0]
    assert build_table("Node", [node], now=NOW, headers=False)["columnDefinitions"] == []
    event = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "web"}, "reason": "Pulled",
             "type": "Normal", "message": " done ", "lastTimestamp": (NOW - timedelta(seconds=30)).isoformat()}
    assert build_table("Event", [event], now=NOW)["rows"][0]["cells"][:7] == \
        ["30s", "Normal", "Pulled", "pod/web", "", "", "done"]


def test_list_options_and_field_labels() -> None:
    served = lookup("", "v1", "pods")
    assert served is not None
    options = parse_list_options({"labelSelector": "app=web", "fieldSelector": "spec.nodeName=n1", "limit": "5"}, served)
    assert options.limit == 5
    assert options.matches({"metadata": {"labels": {"app": "web"}}, "spec": {"nodeName": "n1"}})
    assert not options.matches({"metadata": {"labels": {"app": "web"}}, "spec": {"nodeName": "n2"}})
    with pytest.raises(errors.ApiError, match="field label not supported"):
        parse_list_options({"fieldSelector": "spec.image=x"}, served)
    with pytest.raises(errors.ApiError):
        parse_list_options({"limit": "-1"}, served)
    events = lookup("", "v1", "events")
    assert events is not None
    by_source = parse_list_options({"fieldSelector": "source=kubelet"}, events)
    assert by_source.matches({"metadata": {}, "source": {"component": "kubelet"}})


def test_delete_options_from_body_and_query() -> None:
    options = parse_delete_options({"gracePeriodSeconds": "5"}, {"propagationPolicy": "Foreground",
                                                                  "preconditions": {"uid": "u"}})
    assert (options.grace_period_seconds, options.propagation_policy, options.uid) == (5, "Foreground", "u")
    assert parse_delete_options({}, {"orphanDependents": True}).propagation_policy == "Orphan"
    with pytest.raises(errors.ApiError):
        parse_delete_options({"propagationPolicy": "Sometimes"}, None)


@pytest.mark.parametrize(("query", "body", "grace"), [
    ({"gracePeriodSeconds": "-5"}, None, 1), ({}, {"gracePeriodSeconds": -5}, 1),  # kube's BeforeDelete: 1 s
    ({"gracePeriodSeconds": str(2**63 - 1)}, None, 2**63 - 1), ({}, {"gracePeriodSeconds": 0}, 0),
])
def test_delete_grace_periods_as_kube_apiserver_takes_them(query: dict[str, str], body: Any, grace: int) -> None:
    assert parse_delete_options(query, body).grace_period_seconds == grace


@pytest.mark.parametrize(("query", "body", "words"), [
    ({"gracePeriodSeconds": str(2**63)}, None, "out of range"),
    ({}, {"gracePeriodSeconds": 2**63}, "of type int64"),
    ({}, {"gracePeriodSeconds": "5"}, "cannot unmarshal string into Go struct field DeleteOptions.gracePeriodSeconds"),
    ({}, {"gracePeriodSeconds": 1.5}, "cannot unmarshal number 1.5"),
    ({"limit": str(2**64)}, None, "out of range"),
])
def test_delete_and_list_integers_past_int64_are_bad_requests(query: dict[str, str], body: Any, words: str) -> None:
    with pytest.raises(errors.ApiError) as info:
        if "limit" in query:
            parse_list_options(query, lookup("", "v1", "pods"))  # type: ignore[arg-type]
        else:
            parse_delete_options(query, body)
    assert info.value.code == 400 and words in str(info.value)


def test_token_file_and_authorization() -> None:
    users = parse_token_file(['# comment', 'abc,alice,1,"admins,devs"', 'ro,bob,2,kubelite:readonly', 'x,carol'])
    assert users["abc"].groups == ("admins", "devs") and users["x"].groups == ()
    auth = TokenAuthenticator(users)
    assert auth.authenticate("Bearer abc").name == "alice"
    for header in (None, "Bearer nope", "Basic abc", "Bearer "):
        with pytest.raises(errors.ApiError) as exc:
            auth.authenticate(header)
        assert exc.value.code == 401
    bob = auth.authenticate("Bearer ro")
    auth.authorize(bob, verb="list", resource="pods", group="", namespace="default")
    with pytest.raises(errors.ApiError) as denied:
        auth.authorize(bob, verb="create", resource="pods", group="", namespace="default")
    assert denied.value.code == 403 and 'User "bob" cannot create resource "pods"' in denied.value.status.message
    with pytest.raises(TokenFileError):
        parse_token_file(["onlytoken"])


def test_unknown_fields_and_prune() -> None:
    doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "labels": {"a.b/c": "d"}},
           "spec": {"replicaz": 1, "template": {"spec": {"containers": [{"name": "c", "imagez": "x",
                                                                         "securityContext": {}}]}}}}
    unknown = unknown_to_kubernetes(doc, "Deployment")
    assert unknown == ["spec.replicaz", "spec.template.spec.containers[0].imagez"]
    pruned = prune(doc, unknown)
    assert "replicaz" not in pruned["spec"] and pruned["spec"]["template"]["spec"]["containers"][0] == \
        {"name": "c", "securityContext": {}}


def test_immutable_fields() -> None:
    old = {"spec": {"containers": [{"name": "c", "image": "a"}], "nodeName": "n1"}}
    assert immutable_field_causes("Pod", old, {"spec": {"containers": [{"name": "c", "image": "b"}], "nodeName": "n1"}}) == []
    [cause] = immutable_field_causes("Pod", old, {"spec": {"containers": [{"name": "c", "image": "a"}], "nodeName": "n2"}})
    assert cause.field == "spec"


def test_watch_event_filtering() -> None:
    def web(doc: Any) -> bool:
        return bool(doc["l"] == "web")

    a, b = {"l": "web"}, {"l": "db"}
    assert filter_event("MODIFIED", a, b, web) == ("ADDED", a)
    assert filter_event("MODIFIED", b, a, web) == ("DELETED", b)
    assert filter_event("MODIFIED", a, a, web) == ("MODIFIED", a)
    assert filter_event("MODIFIED", b, b, web) is None
    assert filter_event("DELETED", a, a, web) == ("DELETED", a)
    assert filter_event("ADDED", b, None, None) == ("ADDED", b)


def test_aggregated_discovery_negotiation() -> None:
    assert wants_aggregated(f"{AGGREGATED_V2},application/json") == AGGREGATED_V2
    assert wants_aggregated("application/json") is None
    core = aggregated_discovery(core=True)
    pods = next(r for r in core["items"][0]["versions"][0]["resources"] if r["resource"] == "pods")
    assert {s["subresource"] for s in pods["subresources"]} == {"status", "log", "eviction", "binding", "exec", "attach", "portforward",
                                                                "proxy"}


def test_defaults_fill_only_missing_modelled_fields() -> None:
    doc = {"spec": {"strategy": {"type": "Recreate"}, "template": {"spec": {"containers": [
        {"name": "c", "image": "web:1.0", "ports": [{"containerPort": 80}],
         "readinessProbe": {"httpGet": {"port": 80}, "periodSeconds": 3}}]}}}}
    defaulted = with_defaults("Deployment", doc)
    spec = defaulted["spec"]
    assert spec["strategy"] == {"type": "Recreate"} and spec["replicas"] == 1
    container = spec["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent" and container["ports"][0]["protocol"] == "TCP"
    assert container["readinessProbe"]["periodSeconds"] == 3 and container["readinessProbe"]["timeoutSeconds"] == 1
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert "replicas" not in doc["spec"]  # the input is untouched
    rolling = with_defaults("Deployment", {"spec": {}})["spec"]["strategy"]
    assert rolling == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}


async def test_keyed_locks_serialise_one_key_and_forget_idle_keys() -> None:
    import asyncio

    from kubelite.gateway.locks import KeyedLocks

    locks = KeyedLocks()
    inside: list[str] = []
    overlaps = 0

    async def work(key: str) -> None:
        nonlocal overlaps
        async with locks.hold(key):
            if key in inside:
                overlaps += 1
            inside.append(key)
            await asyncio.sleep(0.001)
            inside.remove(key)

    await asyncio.gather(*(work(k) for k in ["a", "b"] * 20))
    assert overlaps == 0 and len(locks) == 0


def test_advertise_address_is_served_and_must_be_authenticated() -> None:
    """The gateway also serves on an advertise address its listen host does not cover (the kubernetes
    Service's endpoint); like any non-loopback address, only with authentication."""
    from pathlib import Path

    from kubelite.gateway.app import GatewayConfig

    assert GatewayConfig(advertise_address="127.0.0.1").extra_listen_host is None
    assert GatewayConfig(host="0.0.0.0", advertise_address="172.17.0.1").extra_listen_host is None
    with pytest.raises(ValueError, match="refusing to listen on 172.17.0.1"):
        GatewayConfig(advertise_address="172.17.0.1").check()
    secured = GatewayConfig(advertise_address="172.17.0.1", tls_cert=Path("c"), tls_key=Path("k"),
                            client_ca_file=Path("ca"))
    secured.check()
    assert secured.extra_listen_host == "172.17.0.1"
