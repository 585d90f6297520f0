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


def _merge_map(original: dict[str, Any], patch: dict[str, Any], node: Node) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive is not None:
        if directive == "replace":
            cleaned: dict[str, Any] = _clean({k: v for k, v in patch.items() if k != "$patch"}, node)
            return cleaned
        if directive == "delete":
            return {}  # kube's handleDirectiveInMergeMap: an empty map, not an absent one
        raise PatchError(f"unknown patch type: {directive!r} in map", bad_format=True)
    result = copy.deepcopy(original)
    _retain_keys(result, patch)
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key == "$retainKeys":
            continue
        if key.startswith(_ORDER):
            if not isinstance(value, list):
                raise PatchError(f"invalid patch: {key} must be a list", bad_format=True)
            orders[key.removeprefix(_ORDER)] = value
            continue
        if key.startswith(_DELETE_PRIMITIVES):
            field = key.removeprefix(_DELETE_PRIMITIVES)
            if not isinstance(value, list):
                raise PatchError(f"invalid patch: {key} must be a list", bad_format=True)
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        child = node.field(key)
        current = result.get(key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(current, dict) and "replace" not in child.patch_strategies:
            result[key] = _merge_map(current, value, child)
        elif isinstance(value, list) and isinstance(current, list):
            result[key] = _merge_list(key, current, value, child)
        else:  # absent before, of another type, or replaced by strategy: the patch's value
            result[key] = _clean(value, child)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            current = original.get(field)
            result[field] = _set_element_order(result[field], order, current if isinstance(current, list) else [],
                                               node.field(field).patch_merge_key)
    return result


def _retain_keys(result: dict[str, Any], patch: dict[str, Any]) -> None:
    """``$retainKeys``: drop the original's fields not listed; the patch may only set listed ones."""
    retain = patch.get("$retainKeys")
    if retain is None:
        return
    if not isinstance(retain, list):
        raise PatchError("invalid patch: $retainKeys must be a list of field names", bad_format=True)
    for key, value in patch.items():
        if value is not None and not key.startswith("$") and key not in retain:
            raise PatchError(f"invalid patch: {key!r} is not in the $retainKeys list", bad_format=True)
    for key in [k for k in result if k not in retain]:
        del result[key]


def _clean(value: Any, node: Node) -> Any:
    """A patch value taken whole, without directives or nulls (what kube's typed decoding keeps)."""
    if isinstance(value, dict):
        return _merge_map({}, value, node)
    if isinstance(value, list):
        return _merge_list("", [], value, node) if "merge" in node.patch_strategies else [
            _clean(i, node.item()) for i in value]
    return value


def _merge_list(field: str, original: list[Any], patch: list[Any], node: Node) -> list[Any]:
    """k8s.io/apimachinery strategicpatch ``mergeSlice`` for a list whose strategy is ``merge``."""
    if "merge" not in node.patch_strategies:
        return [_clean(i, node.item()) for i in patch]
    if not original and not patch:
        return []
    key = node.patch_merge_key
    if not any(isinstance(i, dict) for i in original + patch):  # scalars: a set
        merged = [v for i, v in enumerate(original + patch) if v not in (original + patch)[:i]]
        return _normalize_order(merged, patch, original, None)
    if key is None:
        raise PatchError(f"cannot merge lists without merge key for {field!r}")
    plain: list[dict[str, Any]] = []
    replace = False
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"list {field!r} merges by {key!r}: its items must be objects")
        directive = item.get("$patch")
        if directive is None:
            plain.append(item)
        elif directive == "delete":
            if key not in item:
                raise PatchError(f"map in list {field!r} does not contain declared merge key: {key}")
            original = [o for o in original if not (isinstance(o, dict) and o.get(key) == item[key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch", bad_format=True)
        else:
            raise PatchError(f"unknown patch type: {directive!r} in list {field!r}", bad_format=True)
    if replace:
        return [_clean(i, node.item()) for i in plain]
    merged = copy.deepcopy(original)
    for item in plain:
        if key not in item:
            raise PatchError(f"map in list {field!r} does not contain declared merge key: {key}")
        position = next((i for i, old in enumerate(merged) if isinstance(old, dict) and old.get(key) == item[key]), None)
        if position is None:
            merged.append(_clean(item, node.item()))
        else:
            merged[position] = _merge_map(merged[position], item, node.item())
    return _normalize_order(merged, plain, original, key)


def _set_element_order(items: list[Any], order: list[Any], original: list[Any], key: str | None) -> list[Any]:
    """``$setElementOrder``: its order wins for the items it names; the server's others keep their places."""
    return _normalize_order(items, order, original, key)


def _normalize_order(merged: list[Any], patch_order: list[Any], server_order: list[Any], key: str | None) -> list[Any]:
    """kube's normalizeElementOrder: items named in ``patch_order`` follow it; the server-only items
    follow ``server_order``; the two interleave where the server order relates them, patch items first."""

    def identity(item: Any) -> str:
        return json.dumps(item.get(key) if key and isinstance(item, dict) else item, sort_keys=True)

    def positions(items: list[Any]) -> dict[str, int]:
        found: dict[str, int] = {}
        for i, item in enumerate(items):
            found.setdefault(identity(item), i)
        return found

    in_patch, in_server = positions(patch_order), positions(server_order)
    patch_items = sorted((i for i in merged if identity(i) in in_patch), key=lambda i: in_patch[identity(i)])
    server_only = sorted((i for i in merged if identity(i) not in in_patch),
                         key=lambda i: in_server.get(identity(i), len(server_order)))
    out: list[Any] = []
    left, right = 0, 0
    while left < len(server_only) or right < len(patch_items):
        if right >= len(patch_items):
            out.append(server_only[left])
            left += 1
            continue
        if left < len(server_only):
            mine, theirs = in_server.get(identity(server_only[left])), in_server.get(identity(patch_items[right]))
            if mine is not None and theirs is not None and mine < theirs:
                out.append(server_only[left])
                left += 1
                continue
        out.append(patch_items[right])
        right += 1
    return out
