"""Field paths and field sets in structured-merge-diff's ``FieldsV1`` form.

A path is a tuple of path elements, each spelled as in ``FieldsV1``
(sigs.k8s.io/structured-merge-diff ``fieldpath``):

- ``f:<name>`` a field of a struct or a key of a map;
- ``k:{"name":"web"}`` an item of an associative list, by its map keys
  (sorted, compact JSON);
- ``v:<json>`` an item of a set list, by value;
- ``i:<n>`` an item of any other list, by position (only for lists a
  schema does not describe).

A field set is a frozenset of paths. ``FieldsV1`` nests them: a path that
is a member and also has members below it carries ``".": {}``; a member
without children is ``{}``. Sets here are small (one object), so plain
Python sets are simpler than structured-merge-diff's trie and exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

Path = tuple[str, ...]
FieldSet = frozenset[Path]

_RANK = {"f": 0, "v": 1, "k": 2, "i": 3}


def field(name: str) -> str:
    return "f:" + name


def key_element(keys: dict[str, Any]) -> str:
    """``k:{"containerPort":80,"protocol":"TCP"}``: keys sorted, compact JSON."""
    return "k:{" + ",".join(f"{_json(k)}:{_json(keys[k])}" for k in sorted(keys)) + "}"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def value_element(value: Any) -> str:
    return "v:" + json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def index_element(index: int) -> str:
    return f"i:{index}"


def _order(element: str) -> tuple[int, str]:
    return (_RANK.get(element[:1], 9), element)


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The nested ``fieldsV1`` document of a set (children sorted as structured-merge-diff writes them)."""
    members = set(paths)
    tree: dict[str, Any] = {}
    for path in members:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return _sorted(tree, (), members)


def _sorted(node: dict[str, Any], prefix: Path, members: set[Path]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if node and prefix in members:
        out["."] = {}
    for element in sorted(node, key=_order):
        out[element] = _sorted(node[element], prefix + (element,), members)
    return out


def from_fields_v1(doc: Any) -> FieldSet:
    """The set a ``fieldsV1`` document describes; ValueError when it is not one."""
    found: set[Path] = set()
    _collect(doc, (), found)
    return frozenset(found)


def _collect(node: Any, prefix: Path, found: set[Path]) -> None:
    if not isinstance(node, dict):
        raise ValueError(f"fieldsV1 at {to_string(prefix) or '.'} is not an object")
    if prefix and (not node or "." in node):
        found.add(prefix)
    for element, child in node.items():
        if element == ".":
            continue
        if element[:2] not in ("f:", "k:", "v:", "i:"):
            raise ValueError(f"fieldsV1 has an unknown path element {element!r}")
        _collect(child, prefix + (element,), found)


def to_string(path: Path) -> str:
    """A path as kube-apiserver prints it in conflicts: ``.spec.containers[name="web"].image``."""
    out = []
    for element in path:
        kind, text = element[:1], element[2:]
        if kind == "f":
            out.append("." + text)
        elif kind == "k":
            keys = json.loads(text)
            out.append("[" + ",".join(f"{k}={json.dumps(keys[k])}" for k in sorted(keys)) + "]")
        elif kind == "v":
            out.append(f"[={text}]")
        else:
            out.append(f"[{text}]")
    return "".join(out)


def has_prefix(path: Path, prefix: Path) -> bool:
    return path[: len(prefix)] == prefix
