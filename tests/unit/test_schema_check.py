"""The compiled clean-document check in :mod:`kubelite.api.schema` agrees with the full walk.

``check_document`` first asks a compiled yes/no check and walks (building paths and
messages) only when it says no. So the check must say yes exactly when the walk finds
nothing: a yes on a document with an unknown field or an undecodable value would store it
unchecked. Documents here are real objects of several kinds with one part replaced by any
JSON value, or one unknown key added, anywhere in the tree.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api import schema
from tests.int_fields import base_object


def _rich_pod() -> dict[str, Any]:
    doc = base_object("Pod", "p")
    doc["metadata"].update(labels={"app": "p"}, annotations={"a": "b"}, uid="u", generation=1,
                           ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "u",
                                             "controller": True}])
    container = doc["spec"]["containers"][0]
    container.update(ports=[{"containerPort": 80, "protocol": "TCP"}], env=[{"name": "A", "value": "1"}],
                     resources={"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                     readinessProbe={"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5})
    doc["spec"].update(nodeName="n", terminationGracePeriodSeconds=30, tolerations=[{"key": "k", "operator": "Exists"}])
    doc["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
                                                         "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                     "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0, "image": "i", "imageID": "",
                                            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}
    return doc


def _cronjob() -> dict[str, Any]:
    pod_spec = {"containers": [{"name": "c", "image": "i", "args": ["a"]}], "restartPolicy": "OnFailure"}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "default"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"backoffLimit": 2, "template": {
                "metadata": {"labels": {"a": "b"}}, "spec": pod_spec}}}}}


DOCS = [("Pod", _rich_pod()), ("Deployment", base_object("Deployment", "d")), ("Event", base_object("Event", "e")),
        ("Node", base_object("Node", "n")), ("CronJob", _cronjob())]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
) | st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, 0, True, 1.5, "x", [], {}])  # the edges


def _places(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in the tree: where a value can be replaced."""
    found: list[tuple[Any, Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        found.append((node, key))
        found.extend(_places(child))
    return found


def _dicts(node: Any) -> list[dict[str, Any]]:
    found = [node] if isinstance(node, dict) else []
    for child in node.values() if isinstance(node, dict) else node if isinstance(node, list) else ():
        found.extend(_dicts(child))
    return found


def _walk_finds(doc: Any, kind: str) -> bool:
    findings = schema.Findings()
    type_name = schema.root_type(kind)
    assert type_name is not None
    schema._walk(doc, type_name, "", schema.go_name(type_name), schema.k8s_schema()["types"], findings)
    return bool(findings.unknown or findings.causes)


def test_the_unchanged_documents_are_clean() -> None:
    for kind, doc in DOCS:
        assert schema._checker(schema.root_type(kind) or "")(doc)
        assert not _walk_finds(doc, kind)


@settings(max_examples=1000, deadline=None)
@given(which=st.integers(min_value=0, max_value=len(DOCS) - 1), where=st.integers(min_value=0), value=JSON,
       add=st.booleans(), key=st.sampled_from(["zzz", "name", "type", "items", "port", "x-kubernetes"]))
def test_the_compiled_check_is_clean_exactly_when_the_walk_finds_nothing(
    which: int, where: int, value: Any, add: bool, key: str,
) -> None:
    kind, base = DOCS[which]
    doc = copy.deepcopy(base)
    if add:  # a key (unknown or known) with any value in any object of the tree
        dicts = _dicts(doc)
        dicts[where % len(dicts)][key] = value
    else:  # any part replaced by any value
        places = _places(doc)
        container, at = places[where % len(places)]
        container[at] = value
    clean = schema._checker(schema.root_type(kind) or "")(doc)
    assert clean == (not _walk_finds(doc, kind))
    findings = schema.check_document(doc, kind)
    assert clean == (not findings.unknown and not findings.causes)


def test_a_wrong_value_deep_in_the_tree_is_found() -> None:
    doc = _cronjob()
    doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] = ["a", 1]
    findings = schema.check_document(doc, "CronJob")
    assert [c.field for c in findings.causes] == ["spec.jobTemplate.spec.template.spec.containers[0].args[1]"]
