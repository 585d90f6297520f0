"""Immutable fields are compared in their normal form: empty equals absent, defaults count as written."""

from __future__ import annotations

from typing import Any

from kubelite.gateway.immutable import immutable_field_causes


def deployment(selector: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"selector": selector, "template": {"metadata": {"labels": {"app": "a"}},
                                                       "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}


def test_selector_with_empty_match_expressions_is_the_same_selector() -> None:
    old = deployment({"matchLabels": {"app": "a"}})
    for same in ({"matchLabels": {"app": "a"}, "matchExpressions": []},
                 {"matchLabels": {"app": "a"}, "matchExpressions": None}):
        assert immutable_field_causes("Deployment", old, deployment(same)) == []
        assert immutable_field_causes("ReplicaSet", deployment(same), old) == []


def test_a_changed_selector_is_refused() -> None:
    old = deployment({"matchLabels": {"app": "a"}})
    [cause] = immutable_field_causes("Deployment", old, deployment({"matchLabels": {"app": "b"}}))
    assert cause.field == "spec.selector" and "field is immutable" in (cause.message or "")
    [cause] = immutable_field_causes("ReplicaSet", old, deployment({"matchLabels": {"app": "a", "x": ""}}))
    assert cause.field == "spec.selector"  # a label value "" is a real requirement


def test_pod_spec_compared_after_defaulting_and_without_empty_fields() -> None:
    stored = {"spec": {"containers": [{"name": "c", "image": "i:1", "imagePullPolicy": "IfNotPresent"}],
                       "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "nodeName": "n1"}}
    sent = {"spec": {"containers": [{"name": "c", "image": "i:2", "resources": {}, "env": []}],
                     "nodeName": "n1", "hostNetwork": False, "securityContext": {}}}
    assert immutable_field_causes("Pod", stored, sent) == []
    sent["spec"]["restartPolicy"] = "Never"
    [cause] = immutable_field_causes("Pod", stored, sent)
    assert cause.field == "spec" and "may not change fields" in (cause.message or "")


def test_tolerations_compared_in_normal_form() -> None:
    old = {"spec": {"containers": [{"name": "c", "image": "i"}],
                    "tolerations": [{"key": "k", "operator": "Exists", "value": ""}]}}
    new = {"spec": {"containers": [{"name": "c", "image": "i"}],
                    "tolerations": [{"key": "k", "operator": "Exists"}, {"key": "other", "operator": "Exists"}]}}
    assert immutable_field_causes("Pod", old, new) == []
    removed = {"spec": {"containers": [{"name": "c", "image": "i"}], "tolerations": []}}
    [cause] = immutable_field_causes("Pod", old, removed)
    assert cause.field == "spec.tolerations"
