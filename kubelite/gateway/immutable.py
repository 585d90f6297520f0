"""Update rules Kubernetes enforces beyond validation: fields that may not change.

Pure: (kind, stored document, new document) → causes for a 422 Invalid.
Both sides are compared in their normal form (:mod:`kubelite.api.semantic`:
defaults applied, empty equals absent), as kube-apiserver compares decoded
and defaulted objects with ``apiequality.Semantic.DeepEqual``: a selector
with ``matchExpressions: []`` is the selector without it, and a pod whose
stored spec lacks a default the new one spells out has not changed.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.errors import StatusCause
from kubelite.api.semantic import normalize
from kubelite.api.validation import invalid
from kubelite.api.documents import document_immutable_causes

_POD_MUTABLE = (
    "spec.containers[*].image,spec.initContainers[*].image,spec.activeDeadlineSeconds,"
    "spec.tolerations (only additions to existing tolerations),spec.terminationGracePeriodSeconds"
)


def _pod_spec_without_mutable(spec: dict[str, Any], *, gated: bool) -> dict[str, Any]:
    """``gated``: the stored pod still has scheduling gates, so its nodeSelector and node affinity may
    narrow (checked apart)."""
    stripped = dict(spec)
    for field in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates",
                  *(("nodeSelector",) if gated else ())):
        stripped.pop(field, None)
    if gated and isinstance(stripped.get("affinity"), dict):
        affinity = {k: v for k, v in stripped["affinity"].items() if k != "nodeAffinity"}
        if affinity:
            stripped["affinity"] = affinity
        else:
            stripped.pop("affinity")
    for field in ("containers", "initContainers"):
        if isinstance(stripped.get(field), list):
            stripped[field] = [{k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                               for c in stripped[field]]
    return stripped


def immutable_field_causes(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[StatusCause]:
    """Causes for each immutable field ``new`` changes; [] when the update may go ahead."""
    causes: list[StatusCause] = document_immutable_causes(kind, old, new)
    old_spec, new_spec = normalize(kind, old).get("spec") or {}, normalize(kind, new).get("spec") or {}
    if kind in ("Deployment", "ReplicaSet") and old_spec.get("selector") != new_spec.get("selector"):
        shown = (new.get("spec") or {}).get("selector")
        causes.append(StatusCause(field="spec.selector", reason="FieldValueInvalid",
                                  message=f"Invalid value: {shown!r}: field is immutable"))
    if kind == "Pod":
        gated = bool(old_spec.get("schedulingGates"))
        if _pod_spec_without_mutable(old_spec, gated=gated) != _pod_spec_without_mutable(new_spec, gated=gated):
            causes.append(StatusCause(field="spec", reason="FieldValueForbidden",
                                      message=f"Forbidden: pod updates may not change fields other than {_POD_MUTABLE}"))
        causes += _scheduling_gate_update_causes(old_spec, new_spec)
        old_tolerations = old_spec.get("tolerations") or []
        new_tolerations = new_spec.get("tolerations") or []
        if any(t not in new_tolerations for t in old_tolerations):
            causes.append(StatusCause(field="spec.tolerations", reason="FieldValueForbidden",
                                      message="Forbidden: existing toleration can not be modified except its tolerationSeconds"))
    return causes


def _scheduling_gate_update_causes(old_spec: dict[str, Any], new_spec: dict[str, Any]) -> list[StatusCause]:
    """kube's ValidatePodUpdate for scheduling gates: they may only be removed
    (validateOnlyDeletedSchedulingGates), and while the stored pod has any, its nodeSelector may only gain
    entries (validateNodeSelectorMutation) and its required node affinity terms only gain expressions
    (validateNodeAffinityMutation; the preferred ones may change)."""
    old_gates = {g.get("name") for g in old_spec.get("schedulingGates") or [] if isinstance(g, dict)}
    causes = [StatusCause(field=f"spec.schedulingGates[{i}].name", reason="FieldValueForbidden",
                          message=f"Forbidden: only deletion is allowed, but found new scheduling gate '{g.get('name')}'")
              for i, g in enumerate(new_spec.get("schedulingGates") or [])
              if isinstance(g, dict) and g.get("name") not in old_gates]
    if not old_gates:
        return causes
    old_selector = old_spec.get("nodeSelector") or {}
    new_selector = new_spec.get("nodeSelector") or {}
    if any(new_selector.get(k) != v for k, v in old_selector.items()):
        causes.append(invalid("spec.nodeSelector", new_selector,
                              "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
    return causes + _node_affinity_mutation_causes(old_spec, new_spec)


def _required_terms(spec: dict[str, Any]) -> list[Any]:
    affinity = spec.get("affinity")
    node = affinity.get("nodeAffinity") if isinstance(affinity, dict) else None
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution") if isinstance(node, dict) else None
    terms = required.get("nodeSelectorTerms") if isinstance(required, dict) else None
    return terms if isinstance(terms, list) else []


def _node_affinity_mutation_causes(old_spec: dict[str, Any], new_spec: dict[str, Any]) -> list[StatusCause]:
    """A gated pod's required node selector terms: none before, anything goes; otherwise the same number
    of terms, each keeping its matchExpressions and matchFields as the first ones of the new term."""
    old_terms, new_terms = _required_terms(old_spec), _required_terms(new_spec)
    if not old_terms:
        return []
    path = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
    if len(new_terms) != len(old_terms):
        return [invalid(path, new_terms, "no additions/deletions to non-empty NodeSelectorTerms list are allowed")]
    causes = []
    for i, (old, new) in enumerate(zip(old_terms, new_terms, strict=True)):
        old, new = (old if isinstance(old, dict) else {}), (new if isinstance(new, dict) else {})
        for part in ("matchExpressions", "matchFields"):
            before, after = old.get(part) or [], new.get(part) or []
            if after[:len(before)] != before:
                causes.append(invalid(f"{path}[{i}]", new, "only additions are allowed (no mutations or deletions)"))
                break
    return causes
