"""Fields kubelite keeps but does not act on, for kubectl-style warnings.

Models accept unknown fields (``extra="allow"``) so real manifests apply
unchanged; this finds them so the user learns that, say, ``volumes`` is
ignored. Free-form maps (labels, annotations, nodeSelector, resources) are
``dict`` fields, not extras, so they are never reported.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def unknown_fields(obj: BaseModel) -> list[str]:
    """JSON paths of every unknown field, e.g. ``spec.template.spec.containers[0].securityContext``.

    None for a stored-only kind (:mod:`kubelite.api.generic`): all of it is kept as sent, by design.
    """
    if getattr(type(obj), "STORED_AS_SENT", False):
        return []
    return _walk(obj, "")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk(value: Any, path: str) -> list[str]:
    if isinstance(value, BaseModel):
        found = [_join(path, key) for key in value.model_extra or {}]
        for name, field in type(value).model_fields.items():
            alias = field.serialization_alias or field.alias or name
            found += _walk(getattr(value, name), _join(path, alias))
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _walk(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _walk(item, f"{path}[{key}]")]
    return []
