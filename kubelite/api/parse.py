"""From manifest text or a request body to a validated :class:`KubeObject`.

Every failure is an :class:`ApiError`: malformed YAML/JSON or an unknown
kind is 400 BadRequest, a wrongly typed or semantically invalid field is 422
Invalid with one cause per field, named by its JSON path.

Untrusted text is bounded before any object is built (the lesson of
CVE-2019-11253, the YAML "billion laughs" against kube-apiserver): YAML is
composed into a node graph first (PyYAML, with libyaml's C parser when
present), and a graph whose alias expansion would add more than
``MAX_ALIAS_NODES`` nodes, that refers to itself, or that nests deeper than
``MAX_DEPTH`` is refused with 400 before it is constructed. JSON gets the
same depth bound. Values quoted in error messages are truncated.

Why PyYAML: it is the YAML 1.1 parser kubectl's manifests are written for
(Go's sigs.k8s.io/yaml reads the same 1.1 scalars), its safe loader builds
only plain data, and its separate compose step is what lets the bound above
run before any object exists; libyaml's C parser, when installed, makes
large bodies several times faster with the same results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from kubelite.api import errors
from kubelite.api.errors import StatusCause, quote_value
from kubelite.api.meta import KubeObject
from kubelite.api.generic import without_nulls
from kubelite.api.resources import Resource, resource_for_api_version, resource_for_kind
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


# Nodes that alias expansion may add to one document. A real manifest that
# shares an env list or a label map through anchors adds hundreds; the
# 494-byte bomb of 7 levels of 10 aliases adds ten million.
MAX_ALIAS_NODES = 100_000
# Nesting depth of any decoded body. Kubernetes objects nest a few tens deep
# (a CRD's openAPIV3Schema perhaps 50); Python's recursion needs headroom.
MAX_DEPTH = 200

_YAML_BASE: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses ~10x faster


class _ManifestLoader(_YAML_BASE):  # type: ignore[misc]
    """Safe loader that keeps timestamps as strings, as Kubernetes' YAML-to-JSON does."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _check_graph(root: yaml.Node) -> None:
    """400 if ``root`` expands (through aliases) past the bounds or refers to itself.

    Expanded sizes are memoised per node, so the check costs one pass over the
    composed graph however large its expansion would be.
    """
    expanded: dict[int, int] = {}
    depth_below: dict[int, int] = {}
    distinct = 0

    def visit(node: yaml.Node, on_path: set[int], depth: int) -> tuple[int, int]:
        nonlocal distinct
        key = id(node)
        if key in on_path:
            raise errors.bad_request("yaml: document contains a recursive alias")
        if depth > MAX_DEPTH:
            raise errors.bad_request(f"yaml: document is nested deeper than {MAX_DEPTH} levels")
        if key in expanded:
            if depth + depth_below[key] > MAX_DEPTH:
                raise errors.bad_request(f"yaml: document is nested deeper than {MAX_DEPTH} levels")
            return expanded[key], depth_below[key]
        distinct += 1
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        on_path.add(key)
        size, below = 1, 0
        for child in children:
            child_size, child_below = visit(child, on_path, depth + 1)
            size += child_size
            below = max(below, child_below + 1)
            if size - distinct > MAX_ALIAS_NODES:
                raise errors.bad_request("yaml: document contains excessive aliasing")
        on_path.discard(key)
        expanded[key], depth_below[key] = size, below
        return size, below

    visit(root, set(), 0)


def _load_yaml(text: str) -> list[Any]:
    loader = _ManifestLoader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                _check_graph(node)
                documents.append(loader.construct_document(node))
        return documents
    finally:
        loader.dispose()


def _check_depth(value: Any) -> None:
    """400 if a decoded JSON value nests deeper than ``MAX_DEPTH``; iterative, so never a RecursionError."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise errors.bad_request(f"the JSON body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def load_json(text: str | bytes) -> Any:
    """JSON → Python value; 400 when malformed or nested deeper than ``MAX_DEPTH``."""
    try:
        value = json.loads(text)
    except ValueError as exc:  # malformed JSON, or bytes that are not UTF-8
        raise errors.bad_request(f"couldn't decode the body as JSON: {exc}") from exc
    except RecursionError as exc:
        raise errors.bad_request(f"the JSON body is nested deeper than {MAX_DEPTH} levels") from exc
    _check_depth(value)
    return value


def load_documents(text: str) -> list[dict[str, Any]]:
    """The objects in a manifest: multi-document YAML or JSON; ``kind: List`` expanded.

    Raises ApiError 400 for malformed text and for text past the bounds above.
    """
    loaded: list[Any] | None = None
    if text.lstrip().startswith(("{", "[")):
        try:
            loaded = [json.loads(text)]
        except json.JSONDecodeError:
            loaded = None  # not JSON after all (YAML flow style): let YAML parse it and report errors
        except RecursionError as exc:
            raise errors.bad_request(f"the JSON body is nested deeper than {MAX_DEPTH} levels") from exc
        else:
            _check_depth(loaded)
    if loaded is None:
        try:
            loaded = _load_yaml(text)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error parsing YAML: {_yaml_problem(exc)}") from exc
        except RecursionError as exc:
            raise errors.bad_request(f"yaml: document is nested deeper than {MAX_DEPTH} levels") from exc
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
        raise errors.bad_request(
            f"a manifest document must be an object, not {type(doc).__name__}: {quote_value(doc)}")
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
    resource = resource_for_api_version(api_version, kind) or resource_for_kind(kind)
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
    causes = type_causes(doc, resource.schema_kind)
    try:
        # Strict JSON validation, by alias only: like Kubernetes, "3" is no integer and container_port no field.
        if getattr(resource.model, "STORED_AS_SENT", False):
            doc = without_nulls(doc)
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
    value = quote_value(first.get("input"))
    return StatusCause(field=path, reason="FieldValueInvalid", message=f"Invalid value: {value}: {detail}")
