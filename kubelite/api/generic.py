"""Kinds no kubelite component acts on: stored as the documents users send.

Their fields are not typed in Python: every field beyond ``apiVersion``,
``kind`` and ``metadata`` is kept as sent (``extra="allow"``), and checked
against the kind's schema in ``k8s_schema.json`` (generated from the official
client's OpenAPI document, :mod:`kubelite.api.schema_gen`) by the same walker
that checks the typed kinds (:mod:`kubelite.api.schema`), so unknown fields,
types and integer ranges are refused or warned as for any kind.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kubelite.api.meta import KubeObject


def without_nulls(value: Any) -> Any:
    """``value`` without JSON nulls at any depth: Go's decoder reads a null as the zero value, which
    its encoder then omits (``template.metadata.creationTimestamp: null`` from ``kubectl create job -o json``
    is stored as nothing)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


class StoredDocument(KubeObject):
    """Base of the stored-only kinds' classes."""

    STORED_AS_SENT: ClassVar[bool] = True  # no field is "kept but not acted on": that is the whole kind


def document_model(api_version: str, kind: str) -> type[StoredDocument]:
    """A KubeObject class for one stored-only kind (``document_model("v1", "ConfigMap")``)."""
    return type(kind, (StoredDocument,), {"API_VERSION": api_version, "KIND": kind, "__module__": __name__,
                                      "__doc__": f"{api_version} {kind}, stored as sent."})
