"""How each field of a Kubernetes object merges: the one schema lookup for patches and apply.

Strategic merge patch and server-side apply both need to know, for any place
in an object, whether a list is replaced whole or merged item by item (and by
which key), and whether a map is merged field by field or replaced. Kubernetes
states this in its OpenAPI document:

- ``x-kubernetes-patch-strategy`` / ``x-kubernetes-patch-merge-key`` (strategic
  merge patch, from the Go struct tags ``patchStrategy``/``patchMergeKey``);
- ``x-kubernetes-list-type`` (``atomic``/``set``/``map``) with
  ``x-kubernetes-list-map-keys``, and ``x-kubernetes-map-type`` (server-side
  apply; kube-openapi's schema conversion falls back to the patch strategy
  when a list has no list type).

The structure comes from ``k8s_schema.json`` and the extensions from
``k8s_lists.json`` (both in :mod:`kubelite.api`, made by :mod:`kubelite.api.schema_gen`). A place
the schema does not know (a CRD, an unknown field) is "deduced" as
structured-merge-diff does: maps merge, lists are atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any, Literal

from kubelite.util import packaged
from kubelite.api.schema import k8s_schema, root_type

_SCALARS = frozenset({"string", "integer", "number", "boolean", "date-time"})
# List-map keys Kubernetes defaults (``+default``), so an item that omits them still has a key:
# ContainerPort/ServicePort.protocol. (structured-merge-diff reads them from the v3 schema's defaults.)
KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}

ListType = Literal["atomic", "set", "map"]


@cache
def _extensions() -> dict[str, dict[str, dict[str, Any]]]:
    data: dict[str, dict[str, dict[str, Any]]] = packaged.read_json("kubelite.api", "k8s_lists.json")
    return data


@dataclass(frozen=True)
class Node:
    """A place in an object's schema.

    ``type_ref`` is a ``k8s_schema.json`` reference (``V1PodSpec``,
    ``[]V1Container``, ``{}string``, ``string``) or None where the schema
    says nothing; ``ext`` are the merge extensions the field carries
    (``list-type``, ``list-map-keys``, ``patch-strategy``,
    ``patch-merge-key``, ``map-type``, without the ``x-kubernetes-`` prefix).
    """

    type_ref: str | None = None
    ext: tuple[tuple[str, Any], ...] = ()

    # -- navigation ----------------------------------------------------------

    @cache  # noqa: B019 - nodes are few, immutable values; this is the hot path of every walk
    def field(self, name: str) -> Node:
        """The node of field ``name`` of this struct, or of a value of this map."""
        ref = self.type_ref
        if ref is None or ref in _SCALARS or ref == "any" or ref.startswith("[]"):
            return UNKNOWN
        if ref.startswith("{}"):
            return Node(ref[2:])
        fields: dict[str, str] = k8s_schema()["types"].get(ref, {})
        if name not in fields:
            return UNKNOWN
        ext = _extensions().get(ref, {}).get(name, {})
        return Node(fields[name], tuple(sorted((k, _frozen(v)) for k, v in ext.items())))

    @cache  # noqa: B019
    def declares(self, name: str) -> bool:
        """Whether ``name`` is a field of this struct (not a map key, not an unknown field)."""
        if not self.is_struct:
            return False
        return name in k8s_schema()["types"].get(self.type_ref, {})

    @cache  # noqa: B019
    def item(self) -> Node:
        """The node of this list's items."""
        if self.type_ref is not None and self.type_ref.startswith("[]"):
            return Node(self.type_ref[2:])
        return UNKNOWN

    # -- what the schema says ------------------------------------------------

    def _ext(self, name: str) -> Any:
        return dict(self.ext).get(name)

    @cached_property
    def is_struct(self) -> bool:
        ref = self.type_ref
        return ref is not None and ref not in _SCALARS and ref != "any" and not ref.startswith(("[]", "{}"))

    @cached_property
    def map_atomic(self) -> bool:
        """A map or struct replaced as a whole (``x-kubernetes-map-type: atomic`` on the field or its type)."""
        if self._ext("map-type") == "atomic":
            return True
        own = _extensions().get(self.type_ref or "", {}).get(".", {})
        return bool(own.get("map-type") == "atomic")

    @cached_property
    def patch_strategies(self) -> frozenset[str]:
        """Strategic merge patch strategies: ``merge``, ``retainKeys``, ``replace`` (empty: replace lists)."""
        value = self._ext("patch-strategy") or ""
        return frozenset(s for s in value.split(",") if s)

    @cached_property
    def patch_merge_key(self) -> str | None:
        key = self._ext("patch-merge-key")
        return str(key) if key else None

    @cached_property
    def list_type(self) -> ListType:
        """Server-side apply's list type; without one, the patch strategy decides (kube-openapi's rule)."""
        declared = self._ext("list-type")
        if declared in ("atomic", "set", "map"):
            return declared  # type: ignore[no-any-return]
        if "merge" in self.patch_strategies:
            return "map" if self.patch_merge_key else "set"
        return "atomic"

    @cached_property
    def list_map_keys(self) -> tuple[str, ...]:
        keys = self._ext("list-map-keys")
        if keys:
            return tuple(keys)
        return (self.patch_merge_key,) if self.patch_merge_key else ()


UNKNOWN = Node()


def root(kind: str) -> Node:
    """The node of a whole object of ``kind`` (UNKNOWN for kinds outside the schema, e.g. CRDs)."""
    type_name = root_type(kind)
    return Node(type_name) if type_name else UNKNOWN


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
