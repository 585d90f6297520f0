"""CustomResourceDefinitions and their custom resources, through the real kubectl (v1.32) and HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubelite.etcd.ops import prefix_end, range_
from kubelite.gateway import Gateway
from tests.gateway.conftest import Kubectl, etcd_revision

pytestmark = pytest.mark.timeout(180)

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: string, enum: [small, large]}
              replicas: {type: integer, minimum: 0, maximum: 10, default: 1}
              colour: {type: string, default: blue}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status:
            type: object
            properties:
              replicas: {type: integer}
              phase: {type: string}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Cluster
  names: {plural: gadgets, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {level: {type: integer}}}
"""

WIDGET = """\
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1}
spec: {size: small, replicas: 2, extra: {anything: [1, 2]}}
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


async def _json(kubectl: Kubectl, *args: str) -> Any:
    return json.loads((await kubectl(*args, "-o", "json")).stdout)


async def test_crd_then_custom_resources_with_kubectl(gateway: Gateway, kubectl: Kubectl, tmp_path: Path) -> None:
    await kubectl("apply", "-f", _write(tmp_path, "crd.yaml", CRD))
    crd = await _json(kubectl, "get", "crd", "widgets.example.com")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["kind"] == "Widget" and crd["status"]["storedVersions"] == ["v1"]

    resources = (await kubectl("api-resources", "--api-group=example.com")).stdout
    assert "widgets" in resources and "wd" in resources and "Widget" in resources and "gadgets" in resources

    explained = (await kubectl("explain", "widgets.spec")).stdout  # from the CRD's OpenAPI v3 document
    assert explained.startswith("GROUP:      example.com\nKIND:       Widget\nVERSION:    v1\n"), explained
    assert "  size\t<string> -required-\n  enum: small, large" in explained and "  replicas\t<integer>" in explained

    applied = await kubectl("apply", "-f", _write(tmp_path, "w1.yaml", WIDGET))
    assert "widget.example.com/w1 created" in applied.stdout
    w1 = await _json(kubectl, "get", "widget", "w1")
    # defaulted from the schema, unknown fields kept under x-kubernetes-preserve-unknown-fields
    assert w1["spec"] == {"size": "small", "replicas": 2, "colour": "blue", "extra": {"anything": [1, 2]}}
    table = (await kubectl("get", "wd")).stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "REPLICAS", "AGE"]
    assert table[1].split()[:3] == ["w1", "small", "2"]

    # a second client-side apply is a merge patch (strategic merge has no schema for custom resources)
    await kubectl("apply", "-f", _write(tmp_path, "w1.yaml", WIDGET.replace("replicas: 2", "replicas: 3")))
    assert (await _json(kubectl, "get", "widget", "w1"))["spec"]["replicas"] == 3

    # the other served version: the same object, apiVersion rewritten (conversion strategy None)
    beta = await _json(kubectl, "get", "widgets.v1beta1.example.com", "w1")
    assert beta["apiVersion"] == "example.com/v1beta1" and beta["spec"]["size"] == "small"

    # the scale subresource, through kubectl scale
    await kubectl("scale", "widget", "w1", "--replicas=4")
    assert (await _json(kubectl, "get", "widget", "w1"))["spec"]["replicas"] == 4

    # the status subresource: a main-resource write keeps the stored status, a status write sets it
    await kubectl("patch", "widget", "w1", "--type=merge", "--subresource=status", "-p",
                  '{"status": {"phase": "Ready", "replicas": 4}}')
    await kubectl("patch", "widget", "w1", "--type=merge", "-p", '{"status": {"phase": "Lost"}, "spec": {"size": "large"}}')
    w1 = await _json(kubectl, "get", "widget", "w1")
    assert w1["status"] == {"phase": "Ready", "replicas": 4} and w1["spec"]["size"] == "large"
    assert w1["metadata"]["generation"] == 4  # spec changed three times (apply, scale, patch); status writes do not

    # cluster-scoped kind
    await kubectl("apply", "-f", _write(tmp_path, "g.yaml", "apiVersion: example.com/v1\nkind: Gadget\n"
                                                              "metadata: {name: g1}\nspec: {level: 3}\n"))
    assert (await _json(kubectl, "get", "gadget", "g1"))["spec"] == {"level": 3}

    # deleting the CRD deletes its custom resources, and discovery no longer lists it
    await kubectl("delete", "crd", "widgets.example.com")
    assert gateway.state is not None
    left = await range_(gateway.state.client, "/registry/example.com/widgets/",
                        range_end=prefix_end("/registry/example.com/widgets/"), count_only=True, what="test")
    assert left.count == 0
    resources = (await kubectl("api-resources", "--api-group=example.com")).stdout
    assert "widgets" not in resources and "gadgets" in resources
    missing = await kubectl("get", "widgets", check=False)
    assert missing.returncode != 0


async def test_schema_violation_is_422_with_field_path_and_etcd_untouched(
    gateway: Gateway, api: aiohttp.ClientSession, kubectl: Kubectl, tmp_path: Path,
) -> None:
    await kubectl("apply", "-f", _write(tmp_path, "crd.yaml", CRD))
    before = await etcd_revision(gateway)
    bad = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "bad"},
           "spec": {"size": "huge", "replicas": 11}}
    async with api.post("/apis/example.com/v1/namespaces/default/widgets", json=bad) as response:
        assert response.status == 422
        status = await response.json()
    assert status["reason"] == "Invalid" and status["details"]["kind"] == "Widget"
    fields = {c["field"]: c["message"] for c in status["details"]["causes"]}
    assert fields["spec.size"] == 'Unsupported value: "huge": supported values: "small", "large"'
    assert fields["spec.replicas"] == "Invalid value: 11: spec.replicas in body should be less than or equal to 10"
    async with api.post("/apis/example.com/v1/namespaces/default/widgets",
                        json={**bad, "spec": {"replicas": 1}}) as response:
        assert response.status == 422
        causes = (await response.json())["details"]["causes"]
    assert causes == [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.size"}]
    # kubectl's default --validate=strict: an unknown field is refused, not pruned silently
    strict = await kubectl("apply", "-f", _write(tmp_path, "u.yaml", WIDGET.replace("size: small", "size: small, bogus: 1")),
                           check=False)
    assert strict.returncode != 0 and 'unknown field "spec.bogus"' in strict.stderr
    assert await etcd_revision(gateway) == before
    # without strict validation the unknown field is pruned
    await kubectl("apply", "--validate=false", "-f", _write(tmp_path, "u.yaml", WIDGET.replace("size: small", "size: small, bogus: 1")))
    assert "bogus" not in (await _json(kubectl, "get", "widget", "w1"))["spec"]


async def test_invalid_crd_is_refused(api: aiohttp.ClientSession) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "things.example.com"},
           "spec": {"group": "example.com", "scope": "Galaxy", "names": {"plural": "things", "kind": "Thing"},
                    "versions": [{"name": "v1", "served": True, "storage": False,
                                  "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-validations": [
                                      {"rule": "self.x >"}]}}}]}}  # a CEL rule that does not compile
    async with api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd) as response:
        assert response.status == 422
        fields = {c["field"] for c in (await response.json())["details"]["causes"]}
    assert fields == {"spec.scope", "spec.versions",
                      "spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule"}


async def test_watch_custom_resources_in_a_served_version(api: aiohttp.ClientSession, kubectl: Kubectl,
                                                          tmp_path: Path) -> None:
    await kubectl("apply", "-f", _write(tmp_path, "crd.yaml", CRD))
    async with api.get("/apis/example.com/v1beta1/namespaces/default/widgets?watch=1&timeoutSeconds=20") as watch:
        assert watch.status == 200
        await kubectl("apply", "-f", _write(tmp_path, "w1.yaml", WIDGET))
        event = json.loads(await watch.content.readline())
    assert event["type"] == "ADDED" and event["object"]["apiVersion"] == "example.com/v1beta1"
    assert event["object"]["metadata"]["name"] == "w1" and event["object"]["spec"]["replicas"] == 2
    await kubectl("label", "widget", "w1", "tier=gold")
    for selector, names in (("tier=gold", ["w1"]), ("tier=silver", [])):
        async with api.get("/apis/example.com/v1/widgets", params={"labelSelector": selector, "limit": "5"}) as listed:
            assert listed.status == 200
            doc = await listed.json()
        assert doc["kind"] == "WidgetList" and [i["metadata"]["name"] for i in doc["items"]] == names


KNATIVE_LIKE_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: services.serving.example.com}
spec:
  group: serving.example.com
  scope: Namespaced
  names: {plural: services, singular: service, kind: Service, shortNames: [ksvc]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""
KNATIVE_LIKE = """\
apiVersion: serving.example.com/v1
kind: Service
metadata: {name: hello, namespace: default}
spec:
  template:
    spec:
      containers: [{image: kubelite/demo:latest}]
"""


async def test_a_custom_kind_named_like_a_built_in_one_follows_its_own_schema(
    gateway: Gateway, kubectl: Kubectl, tmp_path: Path,
) -> None:
    """Knative's Service: kind Service in its own group. Neither the core Service's rules (spec.ports
    required, unknown fields dropped) nor its status reset apply to it."""
    await kubectl("apply", "-f", _write(tmp_path, "crd.yaml", KNATIVE_LIKE_CRD))
    await kubectl("wait", "--for=condition=Established", "crd/services.serving.example.com", "--timeout=30s")
    created = await kubectl("apply", "-f", _write(tmp_path, "ksvc.yaml", KNATIVE_LIKE), check=False)
    assert created.returncode == 0, created.stderr
    shown = json.loads((await kubectl("get", "services.serving.example.com", "hello", "-o", "json")).stdout)
    assert shown["spec"] == {"template": {"spec": {"containers": [{"image": "kubelite/demo:latest"}]}}}
    assert "status" not in shown or shown["status"] == {}
    core = await kubectl("get", "services", "-n", "default", "-o", "name")
    assert "service/hello" not in core.stdout
