"""Schema-aware operations on JSON objects for server-side apply.

What structured-merge-diff's ``typed`` package does for kube-apiserver, on
plain JSON with :mod:`kubelite.gateway.fieldschema` as the schema:

- :func:`field_set`: the fields a (partial) object sets — what an applier
  owns (``TypedValue.ToFieldSet``);
- :func:`compare`: fields added, modified and removed between two versions
  (``TypedValue.Compare``), which an Update's manager owns;
- :func:`merge`: an applied configuration laid over the live object
  (``TypedValue.Merge``): structs and granular maps merge field by field,
  associative lists item by item by their keys, set lists by value, and
  everything atomic is replaced;
- :func:`remove`: the object without the given fields (``RemoveItems``).

Errors (an associative list item that lacks a key) raise :class:`ShapeError`.

Written here rather than taken from a library: structured-merge-diff, the only
implementation of these semantics, is Go (sigs.k8s.io/structured-merge-diff), with
no Python binding or port; this module, :mod:`~kubelite.gateway.fieldpath` and
:mod:`~kubelite.gateway.fieldmanager` follow its behaviour and are tested against
kube-apiserver's observable results (managedFields, 409 conflict messages).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubelite.gateway.fieldpath import FieldSet, Path, field, index_element, key_element, to_string, value_element
from kubelite.gateway.fieldschema import KEY_DEFAULTS, Node


class ShapeError(ValueError):
    """The value does not fit its schema in a way apply cannot work with (kube answers 422/500)."""


_MAP_MARKER = object()  # a granular map or list item present as a whole (its path is a member when added)


def _is_map_node(node: Node) -> bool:
    return node.type_ref is not None and node.type_ref.startswith("{}")


def item_element(node: Node, item: Any, index: int, path: Path, *, strict: bool = True) -> str:
    """The path element naming ``item`` (the ``index``-th) of a list at ``node``.

    An associative list item without its keys is a ShapeError in what a client sends
    (``strict``); in a stored object it is named by its position, so that an object another
    writer stored malformed can still be applied to (kube would never have stored it).
    """
    try:
        return _item_element(node, item, index, path)
    except ShapeError:
        if strict:
            raise
        return index_element(index)


def _item_element(node: Node, item: Any, index: int, path: Path) -> str:
    kind = node.list_type
    if kind == "set":
        return value_element(item)
    if kind == "map" and node.list_map_keys:
        if not isinstance(item, dict):
            raise ShapeError(f"{_where(path)}: element {index}: associative list items must be objects")
        keys = {}
        for name in node.list_map_keys:
            if name in item:
                keys[name] = item[name]
            elif name in KEY_DEFAULTS:
                keys[name] = KEY_DEFAULTS[name]
            else:
                raise ShapeError(f"{_where(path)}: element {index}: associative list with keys has an element "
                                 f'that omits key field "{name}" (and doesn\'t have default value)')
        return key_element(keys)
    return index_element(index)


def _where(path: Path) -> str:
    return to_string(path) or "."


# -- field sets ------------------------------------------------------------------

def field_set(value: Any, node: Node, *, strict: bool = True) -> FieldSet:
    """The fields ``value`` sets (structured-merge-diff's ToFieldSet).

    Members: scalars, nulls, empty maps, atomic values, every item of a
    non-atomic list, and every entry of a map that is not a declared struct
    field (a label, an unknown field); never an empty non-atomic list.
    """
    found: set[Path] = set()
    _leaves(value, node, (), found, None, strict)
    return frozenset(found)


def _leaves(
    value: Any, node: Node, path: Path, found: set[Path], values: dict[Path, Any] | None, strict: bool,
) -> None:
    """Collect member paths into ``found``; with ``values`` (for :func:`compare`), also their values,
    and mark granular maps and lists as present so that their appearance counts as an addition."""

    def add(p: Path, v: Any) -> None:
        found.add(p)
        if values is not None:
            values[p] = v

    if isinstance(value, dict) and not (node.map_atomic and path):
        if not value and path:
            add(path, {})
            return
        if values is not None and path and _is_map_node(node):
            add(path, _MAP_MARKER)
        for name, child in value.items():
            child_path = path + (field(name),)
            _leaves(child, node.field(name), child_path, found, values, strict)
            if child_path not in found and not node.declares(name):
                add(child_path, _MAP_MARKER)
        return
    if isinstance(value, list) and node.list_type != "atomic":
        if not value:
            if values is not None and path:
                add(path, [])
            return
        if values is not None:
            add(path, _MAP_MARKER)
        for index, item in enumerate(value):
            element_path = path + (item_element(node, item, index, path, strict=strict),)
            if node.list_type == "set":
                add(element_path, item)
            else:
                add(element_path, _MAP_MARKER)
                _leaves(item, node.item(), element_path, found, values, strict)
        return
    if path:
        add(path, value)


def compare(old: Any, new: Any, node: Node) -> tuple[FieldSet, FieldSet, FieldSet]:
    """(added, modified, removed) paths from ``old`` to ``new``.

    A granular map or list that appears is itself added (hence ``".": {}``
    in an Update's ``fieldsV1``); structs are not, as a Go struct always exists.
    """
    old_values: dict[Path, Any] = {}
    new_values: dict[Path, Any] = {}
    _leaves(old, node, (), set(), old_values, False)
    _leaves(new, node, (), set(), new_values, False)
    added = frozenset(p for p in new_values if p not in old_values)
    removed = frozenset(p for p in old_values if p not in new_values)
    modified = frozenset(
        p for p, v in new_values.items()
        if p in old_values and v is not _MAP_MARKER and old_values[p] is not _MAP_MARKER and old_values[p] != v
    )
    return added, modified, removed


# -- merge ---------------------------------------------------------------------------

def merge(live: Any, config: Any, node: Node, path: Path = ()) -> Any:
    """``config`` laid over ``live`` (a new value; neither input is changed)."""
    if isinstance(live, dict) and isinstance(config, dict) and not (node.map_atomic and path):
        result = copy.deepcopy(live)
        for name, value in config.items():
            result[name] = merge(live.get(name), value, node.field(name), path + (field(name),))
        return result
    if isinstance(live, list) and isinstance(config, list) and node.list_type != "atomic":
        return _merge_list(live, config, node, path)
    return copy.deepcopy(config)


def _merge_list(live: list[Any], config: list[Any], node: Node, path: Path) -> list[Any]:
    """Items in both merge; the config's order wins, live-only items keep their place after their predecessor."""
    live_keys = [item_element(node, item, i, path, strict=False) for i, item in enumerate(live)]
    config_keys = [item_element(node, item, i, path) for i, item in enumerate(config)]
    config_at = {k: i for i, k in enumerate(config_keys)}
    live_by_key = dict(zip(live_keys, live, strict=True))
    out: list[Any] = []
    emitted = 0

    def emit_config_through(position: int) -> None:
        nonlocal emitted
        while emitted <= position:
            element, item = config_keys[emitted], config[emitted]
            out.append(merge(live_by_key[element], item, node.item(), path + (element,))
                       if element in live_by_key and node.list_type == "map" else copy.deepcopy(item))
            emitted += 1

    for element, item in zip(live_keys, live, strict=True):
        if element in config_at:
            emit_config_through(config_at[element])
        else:
            out.append(copy.deepcopy(item))
    emit_config_through(len(config) - 1)
    return out


# -- removal ----------------------------------------------------------------------------

def remove(value: Any, paths: FieldSet, node: Node, *, keep: FieldSet = frozenset()) -> Any:
    """A copy of ``value`` without ``paths`` (a removed list item or map goes with everything below it).

    A map or list emptied by the removal goes too (structured-merge-diff's
    RemoveItems), unless its own path is in ``keep`` (still owned as set).
    One walk over the value, whatever the number of paths.
    """
    tree: dict[str, Any] = {}
    for path in paths:
        branch = tree
        for element in path:
            branch = branch.setdefault(element, {})
        branch[_GONE] = True
    if _GONE in tree:
        return None
    return _without(value, tree, node, (), keep)


_GONE = "."  # marks a removed path in the tree (no path element is spelled ".")


def _without(value: Any, tree: dict[str, Any], node: Node, path: Path, keep: FieldSet) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for name, child in value.items():
            element = field(name)
            kept = _kept(child, tree.get(element), node.field(name), path + (element,), keep)
            if kept is not _DROP:
                out[name] = kept
        return out
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            element = item_element(node, item, index, path, strict=False) if tree else ""
            kept = _kept(item, tree.get(element), node.item(), path + (element,), keep)
            if kept is not _DROP:
                items.append(kept)
        return items
    return value


_DROP = object()


def _kept(child: Any, branch: dict[str, Any] | None, node: Node, path: Path, keep: FieldSet) -> Any:
    if branch is None:
        return copy.deepcopy(child)
    if _GONE in branch:
        return _DROP
    new = _without(child, branch, node, path, keep)
    if new in ({}, []) and child not in ({}, []) and path not in keep:
        return _DROP
    return new


def key_fields(path: Path) -> frozenset[str]:
    """For a path ending in an associative list item, the ``f:`` elements of its keys (never removed alone)."""
    if not path or not path[-1].startswith("k:"):
        return frozenset()
    return frozenset(field(k) for k in json.loads(path[-1][2:]))
