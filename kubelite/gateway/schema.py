"""What Kubernetes' field table (:mod:`kubelite.api.schema`) says about a document.

``unknown_to_kubernetes(doc)`` finds fields Kubernetes itself would reject
under ``fieldValidation=Strict``; fields Kubernetes has but kubelite does not
model are found by :func:`kubelite.api.warnings.unknown_fields` and only warned
about (DESIGN.md: accept, keep, warn).
"""

from __future__ import annotations

from typing import Any

from kubelite.api.schema import k8s_schema, root_type

__all__ = ["k8s_schema", "root_type", "unknown_to_kubernetes"]


def unknown_to_kubernetes(doc: Any, kind: str) -> list[str]:
    """JSON paths (``spec.template.spec.containers[0].foo``) of fields no Kubernetes type has."""
    type_name = root_type(kind)
    if type_name is None:
        return []
    found: list[str] = []
    _walk(doc, type_name, "", found)
    return found


def _walk(value: Any, type_ref: str, path: str, found: list[str]) -> None:
    if value is None:
        return
    if type_ref.startswith("[]"):
        if isinstance(value, list):
            for i, item in enumerate(value):
                _walk(item, type_ref[2:], f"{path}[{i}]", found)
        return
    if type_ref.startswith("{}"):
        if isinstance(value, dict):
            for key, item in value.items():
                _walk(item, type_ref[2:], f"{path}[{key}]", found)
        return
    fields = k8s_schema()["types"].get(type_ref)
    if fields is None or not isinstance(value, dict):
        return  # a scalar, or a wrong type the model validation reports
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if key not in fields:
            found.append(child)
        else:
            _walk(item, fields[key], child, found)
