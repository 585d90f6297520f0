"""Client-side apply decisions (no I/O): created / configured / unchanged."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, strategies as st

from kubelite.cli.apply import LAST_APPLIED, contains, plan_apply, read_last_applied, three_way_merge_patch


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the gateway applies application/merge-patch+json."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def deployment(replicas: int = 2, image: str = "kubelite/demo:latest", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", **labels}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": image,
                                                       "ports": [{"containerPort": 8080}]}]}}},
    }


def server_stored(body: dict[str, Any]) -> dict[str, Any]:
    """What a gateway returns after storing ``body``: server fields and defaults added."""
    live = copy.deepcopy(body)
    live["metadata"].update(uid="u1", resourceVersion="7", generation=1, creationTimestamp="2026-01-01T00:00:00Z")
    for c in live["spec"]["template"]["spec"]["containers"]:
        c.setdefault("imagePullPolicy", "IfNotPresent")
        for p in c.get("ports", []):
            p.setdefault("protocol", "TCP")
    live["spec"].setdefault("strategy", {"type": "RollingUpdate"})
    live["status"] = {"replicas": 2, "readyReplicas": 2}
    return live


def test_absent_object_is_created_with_last_applied() -> None:
    plan = plan_apply(deployment(), None)
    assert plan.action == "create" and plan.verb == "created"
    assert read_last_applied(plan.body) == deployment()


def test_same_manifest_again_is_unchanged_despite_server_defaults() -> None:
    live = server_stored(plan_apply(deployment(), None).body)
    assert plan_apply(deployment(), live).action == "unchanged"


def test_changed_field_is_configured_with_a_small_patch() -> None:
    live = server_stored(plan_apply(deployment(), None).body)
    plan = plan_apply(deployment(replicas=3), live)
    assert plan.verb == "configured"
    assert plan.body["spec"] == {"replicas": 3}
    assert json.loads(plan.body["metadata"]["annotations"][LAST_APPLIED])["spec"]["replicas"] == 3
    after = merge_patch(live, plan.body)
    assert after["status"] == live["status"] and after["spec"]["strategy"] == live["spec"]["strategy"]
    assert plan_apply(deployment(replicas=3), after).action == "unchanged"


def test_field_removed_from_manifest_is_removed_but_others_fields_stay() -> None:
    live = server_stored(plan_apply(deployment(tier="front"), None).body)
    live["metadata"]["labels"]["added-by-someone"] = "x"
    plan = plan_apply(deployment(), live)
    assert plan.body["metadata"]["labels"] == {"tier": None}
    after = merge_patch(live, plan.body)
    assert after["metadata"]["labels"] == {"app": "web", "added-by-someone": "x"}


def test_list_change_sends_the_whole_list() -> None:
    live = server_stored(plan_apply(deployment(), None).body)
    plan = plan_apply(deployment(image="kubelite/demo:v2"), live)
    containers = plan.body["spec"]["template"]["spec"]["containers"]
    assert containers == deployment(image="kubelite/demo:v2")["spec"]["template"]["spec"]["containers"]


def test_annotation_written_by_kubectl_counts_as_the_same_config() -> None:
    live = server_stored(plan_apply(deployment(), None).body)
    # kubectl serialises with different spacing; same content → still unchanged
    live["metadata"]["annotations"][LAST_APPLIED] = json.dumps(deployment(), indent=1)
    assert plan_apply(deployment(), live).action == "unchanged"


def test_object_created_without_apply_gets_annotation_and_is_configured() -> None:
    live = server_stored(deployment())
    plan = plan_apply(deployment(), live)
    assert plan.action == "patch" and set(plan.body) == {"metadata"}
    assert LAST_APPLIED in plan.body["metadata"]["annotations"]


def test_empty_values_equal_absent_ones_so_a_reapply_is_unchanged() -> None:
    """Kubernetes stores `resources: {}`, `env: []` and `null` as no field; a live object written by
    another client (kubectl's typed commands, a controller) lacks them, and re-applying is still a no-op."""
    config = deployment()
    container = config["spec"]["template"]["spec"]["containers"][0]
    container.update(resources={}, env=[], args=None)
    live = server_stored(plan_apply(config, None).body)
    for field in ("resources", "env", "args"):
        live["spec"]["template"]["spec"]["containers"][0].pop(field, None)
    assert plan_apply(config, live).action == "unchanged"
    config["metadata"]["annotations"] = {}
    assert plan_apply(config, live).action == "patch"  # the last-applied configuration itself changed
    assert contains({}, {"a": {}, "b": [], "c": None}) and contains({"a": {}}, {"a": None})
    assert not contains({}, {"a": ""})  # "" can be data (a label value)


def test_contains_is_strict_about_types_and_lengths() -> None:
    assert contains({"a": 1, "b": 2}, {"a": 1})
    assert not contains({"a": True}, {"a": 1})
    assert not contains([1, 2], [1])
    assert contains([{"x": 1, "y": 2}], [{"x": 1}])
    assert not contains("1", 1)


json_scalars = st.one_of(st.integers(-3, 3), st.text("ab", max_size=2), st.booleans())
json_docs = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abcd"), inner, max_size=3)), max_leaves=10)
dicts = st.dictionaries(st.sampled_from("abcde"), json_docs, max_size=4)


@given(original=dicts, modified=dicts, current=dicts)
def test_patch_makes_current_contain_modified_and_drops_removed_fields(original, modified, current) -> None:
    after = merge_patch(current, three_way_merge_patch(original, modified, current))
    assert contains(after, modified)
    for key in original:
        if key not in modified:
            assert key not in after
    for key in current:
        if key not in original and key not in modified:
            assert after[key] == current[key]  # nobody applied it: left alone


@given(config=dicts, current=dicts)
def test_patch_is_empty_once_applied(config, current) -> None:
    after = merge_patch(current, three_way_merge_patch({}, config, current))
    assert three_way_merge_patch(config, config, after) == {}
