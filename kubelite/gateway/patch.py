"""The three PATCH formats kubectl and clients send, as pure functions on JSON.

- JSON merge patch (RFC 7386, ``application/merge-patch+json``);
- JSON patch (RFC 6902, ``application/json-patch+json``);
- strategic merge patch (``application/strategic-merge-patch+json``): lists of
  named things (containers, ports, env, volumes, conditions, ...) merge by
  their key instead of being replaced, with the directives ``kubectl apply``
  sends (``$patch``, ``$setElementOrder/…``, ``$retainKeys``,
  ``$deleteFromPrimitiveList/…``).

Kubernetes finds merge keys from Go struct tags; kubelite keys them by field
name, which is unambiguous for the kinds it serves.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubelite.api import errors


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


# field name → merge key of its list items (patchStrategy "merge" in Kubernetes' types)
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "ports": "containerPort", "env": "name", "volumes": "name", "volumeMounts": "mountPath",
    "volumeDevices": "devicePath", "imagePullSecrets": "name", "hostAliases": "ip",
    "conditions": "type", "ownerReferences": "uid", "addresses": "type", "podIPs": "ip", "hostIPs": "ip",
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name", "schedulingGates": "name",
}
# lists of scalars merged as sets (patchStrategy "merge" without a key)
MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})

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

# kube-apiserver's bounds on a JSON patch: at most 10,000 operations, and the
# values `copy` duplicates may add up to no more than a request body may hold
# (otherwise 30 doubling copies of a small subtree make a gigabyte).
MAX_JSON_PATCH_OPERATIONS = 10_000
MAX_COPIED_BYTES = 3 * 1024 * 1024


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902 on a copy of ``document``: add, remove, replace, move, copy, test.

    Raises PatchError past the bounds above (the gateway answers 422/400 for it).
    """
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations", bad_format=True)
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(f"the allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
                         f"got: {len(operations)}", bad_format=True)
    doc = copy.deepcopy(document)
    copied = [0]
    for index, op in enumerate(operations):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
            raise PatchError(f"JSON patch operation {index} needs string 'op' and 'path'", bad_format=True)
        doc = _apply_operation(doc, op, copied)
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


def _apply_operation(doc: Any, op: dict[str, Any], copied: list[int]) -> Any:
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
            copied[0] += len(json.dumps(value, default=str))
            if copied[0] > MAX_COPIED_BYTES:
                raise PatchError(f"JSON patch: the values copied add up to more than {MAX_COPIED_BYTES} bytes",
                                 bad_format=True)
        return _add(doc, path, value)
    if kind == "test":
        if _get(doc, path) != op["value"]:
            raise PatchError(f"JSON patch: test failed at {path!r}")
        return doc
    raise PatchError(f"JSON patch: unknown operation {kind!r}", bad_format=True)


# -- strategic merge patch -------------------------------------------------------

def strategic_merge_patch(original: Any, patch: Any) -> Any:
    """Kubernetes' strategic merge of ``patch`` into a copy of ``original``."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object", bad_format=True)
    merged = _merge_map(original if isinstance(original, dict) else {}, patch)
    return merged if merged is not None else {}


def _merge_map(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip_directives(patch)
    if directive not in (None, "merge"):
        raise PatchError(f"unknown $patch directive {directive!r}", bad_format=True)
    result = copy.deepcopy(original)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = value
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVES):
            field = key.removeprefix(_DELETE_PRIMITIVES)
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [v for v in result[field] if v not in value]
        elif key.startswith(_ORDER):
            field = key.removeprefix(_ORDER)
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = _ordered(field, result[field], value)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    current = list(original) if isinstance(original, list) else []
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip_directives(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if field in MERGED_PRIMITIVE_LISTS:
        return current + [v for v in patch if v not in current]
    key = MERGE_KEYS.get(field)
    if key is None or not all(isinstance(item, dict) for item in patch):
        return [_strip_directives(i) for i in patch]
    result = copy.deepcopy(current)
    for item in patch:
        if key not in item:
            raise PatchError(f"map in list {field!r} is missing its merge key {key!r}")
        position = next((i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if position is not None:
                result.pop(position)
            continue
        if position is None:
            result.append(_strip_directives(item))
        else:
            old = result[position]
            merged = _merge_map(old if isinstance(old, dict) else {}, item)
            if merged is not None:
                result[position] = merged
    return result


def _ordered(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """Items named in ``order`` first, in that order; the server's other items keep theirs, after."""
    key = MERGE_KEYS.get(field)

    def identity(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [identity(o) for o in order]
    rank = {value: i for i, value in enumerate(wanted) if isinstance(value, str | int | float | bool)}
    first = sorted((i for i in items if identity(i) in rank), key=lambda i: rank[identity(i)])
    return first + [i for i in items if identity(i) not in rank]
