"""Strategic merge patch driven by Kubernetes' schema (pure).

Each list merges by its own ``x-kubernetes-patch-merge-key`` only where its
``x-kubernetes-patch-strategy`` says ``merge``; the expected values are what
kube-apiserver (k8s.io/apimachinery strategicpatch) produces.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.gateway.fieldschema import UNKNOWN, root
from kubelite.gateway.patch import PatchError, strategic_merge_patch
from tests.gateway.service_schema import with_service  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(60)


def _containers(*names: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"name": n, "image": f"{n}:1", **extra} for n in names]


def _deployment(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": spec}}}


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


DEPLOYMENT = root("Deployment")


def test_containers_merge_by_name_with_kubectl_directives() -> None:
    live = _deployment({"containers": _containers("a", "b")})
    live["metadata"]["finalizers"] = ["x"]
    live["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    patch = {
        "metadata": {"finalizers": ["y"]},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None},
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
                "containers": [{"name": "a", "image": "a:2"}, {"name": "c", "image": "c:1"}],
            }},
        },
    }
    merged = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert [(c["name"], c["image"]) for c in _pod_spec(merged)["containers"]] == [
        ("b", "b:1"), ("a", "a:2"), ("c", "c:1")]
    # a set list (patchStrategy merge, no key); as kube orders it, patch items first when unrelated
    assert merged["metadata"]["finalizers"] == ["y", "x"]
    assert merged["spec"]["strategy"] == {"type": "Recreate"}  # retainKeys
    deleted = strategic_merge_patch(merged, {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]},
        "spec": {"template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}},
    }, DEPLOYMENT)
    assert [c["name"] for c in _pod_spec(deleted)["containers"]] == ["a", "c"]
    assert deleted["metadata"]["finalizers"] == ["y"]
    replaced = strategic_merge_patch(live, {"spec": {"template": {"spec": {
        "containers": [{"$patch": "replace"}, {"name": "z", "image": "z"}]}}}}, DEPLOYMENT)
    assert _pod_spec(replaced)["containers"] == [{"name": "z", "image": "z"}]


@pytest.mark.parametrize(("field", "live", "patch", "expected"), [
    # container ports merge by containerPort
    ("ports", [{"containerPort": 80, "name": "http"}], [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}],
     [{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}]),
    # a new item the server order does not place goes before the server-only ones (kube's normalizeElementOrder)
    ("ports", [{"containerPort": 80}], [{"containerPort": 443}], [{"containerPort": 443}, {"containerPort": 80}]),
    # env merges by name; a null deletes a field of the item
    ("env", [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], [{"name": "A", "value": None}],
     [{"name": "A"}, {"name": "B", "value": "2"}]),
    # lists without patchStrategy merge are replaced whole
    ("args", ["x"], ["y"], ["y"]),
    ("command", ["sh", "-c"], ["true"], ["true"]),
    # volumeMounts merge by mountPath, not by name
    ("volumeMounts", [{"name": "v", "mountPath": "/a"}], [{"name": "v", "mountPath": "/b"}],
     [{"name": "v", "mountPath": "/b"}, {"name": "v", "mountPath": "/a"}]),
    # a server item placed before a patched one stays before it
    ("env", [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], [{"name": "B", "value": "3"}, {"name": "C"}],
     [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C"}]),
])
def test_container_lists_follow_their_own_strategy(field: str, live: Any, patch: Any, expected: Any) -> None:
    doc = _deployment({"containers": [{"name": "c", "image": "i", field: live}]})
    merged = strategic_merge_patch(doc, {"spec": {"template": {"spec": {
        "containers": [{"name": "c", field: patch}]}}}}, DEPLOYMENT)
    assert _pod_spec(merged)["containers"][0][field] == expected


def test_unkeyed_pod_lists_are_replaced_and_volumes_merge_by_name() -> None:
    doc = _deployment({"containers": _containers("c"),
                       "tolerations": [{"key": "a", "operator": "Exists"}],
                       "volumes": [{"name": "v", "emptyDir": {}}]})
    merged = strategic_merge_patch(doc, {"spec": {"template": {"spec": {
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "volumes": [{"name": "w", "emptyDir": {}}],
    }}}}, DEPLOYMENT)
    assert _pod_spec(merged)["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert [v["name"] for v in _pod_spec(merged)["volumes"]] == ["w", "v"]


@pytest.mark.usefixtures("with_service")
def test_service_ports_merge_by_port_from_the_schema_alone() -> None:
    """Service is not served yet: its merge key comes from the schema tables, not from kubelite code."""
    service = root("Service")
    ports = service.field("spec").field("ports")
    assert (ports.patch_merge_key, ports.list_type, ports.list_map_keys) == ("port", "map", ("port", "protocol"))
    assert service.field("spec").field("selector").map_atomic
    live = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}],
                     "selector": {"app": "a", "tier": "web"}}}
    merged = strategic_merge_patch(live, {"spec": {"ports": [{"port": 80, "targetPort": 9090}],
                                                   "selector": {"app": "b"}}}, service)
    assert merged["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}]
    assert merged["spec"]["selector"] == {"app": "b", "tier": "web"}  # SMP merges maps unless told otherwise


@pytest.mark.parametrize("patch", [
    {"spec": {"$patch": "explode"}},
    {"spec": {"template": {"spec": {"containers": [{"name": "c", "$patch": "merge"}]}}}},
    {"spec": {"template": {"spec": {"containers": [{"name": "c", "$patch": "explode"}]}}}},
    {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}},
    {"spec": {"template": {"spec": {"$setElementOrder/containers": {"name": "c"}}}}},
])
def test_malformed_directives_are_400(patch: dict[str, Any]) -> None:
    with pytest.raises(PatchError) as bad:
        strategic_merge_patch(_deployment({"containers": _containers("c")}), patch, DEPLOYMENT)
    assert bad.value.bad_format


def test_merge_key_missing_is_an_error() -> None:
    doc = _deployment({"containers": _containers("c")})
    with pytest.raises(PatchError, match="merge key: name"):
        strategic_merge_patch(doc, {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, DEPLOYMENT)


def test_patch_delete_of_a_map_and_replace_of_a_map() -> None:
    doc = _deployment({"containers": _containers("c"), "nodeSelector": {"a": "1"}})
    gone = strategic_merge_patch(doc, {"spec": {"template": {"spec": {"nodeSelector": {"$patch": "delete"}}}}},
                                 DEPLOYMENT)
    assert _pod_spec(gone)["nodeSelector"] == {}  # kube's $patch: delete of a map leaves it empty
    swapped = strategic_merge_patch(doc, {"spec": {"template": {"spec": {
        "nodeSelector": {"$patch": "replace", "b": "2"}}}}}, DEPLOYMENT)
    assert _pod_spec(swapped)["nodeSelector"] == {"b": "2"}


def test_without_a_schema_lists_are_replaced() -> None:
    live = {"spec": {"containers": _containers("a")}}
    assert strategic_merge_patch(live, {"spec": {"containers": _containers("b")}}, UNKNOWN) == {
        "spec": {"containers": _containers("b")}}


json_leaf = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["a", "b", "name", "delete", "replace"])
json_any = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["name", "image", "containers", "env", "ports", "containerPort", "$patch", "$retainKeys",
                     "$setElementOrder/containers", "$deleteFromPrimitiveList/args", "args", "spec", "template"]),
    inner, max_size=3), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(json_any)
def test_hostile_patches_give_patch_errors_never_crashes(patch: Any) -> None:
    live = _deployment({"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}], "args": ["a"]}]})
    try:
        strategic_merge_patch(live, {"spec": {"template": {"spec": patch}}}, DEPLOYMENT)
        strategic_merge_patch(live, {"spec": patch}, DEPLOYMENT)
    except PatchError:
        pass
