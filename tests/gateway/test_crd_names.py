"""CRD name conflicts (kube's naming controller) and storage-version conversion (issue 11), on a real etcd."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from kubelite.api import crd
from kubelite.etcd_ops import range_
from kubelite.gateway import Gateway

pytestmark = pytest.mark.timeout(180)
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def definition(plural: str, kind: str, *, short: tuple[str, ...] = (), versions: tuple[str, ...] = ("v1",),
               storage: str = "v1") -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": plural, "kind": kind, "shortNames": list(short)},
                     "versions": [{"name": v, "served": True, "storage": v == storage,
                                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                       "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}
                                  for v in versions]}}


def conditions(doc: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in doc["status"]["conditions"]}


async def test_a_second_crd_claiming_a_kind_or_short_name_is_not_accepted_nor_served(
        api: aiohttp.ClientSession) -> None:
    async with api.post(CRDS, json=definition("widgets", "Widget", short=("wd",))) as response:
        assert response.status == 201
    async with api.post(CRDS, json=definition("gadgets", "Widget")) as response:
        second = await response.json()
        assert response.status == 201, second
    assert conditions(second) == {
        "NamesAccepted": ("False", "ListKindConflict", '"WidgetList" is already in use'),  # kube reports the last
        "Established": ("False", "NotAccepted", "not all names are accepted")}
    assert second["status"]["acceptedNames"] == {"plural": "gadgets"}  # singular defaults to "widget": taken too
    async with api.get("/apis/example.com/v1/namespaces/default/gadgets") as response:
        assert response.status == 404  # not served
    async with api.post(CRDS, json=definition("doohickeys", "Doohickey", short=("wd",))) as response:
        third = await response.json()
    assert conditions(third)["NamesAccepted"] == ("False", "ShortNamesConflict", '"wd" is already in use')
    # its owner leaves: the names are free on the next write of the refused CRD
    async with api.delete(f"{CRDS}/widgets.example.com") as response:
        assert response.status == 200
    async with api.patch(f"{CRDS}/gadgets.example.com", data=json.dumps({"metadata": {"labels": {"retry": "1"}}}),
                         headers={"Content-Type": "application/merge-patch+json"}) as response:
        fixed = await response.json()
    assert conditions(fixed)["NamesAccepted"][:2] == ("True", "NoConflicts")
    assert conditions(fixed)["Established"][0] == "True"
    async with api.get("/apis/example.com/v1/namespaces/default/gadgets") as response:
        assert response.status == 200


async def test_objects_are_stored_as_the_storage_version_and_served_in_every_version(
        api: aiohttp.ClientSession, gateway: Gateway) -> None:
    async with api.post(CRDS, json=definition("things", "Thing", versions=("v1", "v1beta1"), storage="v1")) as response:
        assert response.status == 201
    body = {"apiVersion": "example.com/v1beta1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"a": 1}}
    async with api.post("/apis/example.com/v1beta1/namespaces/default/things", json=body) as response:
        created = await response.json()
        assert response.status == 201, created
        assert created["apiVersion"] == "example.com/v1beta1"
    assert gateway.state is not None
    stored = await range_(gateway.state.client, "/registry/example.com/things/default/t", what="test")
    assert json.loads(stored.kvs[0].value)["apiVersion"] == "example.com/v1"
    for version in ("v1", "v1beta1"):
        async with api.get(f"/apis/example.com/{version}/namespaces/default/things/t") as response:
            assert (await response.json())["apiVersion"] == f"example.com/{version}"
    # the storage version moves to v1beta1: storedVersions keeps both until someone migrates
    moved = definition("things", "Thing", versions=("v1", "v1beta1"), storage="v1beta1")
    async with api.get(f"{CRDS}/things.example.com") as response:
        moved["metadata"]["resourceVersion"] = (await response.json())["metadata"]["resourceVersion"]
    async with api.put(f"{CRDS}/things.example.com", json=moved) as response:
        updated = await response.json()
        assert response.status == 200, updated
    assert updated["status"]["storedVersions"] == ["v1", "v1beta1"]


def test_settle_names_keeps_names_accepted_before() -> None:
    first = crd.prepare(definition("widgets", "Widget"), now="2026-01-01T00:00:00Z")
    later = crd.prepare(definition("gadgets", "Widget"), now="2026-01-01T00:00:00Z")
    # gadgets had accepted "Widget" before widgets came: an update keeps it
    assert crd.settle_names(later, later, [first]) == later
    refused = crd.settle_names(later, None, [first])
    assert refused["status"]["acceptedNames"] == {"plural": "gadgets"}  # singular defaults to "widget": taken too
    other_group = {**first, "spec": {**first["spec"], "group": "other.example.com"}}
    assert crd.settle_names(later, None, [other_group]) == later


RULED = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "pools.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "pools", "kind": "Pool"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "properties": {"spec": {
                     "type": "object",
                     "x-kubernetes-validations": [
                         {"rule": "self.min <= self.max", "message": "min must not exceed max", "fieldPath": ".min"},
                         {"rule": "self.zone == oldSelf.zone", "messageExpression": "'zone stays ' + oldSelf.zone"}],
                     "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}, "zone": {"type": "string"},
                                    "names": {"type": "array", "items": {
                                        "type": "string", "x-kubernetes-validations": [
                                            {"rule": "self.size() <= 3", "reason": "FieldValueForbidden"}]}}}}}}}}]}}


async def test_cel_rules_refuse_objects_with_the_field_path_and_etcd_untouched(
        api: aiohttp.ClientSession, gateway: Gateway) -> None:
    from tests.gateway.conftest import etcd_revision  # noqa: PLC0415

    bad_rule = json.loads(json.dumps(RULED).replace("self.min <= self.max", "self.min <="))
    async with api.post(CRDS, json=bad_rule) as response:
        status = await response.json()
        assert response.status == 422, status
        assert status["details"]["causes"][0]["field"] == (
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule")
    async with api.post(CRDS, json=RULED) as response:
        assert response.status == 201
    base = "/apis/example.com/v1/namespaces/default/pools"
    pool = {"apiVersion": "example.com/v1", "kind": "Pool", "metadata": {"name": "p"},
            "spec": {"min": 1, "max": 3, "zone": "a", "names": ["ab"]}}
    async with api.post(base, json=pool) as response:
        assert response.status == 201, await response.json()
    before = await etcd_revision(gateway)
    for spec, field, message in (
            ({"min": 5, "max": 3, "zone": "a"}, "spec.min", 'Invalid value: "object": min must not exceed max'),
            ({"min": 1, "max": 3, "zone": "a", "names": ["ok", "long"]}, "spec.names[1]",
             'Invalid value: "string": failed rule: self.size() <= 3'),
            ({"min": 1, "max": 3, "zone": "b"}, "spec", 'Invalid value: "object": zone stays a')):
        async with api.put(f"{base}/p", json={**pool, "spec": spec}) as response:
            status = await response.json()
            assert response.status == 422, status
            assert [(c["field"], c["message"]) for c in status["details"]["causes"]] == [(field, message)], status
    assert await etcd_revision(gateway) == before
    async with api.put(f"{base}/p", json={**pool, "spec": {"min": 2, "max": 3, "zone": "a"}}) as response:
        assert response.status == 200
