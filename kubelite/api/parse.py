"""From manifest text or a request body to a validated :class:`KubeObject`.

Every failure is an :class:`ApiError`: malformed YAML/JSON or an unknown
kind is 400 BadRequest, a wrongly typed or semantically invalid field is 422
Invalid with one cause per field, named by its JSON path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from kubelite.api import errors
from kubelite.api.errors import StatusCause
from kubelite.api.meta import KubeObject
from kubelite.api.resources import Resource, resource_for_kind
from kubelite.api.schema import type_causes
from kubelite.api.validation import validate_object

_TYPE_MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be a boolean",
    "bool_parsing": "must be a boolean",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "datetime_type": "must be an RFC 3339 timestamp",
    "datetime_parsing": "must be an RFC 3339 timestamp",
    "datetime_from_date_parsing": "must be an RFC 3339 timestamp",
}


class _ManifestLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, as Kubernetes' YAML-to-JSON does."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(text: str) -> list[dict[str, Any]]:
    """The objects in a manifest: multi-document YAML or JSON; ``kind: List`` expanded."""
    try:
        loaded = [json.loads(text)] if text.lstrip().startswith(("{", "[")) else None
    except json.JSONDecodeError:
        loaded = None  # not JSON after all (YAML flow style): let YAML parse it and report errors
    if loaded is None:
        try:
            loaded = list(yaml.load_all(text, Loader=_ManifestLoader))  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error parsing YAML: {_yaml_problem(exc)}") from exc
    documents: list[dict[str, Any]] = []
    for doc in loaded:
        documents += _expand(doc)
    return documents


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def _expand(doc: Any) -> list[dict[str, Any]]:
    if doc is None:
        return []
    if isinstance(doc, list):
        return [d for item in doc for d in _expand(item)]
    if not isinstance(doc, dict):
        raise errors.bad_request(f"a manifest document must be an object, not {type(doc).__name__}: {doc!r}")
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        return [d for item in doc["items"] for d in _expand(item)]
    return [doc]


def resource_for_document(api_version: Any, kind: Any) -> Resource:
    """The resource serving ``apiVersion``/``kind``; 400 if kubelite has none."""
    if not kind or not isinstance(kind, str):
        raise errors.bad_request("Object 'Kind' is missing in the document")
    if not api_version or not isinstance(api_version, str):
        raise errors.bad_request(f"Object 'apiVersion' is missing in the document of kind {kind!r}")
    resource = resource_for_kind(kind)
    if resource is None:
        raise errors.bad_request(f'no matches for kind "{kind}" in version "{api_version}"')
    if resource.api_version != api_version:
        raise errors.bad_request(
            f'no matches for kind "{kind}" in version "{api_version}" (kubelite serves {kind} as "{resource.api_version}")'
        )
    return resource


def parse_object(doc: Mapping[str, Any]) -> KubeObject:
    """A typed, validated object from a JSON document; ApiError 400/422 otherwise."""
    if not isinstance(doc, Mapping):
        raise errors.bad_request(f"the object must be a JSON object, not {type(doc).__name__}")
    resource = resource_for_document(doc.get("apiVersion"), doc.get("kind"))
    metadata = doc.get("metadata")
    name = (metadata.get("name") or metadata.get("generateName") or "") if isinstance(metadata, Mapping) else ""
    # What kube-apiserver's decoder refuses (wrong JSON types, int32/int64 out of range), named by field path.
    causes = type_causes(doc, resource.kind)
    try:
        # Strict JSON validation, by alias only: like Kubernetes, "3" is no integer and container_port no field.
        obj = resource.model.model_validate_json(json.dumps(doc), strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        named = {c.field for c in causes}
        causes += [c for c in causes_from_validation_error(exc, doc) if c.field not in named]
        raise errors.invalid(resource.kind, str(name), causes, group=resource.group) from exc
    if causes:
        raise errors.invalid(resource.kind, str(name), causes, group=resource.group)
    causes = validate_object(obj)
    if causes:
        raise errors.invalid(resource.kind, str(name), causes, group=resource.group)
    return obj


def causes_from_validation_error(exc: ValidationError, doc: Any) -> list[StatusCause]:
    """One cause per wrong field; a union's failed alternatives merge into one message."""
    by_path: dict[str, list[ErrorDetails]] = {}
    for error in exc.errors():
        by_path.setdefault(_field_path(error, doc), []).append(error)
    return [_cause(path, details) for path, details in by_path.items()]


def _field_path(error: ErrorDetails, doc: Any) -> str:
    """Follow the error's location through the document; stop at union-branch tags like 'int'."""
    path, node = "", doc
    loc = error["loc"]
    for i, step in enumerate(loc):
        if isinstance(step, int) and isinstance(node, Sequence) and not isinstance(node, str):
            path, node = f"{path}[{step}]", node[step] if step < len(node) else None
        elif isinstance(step, str) and isinstance(node, Mapping) and step in node:
            path, node = f"{path}.{step}" if path else step, node[step]
        elif error["type"] == "missing" and i == len(loc) - 1:
            path = f"{path}.{step}" if path else str(step)
        else:
            break
    return path


def _cause(path: str, details: list[ErrorDetails]) -> StatusCause:
    first = details[0]
    if first["type"] == "missing":
        return StatusCause(field=path, reason="FieldValueRequired", message="Required value")
    wanted = sorted({_TYPE_MESSAGES.get(d["type"], d["msg"]) for d in details})
    if all(w.startswith("must be ") for w in wanted):
        detail = "must be " + " or ".join(w.removeprefix("must be ") for w in wanted)
    else:
        detail = "; ".join(wanted)
    value = json.dumps(first.get("input"), default=str)
    return StatusCause(field=path, reason="FieldValueInvalid", message=f"Invalid value: {value}: {detail}")
