"""kubelite.api.semantic: one normal form for every spelling of an object, as Kubernetes compares them."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api import semantic

names = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
label_values = st.one_of(st.just(""), names)
cpu = st.sampled_from(["100m", "0.5", "1", "1000m", "2", 1, 2])


@st.composite
def containers(draw: st.DrawFn) -> dict[str, Any]:
    c: dict[str, Any] = {"name": draw(names), "image": f"example/{draw(names)}:{draw(st.sampled_from(['v1', 'v2']))}"}
    if draw(st.booleans()):
        c["env"] = [{"name": draw(names).upper(), "value": draw(names)}]
    if draw(st.booleans()):
        c["ports"] = [{"containerPort": draw(st.integers(1, 65535))}]
    if draw(st.booleans()):
        c["resources"] = {"requests": {"cpu": draw(cpu)}}
    if draw(st.booleans()):
        c["readinessProbe"] = {"httpGet": {"port": 8080}, "periodSeconds": draw(st.integers(1, 30))}
    return c


@st.composite
def templates(draw: st.DrawFn) -> dict[str, Any]:
    labels = draw(st.dictionaries(names, label_values, min_size=1, max_size=3))
    spec: dict[str, Any] = {"containers": draw(st.lists(containers(), min_size=1, max_size=3,
                                                        unique_by=lambda c: c["name"]))}
    if draw(st.booleans()):
        spec["nodeSelector"] = draw(st.dictionaries(names, label_values, max_size=2))
    return {"metadata": {"labels": labels}, "spec": spec}


# Ways of writing "nothing" that Kubernetes decodes to the same Go struct (or defaults to the same value).
def _noise(t: dict[str, Any], choice: int) -> None:
    spec, first = t["spec"], t["spec"]["containers"][0]
    meta = t.setdefault("metadata", {})
    match choice:
        case 0: first.setdefault("resources", {})
        case 1: first.setdefault("env", [])
        case 2: meta["creationTimestamp"] = None
        case 3: meta.setdefault("annotations", {})
        case 4: first.setdefault("stdin", False)
        case 5: spec.setdefault("restartPolicy", "Always")
        case 6: spec.setdefault("terminationGracePeriodSeconds", 30)
        case 7: first.setdefault("imagePullPolicy", "IfNotPresent")
        case 8: spec.setdefault("tolerations", [])
        case 9: spec.setdefault("hostNetwork", False)
        case 10: spec.setdefault("securityContext", {})
        case 11: first.setdefault("workingDir", "")
        case 12:
            for port in first.get("ports") or []:
                port.setdefault("hostPort", 0)
                port.setdefault("protocol", "TCP")
        case 13:
            probe = first.get("readinessProbe")
            if probe:
                probe.setdefault("timeoutSeconds", 0)  # 0 is Go's "unset": defaulted to 1
                probe["httpGet"].setdefault("path", "/")
        case 14:
            requests = (first.get("resources") or {}).get("requests")
            if requests and requests.get("cpu") in ("1", 1):
                requests["cpu"] = "1000m"
        case 15: t["metadata"]["labels"][semantic.POD_TEMPLATE_HASH] = "abcde12345"


noise = st.lists(st.integers(0, 15), max_size=8)


@given(templates(), noise)
@settings(max_examples=150, deadline=None)
def test_empty_values_and_defaults_change_neither_equality_nor_the_hash(template: dict[str, Any],
                                                                         choices: list[int]) -> None:
    spelled = copy.deepcopy(template)
    for choice in choices:
        _noise(spelled, choice)
    assert semantic.templates_equal_ignoring_hash(template, spelled)
    assert semantic.template_hash(template) == semantic.template_hash(spelled)
    assert semantic.template_hash(template, 1) == semantic.template_hash(spelled, 1)


@given(templates(), noise)
@settings(max_examples=100, deadline=None)
def test_normal_form_is_idempotent(template: dict[str, Any], choices: list[int]) -> None:
    for choice in choices:
        _noise(template, choice)
    once = semantic.normalize_template(template)
    assert semantic.normalize_template(once) == once
    doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"selector": {"matchLabels": {"a": "b"}, "matchExpressions": []}, "template": template}}
    normal = semantic.normalize("Deployment", doc)
    assert semantic.normalize("Deployment", normal) == normal
    assert semantic.semantically_equal("Deployment", doc, normal)


@given(templates(), st.data())
@settings(max_examples=100, deadline=None)
def test_real_changes_are_still_differences(template: dict[str, Any], data: st.DataObject) -> None:
    changed = copy.deepcopy(template)
    first = changed["spec"]["containers"][0]
    what = data.draw(st.sampled_from(["image", "label", "empty-label", "env", "cpu"]))
    if what == "image":
        first["image"] += "-other"
    elif what == "label":
        changed["metadata"]["labels"]["zz-new"] = "x"
    elif what == "empty-label":
        changed["metadata"]["labels"]["zz-new"] = ""  # a label value "" is data, not an empty field
    elif what == "env":
        first["env"] = [*first.get("env", []), {"name": "EXTRA", "value": "1"}]
    else:
        first["resources"] = {"requests": {"cpu": "1234m"}}
    assert not semantic.templates_equal_ignoring_hash(template, changed)
    assert semantic.template_hash(template) != semantic.template_hash(changed)


def test_quantities_compare_by_value() -> None:
    def pod(**requests: Any) -> dict[str, Any]:
        return {"spec": {"containers": [{"name": "c", "image": "i:1", "resources": {"requests": requests}}]}}

    assert semantic.semantically_equal("Pod", pod(cpu="1000m", memory="1024Mi"), pod(cpu=1, memory="1Gi"))
    assert semantic.semantically_equal("Pod", pod(cpu="0.5"), pod(cpu="500m"))
    assert not semantic.semantically_equal("Pod", pod(memory="1G"), pod(memory="1Gi"))
    assert not semantic.semantically_equal("Pod", pod(cpu="1"), pod(cpu="1001m"))


def test_pointer_zeros_and_int_or_string_keep_their_meaning() -> None:
    base = {"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": []}}}}
    zero = copy.deepcopy(base)
    zero["spec"]["replicas"] = 0  # *int32: 0 is not "unset" (which defaults to 1)
    assert not semantic.semantically_equal("Deployment", base, zero)
    one = copy.deepcopy(base)
    one["spec"]["replicas"] = 1
    assert semantic.semantically_equal("Deployment", base, one)
    paused = copy.deepcopy(base)
    paused["spec"]["paused"] = False  # a plain bool: false is absent
    assert semantic.semantically_equal("Deployment", base, paused)
    surge_int, surge_text = copy.deepcopy(base), copy.deepcopy(base)
    surge_int["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": 1}}
    surge_text["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": "1"}}
    assert not semantic.semantically_equal("Deployment", surge_int, surge_text)


def test_kinds_outside_the_field_table_get_the_generic_rule() -> None:
    a = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": 0, "tags": [], "opts": {}, "name": ""}}
    b = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": 0, "name": ""}}
    assert semantic.semantically_equal("Widget", a, b)
    assert not semantic.semantically_equal("Widget", a, {"apiVersion": "example.com/v1", "kind": "Widget"})


def test_hash_label_is_ignored_and_stripped_without_leaving_empty_labels() -> None:
    template: dict[str, Any] = {"metadata": {"labels": {semantic.POD_TEMPLATE_HASH: "x"}},
                                "spec": {"containers": []}}
    assert semantic.without_hash_label(template) == {"metadata": {}, "spec": {"containers": []}}
    assert template["metadata"]["labels"] == {semantic.POD_TEMPLATE_HASH: "x"}  # not mutated
    assert semantic.templates_equal_ignoring_hash(template, {"spec": {"containers": []}})


def test_part_equal_compares_one_part_in_normal_form() -> None:
    assert semantic.part_equal("ReplicaSet", "status", {"replicas": 2, "readyReplicas": 0, "conditions": []},
                               {"replicas": 2})
    assert not semantic.part_equal("ReplicaSet", "status", {"replicas": 2}, {"replicas": 3})
