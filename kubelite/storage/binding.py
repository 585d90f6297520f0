"""A pod's binding applied to its stored JSON document: what :meth:`Store.bind` writes.

kube's ``BindingREST.assignPod`` / ``setPodNodeAndMetadata`` (``pkg/registry/core/pod/storage``):
``spec.nodeName``, the binding's annotations merged into the pod's, ``PodScheduled=True`` (its
transition time kept when it was True already), and ``metadata.generation`` counted up as an
update of the spec counts it.

Done on the plain document rather than a model round trip (decode, copy, ``model_dump``): a bind
is the scheduler's one write per pod, and the document is what etcd holds anyway (issue 12).
The result is the document the model path writes, key for key and in the same order: a key the
document lacks is put where the model's field order puts it (tests/unit/test_bind_document.py
compares the two on generated pods).
"""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from typing import Any

from pydantic import BaseModel

from kubelite.api.core import Pod, PodCondition, PodSpec, PodStatus
from kubelite.api.meta import ObjectMeta


@functools.lru_cache(maxsize=None)
def _field_order(model: type[BaseModel]) -> dict[str, int]:
    """JSON name → position of ``model``'s declared fields (extras come after them, as dumped)."""
    return {(field.serialization_alias or field.alias or name): index
            for index, (name, field) in enumerate(model.model_fields.items())}


def _put(doc: dict[str, Any], key: str, value: Any, model: type[BaseModel]) -> dict[str, Any]:
    """``doc`` with ``key`` set to ``value``; a new key goes where ``model`` dumps it. Returns the
    dict that holds the key (``doc`` itself when it had the key, else a reordered copy)."""
    if key in doc:
        doc[key] = value
        return doc
    order = _field_order(model)
    position = order[key]
    placed: dict[str, Any] = {}
    for name, member in doc.items():
        if key not in placed and order.get(name, len(order)) > position:
            placed[key] = value
        placed[name] = member
    placed.setdefault(key, value)
    return placed


@functools.lru_cache(maxsize=4)
def _scheduled(now: datetime, zone: tzinfo | None) -> tuple[tuple[str, Any], ...]:
    """The PodScheduled=True condition at ``now`` as the model dumps it (binds within one clock
    second share it: the store's clock counts whole seconds). ``zone``: ``now``'s, a part of the
    key since equal instants in two zones are equal datetimes but are written differently."""
    return tuple(PodCondition(type="PodScheduled", status="True", last_transition_time=now).to_dict().items())


def bound_document(doc: dict[str, Any], node: str, annotations: dict[str, str], now: datetime) -> dict[str, Any]:
    """``doc`` (a Pod's stored JSON without resourceVersion; changed in place: the caller's own
    copy) bound to ``node`` at ``now``; returns the document to store (``doc`` or a reordered copy)."""
    metadata = doc.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    metadata = _put(metadata, "generation", (metadata.get("generation") or 1) + 1, ObjectMeta)
    if annotations:
        metadata = _put(metadata, "annotations", {**(metadata.get("annotations") or {}), **annotations}, ObjectMeta)
    doc = _put(doc, "metadata", metadata, Pod)
    spec = doc.get("spec")
    doc = _put(doc, "spec", _put(spec if isinstance(spec, dict) else {}, "nodeName", node, PodSpec), Pod)
    status = doc.get("status")
    status = status if isinstance(status, dict) else {}
    conditions = status.get("conditions") or []
    before = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
    if before is None or before.get("status") != "True":
        others = [c for c in conditions if c.get("type") != "PodScheduled"]
        status = _put(status, "conditions", [*others, dict(_scheduled(now, now.tzinfo))], PodStatus)
    return _put(doc, "status", status, Pod)
