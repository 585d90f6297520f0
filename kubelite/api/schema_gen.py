"""Regenerate ``k8s_schema.json``: the field names and types Kubernetes has.

The gateway needs to tell a field Kubernetes does not know (rejected under
``fieldValidation=Strict``) from one kubelite merely does not act on (kept,
with a warning), and kubectl wants an OpenAPI document. Both come from this
table, extracted once from the official ``kubernetes`` Python client (a dev
dependency only): ``python -m kubelite.api.schema_gen``.

How each list and map merges is not in the Python client: Kubernetes keeps it
in its OpenAPI document as ``x-kubernetes-*`` extensions (list type and map
keys for server-side apply, patch strategy and merge key for strategic merge
patch). ``python -m kubelite.api.schema_gen --openapi swagger.json`` (the
``api/openapi-spec/swagger.json`` of a Kubernetes release, or the client's
``swagger.json.unprocessed``) also writes ``k8s_lists.json``: for every
definition, under the Python client's type name, each property's extensions
and the type's own under ``"."``. Every kind is covered, served or not, so a
kind added later merges right as soon as its types are in ``k8s_schema.json``.
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
    "Scale": "V1Scale", "Eviction": "V1Eviction", "DeleteOptions": "V1DeleteOptions",
    "Service": "V1Service",  # not served yet; its types let patches and apply merge it by the schema
}
OUTPUT = Path(__file__).with_name("k8s_schema.json")
LISTS_OUTPUT = Path(__file__).with_name("k8s_lists.json")
_EXTENSION = "x-kubernetes-"
# extensions that say how a value merges; the others (unions, group-version-kind, ...) are not needed here
_MERGE_EXTENSIONS = ("list-type", "list-map-keys", "map-type", "patch-strategy", "patch-merge-key")
_SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "datetime": "date-time",
            "object": "any", "bytes": "string"}


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


def generate() -> dict[str, Any]:
    import kubernetes.client.models as models  # noqa: PLC0415 - dev-only dependency

    types: dict[str, dict[str, str]] = {}
    todo = list(ROOTS.values())
    while todo:
        name = todo.pop()
        if name in types:
            continue
        cls = getattr(models, name)
        types[name] = {cls.attribute_map[attr]: _type(spec, todo) for attr, spec in sorted(cls.openapi_types.items())}
    # The client types these as plain strings/objects; Kubernetes accepts int-or-string here.
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
    _write(OUTPUT, generate())
    if "--openapi" in sys.argv:
        _write(LISTS_OUTPUT, generate_lists(json.loads(Path(sys.argv[sys.argv.index("--openapi") + 1]).read_text())))
