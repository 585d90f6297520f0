"""Regenerate ``k8s_schema.json``: the field names and types Kubernetes has.

The gateway needs to tell a field Kubernetes does not know (rejected under
``fieldValidation=Strict``) from one kubelite merely does not act on (kept,
with a warning), and kubectl wants an OpenAPI document. Both come from this
table, extracted once from the official ``kubernetes`` Python client (a dev
dependency only): ``python -m kubelite.api.schema_gen``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOTS = {
    "Namespace": "V1Namespace", "Node": "V1Node", "Pod": "V1Pod", "Event": "CoreV1Event",
    "ReplicaSet": "V1ReplicaSet", "Deployment": "V1Deployment", "Lease": "V1Lease",
    "Scale": "V1Scale", "Eviction": "V1Eviction", "DeleteOptions": "V1DeleteOptions",
}
OUTPUT = Path(__file__).with_name("k8s_schema.json")
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


if __name__ == "__main__":
    OUTPUT.write_text(json.dumps(generate(), indent=0, sort_keys=False, separators=(",", ":")) + "\n")
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")
