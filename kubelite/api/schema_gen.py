"""Regenerate ``k8s_schema.json``: the field names and types Kubernetes has.

kubelite needs to tell a field Kubernetes does not know (rejected under
``fieldValidation=Strict``, never written by a component) from one kubelite
merely does not act on (kept, with a warning); to type-check and range-check
every field as kube-apiserver's decoder does (``int32`` vs ``int64``); and
kubectl wants an OpenAPI document. All come from this table.

Sources (dev-time only): the structure from the official ``kubernetes``
Python client's models (a dev dependency), the scalar formats from the
Kubernetes OpenAPI document the client was generated from — pass its path
(``api/openapi-spec/swagger.json`` of kubernetes/kubernetes, or
``kubernetes/swagger.json.unprocessed`` of kubernetes-client/python)::

    python -m kubelite.api.schema_gen path/to/swagger.json

Scalar type names in the table: ``string``, ``boolean``, ``number``,
``int32``, ``int64``, ``int-or-string``, ``quantity`` (string or number),
``date-time``, ``any``; ``[]T`` is a list of T, ``{}T`` a map to T; anything
else names a type of the table.

The same document says how each list and map merges, which the Python client
does not: its ``x-kubernetes-*`` extensions (list type and map keys for
server-side apply, patch strategy and merge key for strategic merge patch).
The same run writes them to ``k8s_lists.json``: for every definition, under
the Python client's type name, each property's extensions and the type's own
under ``"."``. Every kind is covered, served or not, so a kind added later
merges right as soon as its types are in ``k8s_schema.json``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOTS = {
    "Namespace": "V1Namespace", "Node": "V1Node", "Pod": "V1Pod", "Event": "CoreV1Event",
    "ReplicaSet": "V1ReplicaSet", "Deployment": "V1Deployment", "Lease": "V1Lease",
    "ConfigMap": "V1ConfigMap", "Secret": "V1Secret", "ServiceAccount": "V1ServiceAccount",
    "Service": "V1Service", "Endpoints": "V1Endpoints", "PersistentVolumeClaim": "V1PersistentVolumeClaim",
    "ReplicationController": "V1ReplicationController", "LimitRange": "V1LimitRange",
    "ResourceQuota": "V1ResourceQuota", "Role": "V1Role", "RoleBinding": "V1RoleBinding",
    "ClusterRole": "V1ClusterRole", "ClusterRoleBinding": "V1ClusterRoleBinding", "Ingress": "V1Ingress",
    "NetworkPolicy": "V1NetworkPolicy", "IngressClass": "V1IngressClass",
    "PodDisruptionBudget": "V1PodDisruptionBudget", "Job": "V1Job", "CronJob": "V1CronJob",
    "DaemonSet": "V1DaemonSet", "StatefulSet": "V1StatefulSet", "ControllerRevision": "V1ControllerRevision", "PersistentVolume": "V1PersistentVolume", "StorageClass": "V1StorageClass",
    "PriorityClass": "V1PriorityClass", "EndpointSlice": "V1EndpointSlice",
    "CSIDriver": "V1CSIDriver", "CSINode": "V1CSINode", "VolumeAttachment": "V1VolumeAttachment",
    "CSIStorageCapacity": "V1CSIStorageCapacity", "PodTemplate": "V1PodTemplate",
    "Scale": "V1Scale", "Eviction": "V1Eviction", "DeleteOptions": "V1DeleteOptions",
    "HorizontalPodAutoscaler": "V2HorizontalPodAutoscaler",
    "ValidatingWebhookConfiguration": "V1ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration": "V1MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy": "V1ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding": "V1ValidatingAdmissionPolicyBinding",
    "CertificateSigningRequest": "V1CertificateSigningRequest", "APIService": "V1APIService",
    # the review kinds (kubelite.gateway.reviews): created, never stored; kubectl sends them as protobuf
    "SelfSubjectAccessReview": "V1SelfSubjectAccessReview", "SubjectAccessReview": "V1SubjectAccessReview",
    "SelfSubjectReview": "V1SelfSubjectReview", "TokenReview": "V1TokenReview",
    "SelfSubjectRulesReview": "V1SelfSubjectRulesReview", "LocalSubjectAccessReview": "V1LocalSubjectAccessReview",
    "TokenRequest": "AuthenticationV1TokenRequest",  # serviceaccounts/token (kubelite.gateway.sa_auth)
    # a kind served in a second version: keyed "<apiVersion>/<kind>" (protobuf bodies of that version)
    "autoscaling/v1/HorizontalPodAutoscaler": "V1HorizontalPodAutoscaler",
    "events.k8s.io/v1/Event": "EventsV1Event",  # the same stored events as core v1 (kubelite.api.events_v1)
}
OUTPUT = Path(__file__).with_name("k8s_schema.json")
LISTS_OUTPUT = Path(__file__).with_name("k8s_lists.json")
_EXTENSION = "x-kubernetes-"
# extensions that say how a value merges; the others (unions, group-version-kind, ...) are not needed here
_MERGE_EXTENSIONS = ("list-type", "list-map-keys", "map-type", "patch-strategy", "patch-merge-key")
_SCALARS = {"str": "string", "int": "int64", "float": "number", "bool": "boolean", "datetime": "date-time",
            "object": "any", "bytes": "string"}
_REF_SCALARS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "int-or-string",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "quantity",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "date-time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "date-time",
}
_INTEGER_FORMATS = {"int32": "int32", "int64": "int64"}


def _type(spec: str, todo: list[str]) -> str:
    """'List[V1Container]' → '[]V1Container', 'Dict[str, str]' → '{}string'."""
    if match := re.fullmatch(r"List\[(.+)\]", spec):
        return "[]" + _type(match.group(1), todo)
    if match := re.fullmatch(r"Dict\[str, (.+)\]", spec):
        return "{}" + _type(match.group(1), todo)
    if spec in _SCALARS:
        return _SCALARS[spec]
    todo.append(spec)
    return spec


def _swagger_scalar(prop: dict[str, Any]) -> str | None:
    """The table's scalar name for a swagger property, or None when it is a structure."""
    if "$ref" in prop:
        return _REF_SCALARS.get(prop["$ref"].rsplit("/", 1)[1])
    if prop.get("type") == "integer":
        return _INTEGER_FORMATS.get(prop.get("format", ""), "int64")
    if prop.get("type") == "number":
        return "number"
    for nested in ("items", "additionalProperties"):
        if isinstance(prop.get(nested), dict):
            inner = _swagger_scalar(prop[nested])
            if inner is not None:
                return ("[]" if nested == "items" else "{}") + inner
    return None


def _swagger_index(swagger: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Python client class name candidates ('V1Pod', 'CoreV1Event') → swagger definitions."""
    index: dict[str, list[dict[str, Any]]] = {}
    for name, definition in swagger["definitions"].items():
        parts = name.split(".")
        if len(parts) < 3:
            continue
        group, version, kind = parts[-3], parts[-2], parts[-1]
        for candidate in (f"{version.capitalize()}{kind}", f"{group.capitalize()}{version.capitalize()}{kind}"):
            index.setdefault(candidate, []).append(definition)
    return index


def _definition(index: dict[str, list[dict[str, Any]]], name: str, fields: set[str]) -> dict[str, Any]:
    """The candidate sharing most fields (the client may be a release newer or older than the document)."""
    candidates = index.get(name, [])
    if not candidates:
        print(f"note: {name} is not in the OpenAPI document; its integers stay int64", file=sys.stderr)
        return {}
    return max(candidates, key=lambda d: len(fields & set(d.get("properties", {}))))


def generate(swagger: dict[str, Any]) -> dict[str, Any]:
    import kubernetes.client.models as models  # noqa: PLC0415 - dev-only dependency

    index = _swagger_index(swagger)
    types: dict[str, dict[str, str]] = {}
    todo = list(ROOTS.values())
    while todo:
        name = todo.pop()
        if name in types:
            continue
        cls = getattr(models, name)
        wanted = {cls.attribute_map[attr]: spec for attr, spec in sorted(cls.openapi_types.items())}
        properties = _definition(index, name, set(wanted)).get("properties", {})
        # a field the client has but the document lacks is newer than the served release: not a field yet
        fields = {f: _type(spec, todo) for f, spec in wanted.items() if not properties or f in properties}
        for field, prop in properties.items():
            scalar = _swagger_scalar(prop)
            if field in fields and scalar is not None:
                fields[field] = scalar
        types[name] = fields
    return {"roots": ROOTS, "types": dict(sorted(types.items()))}


def _merge_extensions(schema: dict[str, Any]) -> dict[str, Any]:
    found = {k.removeprefix(_EXTENSION): v for k, v in schema.items() if k.startswith(_EXTENSION)}
    return {k: found[k] for k in _MERGE_EXTENSIONS if k in found}


def _client_name(definition: str, properties: set[str], models: Any) -> str | None:
    """The Python client's class for an OpenAPI definition: ``V1Container``, or ``CoreV1Event`` when
    the short name is taken by another group; the candidate whose fields match best (the client may
    be a release older or newer than the document), None below 80 %."""
    parts = definition.split(".")
    if len(parts) < 3:
        return None
    kind, version, group = parts[-1], parts[-2], parts[-3]
    best, best_score = None, 0.8
    for name in (version.capitalize() + kind, group.capitalize() + version.capitalize() + kind):
        cls = getattr(models, name, None)
        if cls is None:
            continue
        fields = set(cls.attribute_map.values())
        score = len(fields & properties) / max(len(fields | properties), 1)
        if score >= best_score:
            best, best_score = name, score
    return best


def generate_lists(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    import kubernetes.client.models as models  # noqa: PLC0415 - dev-only dependency

    table: dict[str, dict[str, Any]] = {}
    for definition, schema in openapi["definitions"].items():
        properties = schema.get("properties") or {}
        entry = {field: ext for field, prop in properties.items() if (ext := _merge_extensions(prop))}
        if own := _merge_extensions(schema):
            entry["."] = own
        name = _client_name(definition, set(properties), models) if entry else None
        if name is not None:
            table[name] = dict(sorted(entry.items()))
    return dict(sorted(table.items()))


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=0, sort_keys=False, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m kubelite.api.schema_gen path/to/swagger.json")
    document = json.loads(Path(sys.argv[1]).read_text())
    _write(OUTPUT, generate(document))
    _write(LISTS_OUTPUT, generate_lists(document))
