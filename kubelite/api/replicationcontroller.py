"""ReplicationController write rules (its :data:`kubelite.api.documents.DOCUMENT_RULES` entry).

- Defaulting, kube's ``SetDefaults_ReplicationController`` (``pkg/apis/core/v1/defaults.go``): with a
  template, an empty ``spec.selector`` becomes the template's labels, and empty ``metadata.labels``
  too; a missing ``spec.replicas`` becomes 1.
- Validation, after ``ValidateReplicationControllerSpec`` (``pkg/apis/core/validation``): a non-empty
  selector (after defaulting) of valid labels, matched by the template's labels; a template that is a
  valid pod template (:func:`kubelite.api.workload_rules.selector_and_template`, the sets' rule);
  ``replicas`` and ``minReadySeconds`` non-negative.

Pure: JSON documents in (already schema-checked), documents or causes out.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import validation as v, workload_rules
from kubelite.api.errors import StatusCause

Doc = dict[str, Any]


def with_defaults(doc: Doc) -> Doc:
    """``doc`` with its selector, labels and replicas defaulted (a copy when anything changes)."""
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    meta = doc.get("metadata") or {}
    changed: Doc = {}
    if template_labels and not spec.get("selector"):
        changed["selector"] = dict(template_labels)
    if spec.get("replicas") is None:
        changed["replicas"] = 1
    labels_missing = bool(template_labels) and not meta.get("labels")
    if not changed and not labels_missing:
        return doc
    out = dict(doc, spec={**spec, **changed})
    if labels_missing:
        out["metadata"] = dict(meta, labels=dict(template_labels))
    return out


def validate(doc: Doc) -> list[StatusCause]:
    """Causes against the defaulted ``doc`` (kube defaults on decode, before validating); the selector
    and template as a ReplicaSet's (the map read as ``matchLabels``)."""
    spec = with_defaults(doc).get("spec") or {}
    selector = spec.get("selector")
    as_set = dict(spec, selector={"matchLabels": selector} if isinstance(selector, dict) and selector else None)
    causes = workload_rules.selector_and_template(as_set, "replicationcontroller")
    for name in ("replicas", "minReadySeconds"):
        value = spec.get(name)
        if isinstance(value, int) and value < 0:
            causes.append(v.invalid(f"spec.{name}", value, "must be greater than or equal to 0"))
    return causes
