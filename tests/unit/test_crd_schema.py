"""Pure rules of CustomResourceDefinitions (kubelite.api.crd) and their resources' schemas (kubelite.api.crschema)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubelite.api import crd, crschema

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "string", "enum": ["small", "large"]},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string", "maxLength": 3}, "weight": {"type": "integer", "default": 5}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
    },
}


def _doc(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "b"}},
            "spec": spec}


def test_prune_drops_unknown_fields_at_any_depth_and_keeps_preserved_and_machinery() -> None:
    doc = _doc({"size": "small", "bogus": 1, "items": [{"name": "a", "extra": True}], "labels": {"k": "v"},
                "free": {"x": {"y": 1}}})
    doc["top"] = 1
    pruned, dropped = crschema.prune(doc, SCHEMA)
    assert dropped == ["spec.bogus", "spec.items[0].extra", "top"]
    assert pruned["spec"] == {"size": "small", "items": [{"name": "a"}], "labels": {"k": "v"}, "free": {"x": {"y": 1}}}
    assert pruned["metadata"] == {"name": "w", "labels": {"a": "b"}}  # metadata is never the schema's
    assert doc["spec"]["bogus"] == 1  # the input is not changed


def test_defaults_fill_absent_fields_only_including_list_items() -> None:
    defaulted = crschema.apply_defaults(_doc({"size": "small", "items": [{"name": "a"}, {"weight": 1}]}), SCHEMA)
    assert defaulted["spec"]["replicas"] == 1
    assert defaulted["spec"]["items"] == [{"name": "a", "weight": 5}, {"weight": 1}]
    assert crschema.apply_defaults(_doc({"size": "small", "replicas": 7}), SCHEMA)["spec"]["replicas"] == 7


def test_validation_names_each_field_in_kube_openapi_words() -> None:
    causes = crschema.validate(_doc({"size": "huge", "replicas": "three", "items": [{"name": "long"}],
                                     "labels": {"k": 1}, "port": 1.5, "note": None}), SCHEMA)
    by_field = {c.field: c.message for c in causes}
    assert by_field == {
        "spec.size": 'Unsupported value: "huge": supported values: "small", "large"',
        "spec.replicas": 'Invalid value: "three": spec.replicas in body must be of type integer: "string"',
        "spec.items[0].name": 'Invalid value: "long": spec.items[0].name in body should be at most 3 chars long',
        "spec.labels.k": 'Invalid value: 1: spec.labels.k in body must be of type string: "integer"',
        "spec.port": "Invalid value: 1.5: 1.5 is not valid under any of the given schemas",  # int-or-string
    }
    missing = crschema.validate(_doc({}), SCHEMA)
    assert [(c.field, c.reason, c.message) for c in missing] == [("spec.size", "FieldValueRequired", "Required value")]
    assert crschema.validate(_doc({"size": "large", "port": "http", "note": None}), SCHEMA) == []


@given(st.dictionaries(st.sampled_from(["size", "replicas", "bogus", "free", "other"]),
                       st.one_of(st.integers(), st.text(max_size=3), st.booleans()), max_size=5))
def test_pruned_documents_have_only_schema_fields_and_pruning_is_idempotent(spec: dict[str, Any]) -> None:
    pruned, _dropped = crschema.prune(_doc(spec), SCHEMA)
    assert set(pruned["spec"]) <= set(SCHEMA["properties"]["spec"]["properties"])
    again, dropped_again = crschema.prune(pruned, SCHEMA)
    assert again == pruned and dropped_again == []


CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": SCHEMA}},
                          {"name": "v2", "served": False, "storage": False,
                           "schema": {"openAPIV3Schema": {"type": "object"}}}]},
}


def test_a_valid_crd_is_defaulted_established_and_serves_its_served_versions() -> None:
    assert crd.validate(CRD) == []
    prepared = crd.prepare(CRD, now="2026-01-01T00:00:00Z")
    assert prepared["spec"]["names"]["listKind"] == "WidgetList" and prepared["spec"]["names"]["singular"] == "widget"
    assert prepared["spec"]["versions"][0]["additionalPrinterColumns"] == [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    assert [c["type"] for c in prepared["status"]["conditions"]] == ["NamesAccepted", "Established"]
    assert prepared["status"]["storedVersions"] == ["v1"]
    (served,) = crd.served_versions(prepared)
    assert (served.api_version, served.plural, served.namespaced, served.status, served.scale) == (
        "example.com/v1", "widgets", True, True, None)
    # a later write keeps the transition time of conditions already True
    again = crd.prepare(prepared, now="2026-02-02T00:00:00Z")
    assert again["status"]["conditions"] == prepared["status"]["conditions"]
    assert crd.served_versions(CRD) == []  # not established (never stored): nothing served


def test_crd_validation_causes() -> None:
    bad = {**CRD, "metadata": {"name": "wrong"},
           "spec": {**CRD["spec"], "group": "nodots", "scope": "Everywhere",
                    "conversion": {"strategy": "Webhook"},
                    "versions": [{"name": "v1", "served": True, "storage": False,
                                  "schema": {"openAPIV3Schema": {"type": "string"}}}]}}
    fields = [c.field for c in crd.validate(bad)]
    assert fields == ["spec.group", "metadata.name", "spec.scope", "spec.conversion.strategy",
                      "spec.versions[0].schema.openAPIV3Schema.type", "spec.versions"]
    renamed = {**CRD, "metadata": {"name": "gizmos.example.com"}}
    assert [c.field for c in crd.validate(renamed)] == ["metadata.name"]
    assert [c.field for c in crd.immutable(CRD, {**CRD, "spec": {**CRD["spec"], "scope": "Cluster"}})] == ["spec.scope"]
