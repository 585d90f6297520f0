"""OpenAPI documents, enough for kubectl: v3 per group-version, and an empty v2.

``/openapi/v2`` is a document with no paths and no definitions, in protobuf
(gnostic's ``openapi_v2.Document``, what kubectl asks for) or JSON. kubectl
falls back to it for a kind the v3 documents lack (a ConfigMap or a CRD's
kind today); finding no PATCH operation for it there, and no schema, it skips
client-side validation and reports what a real cluster would: the kind has no
resource mapping ("no matches for kind"), not "failed to download openapi".
The v2 document is built with the ``protobuf`` library from a two-message
descriptor (field numbers from gnostic's OpenAPIv2.proto).

kubectl 1.32 reads ``/openapi/v3`` and the per-group-version document to
decide whether the server validates fields itself: a PATCH operation tagged
with the kind's ``x-kubernetes-group-version-kind`` and a ``fieldValidation``
query parameter means "yes", so ``kubectl apply`` sends
``fieldValidation=Strict`` instead of validating client-side against the
protobuf OpenAPI v2 document (kubelite's is empty). The PATCH
operations declare no strategic-merge request body on purpose: kubectl then
computes apply patches from its compiled-in Kubernetes types, exactly as
against a real cluster. Component schemas come from ``k8s_schema.json`` so
``kubectl explain`` has something to show.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from kubelite.api.schema import k8s_schema, root_type
from kubelite.gateway import review_group
from kubelite.gateway.catalog import Served, group_versions, served_in
from kubelite.version import KUBERNETES_VERSION

_QUERY = {"in": "query", "schema": {"type": "string"}, "uniqueItems": True}
_WRITE_PARAMS = [
    {"name": "dryRun", **_QUERY}, {"name": "fieldManager", **_QUERY}, {"name": "fieldValidation", **_QUERY},
]
_ACTIONS = {"get": "get", "put": "put", "patch": "patch", "delete": "delete", "post": "post"}


# kube-openapi's handler: clients ask with '@' (V2_PROTOBUF_ACCEPT); the answer's type has none (Go's mime parser refuses it)
V2_PROTOBUF_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_TITLE = "Kubernetes (kubelite)"


@dataclass(frozen=True)
class _Built:
    root: bytes
    by_path: dict[str, tuple[bytes, str]]
    v2_json: bytes
    v2_protobuf: bytes


class OpenAPIDocs:
    """The built-in kinds' documents, encoded on first read: ~2 MB of JSON whose building peaks at
    ~6 MB of RSS. The gateway and control-plane processes read them once started, before they
    settle their heap (``Gateway.build_documents``: the peak is returned, and kubectl's first apply
    does not pay the ~0.15 s); a gateway in a test builds them when a request first needs them. The
    documents depend only on the built-in catalog, so when they are built does not change them."""

    @cached_property
    def _built(self) -> _Built:
        return _build()

    @property
    def root(self) -> bytes:
        return self._built.root

    @property
    def by_path(self) -> dict[str, tuple[bytes, str]]:
        """A group-version's path ("apis/apps/v1") → (its document, its hash)."""
        return self._built.by_path

    @property
    def v2_json(self) -> bytes:
        return self._built.v2_json

    @property
    def v2_protobuf(self) -> bytes:
        return self._built.v2_protobuf


def _v2_protobuf() -> bytes:
    """gnostic's openapi_v2.Document (OpenAPIv2.proto: swagger = 1, info = 2; Info: title = 1, version = 2)."""
    file = descriptor_pb2.FileDescriptorProto(name="kubelite/openapi_v2.proto", package="openapi.v2", syntax="proto3")
    info = file.message_type.add(name="Info")
    for name, number in (("title", 1), ("version", 2)):
        info.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                       label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    document = file.message_type.add(name="Document")
    document.field.add(name="swagger", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                       label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    document.field.add(name="info", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                       type_name=".openapi.v2.Info", label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    message = message_factory.GetMessageClass(pool.FindMessageTypeByName("openapi.v2.Document"))()
    message.swagger = "2.0"
    message.info.title, message.info.version = _TITLE, KUBERNETES_VERSION[2]
    return bytes(message.SerializeToString())


def gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def build_docs() -> OpenAPIDocs:
    """The documents, built when first read (:class:`OpenAPIDocs`)."""
    return OpenAPIDocs()


def _build() -> _Built:
    by_path: dict[str, tuple[bytes, str]] = {}
    documents = [(group, version, gv_document(group, version)) for group, version in group_versions()]
    documents += [(group, review_group.VERSION, review_document(group)) for group in review_group.GROUPS]
    for group, version, document in documents:
        body = json.dumps(document, separators=(",", ":")).encode()
        by_path[gv_path(group, version)] = (body, hashlib.sha512(body).hexdigest()[:64].upper())
    root = {"paths": {p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"} for p, (_, h) in by_path.items()}}
    v2 = {"swagger": "2.0", "info": {"title": _TITLE, "version": KUBERNETES_VERSION[2]}, "paths": {}, "definitions": {}}
    return _Built(json.dumps(root).encode(), by_path, json.dumps(v2).encode(), _v2_protobuf())


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


def _paths(served: Served, schema_name: str | None = None) -> dict[str, Any]:
    res = served.resource
    base = "/" + gv_path(res.group, res.version)
    schema_name = schema_name or (root_type(res.schema_kind) if served.custom is None else None)
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
    scalar: dict[str, dict[str, Any]] = {
        "string": {"type": "string"}, "number": {"type": "number", "format": "double"},
        "int32": {"type": "integer", "format": "int32"}, "int64": {"type": "integer", "format": "int64"},
        "boolean": {"type": "boolean"}, "date-time": {"type": "string", "format": "date-time"},
        "int-or-string": {"x-kubernetes-int-or-string": True}, "quantity": {"type": "string"}, "any": {"type": "object"},
    }
    if type_ref in scalar:
        return dict(scalar[type_ref])
    return {"allOf": [{"$ref": f"#/components/schemas/{type_ref}"}]}


def _components(served: list[Served], gvks: dict[str | None, dict[str, str]] | None = None) -> dict[str, Any]:
    types: dict[str, dict[str, str]] = k8s_schema()["types"]
    gvk_of = gvks if gvks is not None else {root_type(s.resource.schema_kind): _gvk(s) for s in served}
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
        "info": {"title": _TITLE, "version": KUBERNETES_VERSION[2]},
        "paths": paths,
        "components": _components(served),
    }


def review_document(group: str) -> dict[str, Any]:
    """The OpenAPI v3 document of a review group (:mod:`kubelite.gateway.review_group`): each kind's
    one operation, ``create`` (POST), as kube-apiserver publishes them — so ``kubectl explain
    selfsubjectaccessreview.spec`` works."""
    paths: dict[str, Any] = {}
    gvks: dict[str | None, dict[str, str]] = {}
    base = "/" + gv_path(group, review_group.VERSION)
    for plural, kind, namespaced in review_group.resources_of(group):
        gvk = {"group": group, "version": review_group.VERSION, "kind": kind}
        schema_name = root_type(kind)
        gvks[schema_name] = gvk
        path = f"{base}/namespaces/{{namespace}}/{plural}" if namespaced else f"{base}/{plural}"
        paths[path] = {"post": {
            "operationId": f"create{kind}", "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": gvk,
            "parameters": list(_WRITE_PARAMS),
            "responses": {"201": {"description": "Created", "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{schema_name}"} if schema_name else {}}}}},
        }}
    return {"openapi": "3.0.0", "info": {"title": _TITLE, "version": KUBERNETES_VERSION[2]}, "paths": paths,
            "components": _components([], gvks)}


# -- custom resources (kubelite.gateway.crds): documents built per request from the served CRDs --

def custom_schema_name(served: Served) -> str:
    """kube's name for a CRD version's schema: the reversed group, version and kind (``com.example.v1.Widget``)."""
    res = served.resource
    return ".".join([*reversed(res.group.split(".")), res.version, res.kind])


def custom_gv_document(served: list[Served]) -> dict[str, Any]:
    """The OpenAPI v3 document of one group version of custom resources (what ``kubectl explain`` reads)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for s in served:
        assert s.custom is not None
        name = custom_schema_name(s)
        paths.update(_paths(s, name))
        schema = copy.deepcopy(s.custom.schema)
        schema["properties"] = {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this "
                           "representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource "
                     "this object represents."},
            "metadata": {"type": "object", "description": "Standard object's metadata."},
            **{k: v for k, v in (schema.get("properties") or {}).items() if k not in ("apiVersion", "kind", "metadata")},
        }
        schema["x-kubernetes-group-version-kind"] = [_gvk(s)]
        schemas[name] = schema
    return {"openapi": "3.0.0", "info": {"title": _TITLE, "version": KUBERNETES_VERSION[2]}, "paths": paths,
            "components": {"schemas": schemas}}


def custom_documents(served: list[Served]) -> dict[str, tuple[bytes, str]]:
    """``apis/<group>/<version>`` → (document, hash) for every group version of custom resources."""
    by_gv: dict[tuple[str, str], list[Served]] = {}
    for s in served:
        by_gv.setdefault((s.resource.group, s.resource.version), []).append(s)
    docs = {}
    for (group, version), entries in by_gv.items():
        body = json.dumps(custom_gv_document(entries), separators=(",", ":")).encode()
        docs[gv_path(group, version)] = (body, hashlib.sha512(body).hexdigest()[:64].upper())
    return docs
