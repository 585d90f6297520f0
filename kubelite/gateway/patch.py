"""The three PATCH formats kubectl and clients send, as pure functions on JSON.

- JSON merge patch (RFC 7386, ``application/merge-patch+json``);
- JSON patch (RFC 6902, ``application/json-patch+json``);
- strategic merge patch (``application/strategic-merge-patch+json``): lists of
  named things (containers, ports, env, volumes, conditions, ...) merge by
  their key instead of being replaced, with the directives ``kubectl apply``
  sends (``$patch``, ``$setElementOrder/…``, ``$retainKeys``,
  ``$deleteFromPrimitiveList/…``).

Each list's strategy and merge key come from Kubernetes' schema
(:mod:`kubelite.gateway.fieldschema`), never from the field's name: container
``ports`` merge by ``containerPort``, a Service's ``ports`` by ``port``, and a
list without ``patchStrategy: merge`` (tolerations, args) is replaced.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubelite.api import errors
from kubelite.gateway.fieldschema import UNKNOWN, Node


class PatchError(ValueError):
    """The patch cannot be applied to this object (422), or is malformed (``bad_format``: 400)."""

    def __init__(self, message: str, *, bad_format: bool = False) -> None:
        super().__init__(message)
        self.bad_format = bad_format

    def to_api_error(self) -> errors.ApiError:
        if self.bad_format:
            return errors.bad_request(str(self))
        status = errors.Status(code=422, reason="Invalid", message=str(self))
        return errors.ApiError(status)


_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"


# -- JSON merge patch ---------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- JSON patch ----------------------------------------------------------------

def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902 on a copy of ``document``: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations", bad_format=True)
    doc = copy.deepcopy(document)
    for index, op in enumerate(operations):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
            raise PatchError(f"JSON patch operation {index} needs string 'op' and 'path'", bad_format=True)
        doc = _apply_operation(doc, op)
    return doc


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}: must start with '/'", bad_format=True)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, path)
    return node


def _child(node: Any, token: str, path: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise PatchError(f"JSON patch: path {path!r} does not exist (missing {token!r})")
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, path, allow_end=False)]
    raise PatchError(f"JSON patch: path {path!r} goes through a value that is neither an object nor a list")


def _index(node: list[Any], token: str, path: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(node)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"JSON patch: {token!r} in {path!r} is not a list index")
    index = int(token)
    if index > len(node) or (index == len(node) and not allow_end):
        raise PatchError(f"JSON patch: index {index} in {path!r} is out of range")
    return index


def _get(doc: Any, path: str) -> Any:
    node = doc
    for token in _pointer(path):
        node = _child(node, token, path)
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return copy.deepcopy(value)
    parent = _parent(doc, tokens, path)
    if isinstance(parent, dict):
        parent[tokens[-1]] = copy.deepcopy(value)
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], path, allow_end=True), copy.deepcopy(value))
    else:
        raise PatchError(f"JSON patch: cannot add at {path!r}: parent is neither an object nor a list")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError("JSON patch: cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise PatchError(f"JSON patch: cannot remove {path!r}: it does not exist")
        return doc, parent.pop(tokens[-1])
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, tokens[-1], path, allow_end=False))
    raise PatchError(f"JSON patch: cannot remove {path!r}")


def _apply_operation(doc: Any, op: dict[str, Any]) -> Any:
    kind, path = op["op"], op["path"]
    if kind in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"JSON patch operation {kind!r} at {path!r} needs a 'value'", bad_format=True)
    if kind == "add":
        return _add(doc, path, op["value"])
    if kind == "remove":
        return _remove(doc, path)[0]
    if kind == "replace":
        _get(doc, path)  # must exist
        if not _pointer(path):
            return copy.deepcopy(op["value"])
        doc, _ = _remove(doc, path)
        return _add(doc, path, op["value"])
    if kind in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise PatchError(f"JSON patch operation {kind!r} needs a string 'from'", bad_format=True)
        if kind == "move":
            doc, value = _remove(doc, source)
        else:
            value = copy.deepcopy(_get(doc, source))
        return _add(doc, path, value)
    if kind == "test":
        if _get(doc, path) != op["value"]:
            raise PatchError(f"JSON patch: test failed at {path!r}")
        return doc
    raise PatchError(f"JSON patch: unknown operation {kind!r}", bad_format=True)


# -- strategic merge patch -------------------------------------------------------

def strategic_merge_patch(original: Any, patch: Any, node: Node = UNKNOWN) -> Any:
    """Kubernetes' strategic merge of ``patch`` into a copy of ``original``.

    ``node`` is the object's schema (:func:`kubelite.gateway.fieldschema.root`):
    each list merges by its own ``x-kubernetes-patch-merge-key`` when its
    ``x-kubernetes-patch-strategy`` says ``merge`` and is replaced otherwise,
    as in k8s.io/apimachinery/pkg/util/strategicpatch.
    """
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object", bad_format=True)
    merged = _merge_map(original if isinstance(original, dict) else {}, patch, node)
    return merged if merged is not None else {}


def _merge_map(original: dict[str, Any], patch: dict[str, Any], node: Node) -> dict[str, Any] | None:
    """The merged map, or None when the patch deletes it (``$patch: delete``)."""
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _merge_map({}, {k: v for k, v in patch.items() if k != "$patch"}, node)
    if directive not in (None, "merge"):
        raise PatchError(f"unknown $patch directive {directive!r}", bad_format=True)
    result = copy.deepcopy(original)
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("$retainKeys must be a list of field names", bad_format=True)
        result = {k: v for k, v in result.items() if k in retain}
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVES):
            field = key.removeprefix(_DELETE_PRIMITIVES)
            if not isinstance(value, list):
                raise PatchError(f"{key} must be a list", bad_format=True)
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        child = node.field(key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, child)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            current = result.get(key)
            result[key] = _merge_list(key, current if isinstance(current, list) else [], value, child)
        else:
            result[key] = value
    for key, value in patch.items():
        if key.startswith(_ORDER):
            field = key.removeprefix(_ORDER)
            if not isinstance(value, list):
                raise PatchError(f"{key} must be a list", bad_format=True)
            if isinstance(result.get(field), list):
                result[field] = _ordered(result[field], value, node.field(field).patch_merge_key)
    return result


def _merge_list(field: str, original: list[Any], patch: list[Any], node: Node) -> list[Any]:
    replace = [i for i in patch if isinstance(i, dict) and i.get("$patch") == "replace"]
    items = [i for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    if replace or "merge" not in node.patch_strategies:
        return [_merge_map({}, i, node.item()) if isinstance(i, dict) else i for i in items
                if not (isinstance(i, dict) and "$patch" in i)]
    key = node.patch_merge_key
    if key is None:  # a merged list of scalars: a set that keeps the server's order
        return original + [v for i, v in enumerate(items) if v not in original and v not in items[:i]]
    result = copy.deepcopy(original)
    for item in items:
        if not isinstance(item, dict):
            raise PatchError(f"list {field!r} merges by {key!r}: its items must be objects")
        if key not in item:
            raise PatchError(f"map in list {field!r} does not contain declared merge key: {key}")
        position = next((i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if position is not None:
                result.pop(position)
            continue
        if position is None:
            merged = _merge_map({}, item, node.item())
            if merged is not None:
                result.append(merged)
        else:
            merged = _merge_map(result[position], item, node.item())
            if merged is None:
                result.pop(position)
            else:
                result[position] = merged
    return result


def _ordered(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """``$setElementOrder``: items named in ``order`` first, in that order; the server's others after."""

    def identity(item: Any) -> str:
        return json.dumps(item.get(key) if key and isinstance(item, dict) else item, sort_keys=True)

    rank = {value: i for i, value in reversed(list(enumerate(identity(o) for o in order)))}
    first = sorted((i for i in items if identity(i) in rank), key=lambda i: rank[identity(i)])
    return first + [i for i in items if identity(i) not in rank]
