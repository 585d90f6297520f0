"""OpenAPI v3 documents, enough for kubectl.

kubectl 1.32 reads ``/openapi/v3`` and the per-group-version document to
decide whether the server validates fields itself: a PATCH operation tagged
with the kind's ``x-kubernetes-group-version-kind`` and a ``fieldValidation``
query parameter means "yes", so ``kubectl apply`` sends
``fieldValidation=Strict`` instead of validating client-side against the
protobuf OpenAPI v2 document (which kubelite does not serve). The PATCH
operations declare no strategic-merge request body on purpose: kubectl then
computes apply patches from its compiled-in Kubernetes types, exactly as
against a real cluster. Component schemas come from ``k8s_schema.json`` so
``kubectl explain`` has something to show.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from kubelite.gateway.catalog import Served, group_versions, served_in
from kubelite.gateway.discovery import KUBERNETES_VERSION
from kubelite.gateway.schema import k8s_schema, root_type

_QUERY = {"in": "query", "schema": {"type": "string"}, "uniqueItems": True}
_WRITE_PARAMS = [
    {"name": "dryRun", **_QUERY}, {"name": "fieldManager", **_QUERY}, {"name": "fieldValidation", **_QUERY},
]
_ACTIONS = {"get": "get", "put": "put", "patch": "patch", "delete": "delete", "post": "post"}


@dataclass(frozen=True)
class OpenAPIDocs:
    root: bytes
    by_path: dict[str, tuple[bytes, str]]  # "apis/apps/v1" → (document, hash)


def gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def build_docs() -> OpenAPIDocs:
    by_path: dict[str, tuple[bytes, str]] = {}
    for group, version in group_versions():
        body = json.dumps(gv_document(group, version), separators=(",", ":")).encode()
        by_path[gv_path(group, version)] = (body, hashlib.sha512(body).hexdigest()[:64].upper())
    root = {"paths": {p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"} for p, (_, h) in by_path.items()}}
    return OpenAPIDocs(json.dumps(root).encode(), by_path)


def _gvk(served: Served) -> dict[str, str]:
    res = served.resource
    return {"group": res.group, "version": res.version, "kind": res.kind}


def _operation(served: Served, method: str, action: str, schema_name: str | None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{method}{served.resource.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(served),
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{schema_name}"} if schema_name else {}}}}},
    }
    if method in ("put", "patch", "post"):
        op["parameters"] = list(_WRITE_PARAMS)
    return op


def _paths(served: Served) -> dict[str, Any]:
    res = served.resource
    base = "/" + gv_path(res.group, res.version)
    schema_name = root_type(res.kind)
    scope = f"{base}/namespaces/{{namespace}}/{res.plural}" if res.namespaced else f"{base}/{res.plural}"
    ops = {m: _operation(served, m, a, schema_name) for m, a in _ACTIONS.items()}
    collection: dict[str, Any] = {"get": {**ops["get"], "x-kubernetes-action": "list"}, "post": ops["post"]}
    if "deletecollection" in served.verbs:
        collection["delete"] = {**ops["delete"], "x-kubernetes-action": "deletecollection"}
    paths = {scope: collection, f"{scope}/{{name}}": {k: ops[k] for k in ("get", "put", "patch", "delete")}}
    for sub in served.subresources:
        if sub.name in ("status", "scale"):
            paths[f"{scope}/{{name}}/{sub.name}"] = {k: ops[k] for k in ("get", "put", "patch")}
    return paths


def _schema_of(type_ref: str) -> dict[str, Any]:
    if type_ref.startswith("[]"):
        return {"type": "array", "items": _schema_of(type_ref[2:])}
    if type_ref.startswith("{}"):
        return {"type": "object", "additionalProperties": _schema_of(type_ref[2:])}
    scalar: dict[str, dict[str, Any]] = {"string": {"type": "string"}, "integer": {"type": "integer"}, "number": {"type": "number"},
              "boolean": {"type": "boolean"}, "date-time": {"type": "string", "format": "date-time"},
              "any": {"x-kubernetes-int-or-string": True}}
    if type_ref in scalar:
        return dict(scalar[type_ref])
    return {"allOf": [{"$ref": f"#/components/schemas/{type_ref}"}]}


def _components(served: list[Served]) -> dict[str, Any]:
    types: dict[str, dict[str, str]] = k8s_schema()["types"]
    gvk_of = {root_type(s.resource.kind): _gvk(s) for s in served}
    schemas: dict[str, Any] = {}
    for name, fields in types.items():
        schema: dict[str, Any] = {"type": "object", "properties": {f: _schema_of(t) for f, t in fields.items()}}
        if name in gvk_of:
            schema["x-kubernetes-group-version-kind"] = [gvk_of[name]]
        schemas[name] = schema
    return {"schemas": schemas}


def gv_document(group: str, version: str) -> dict[str, Any]:
    served = served_in(group, version)
    paths: dict[str, Any] = {}
    for s in served:
        paths.update(_paths(s))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kubelite)", "version": KUBERNETES_VERSION[2]},
        "paths": paths,
        "components": _components(served),
    }
