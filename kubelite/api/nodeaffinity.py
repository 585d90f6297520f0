"""Required node affinity: which nodes a pod may run on (k8s.io/component-helpers/scheduling/corev1/nodeaffinity).

A pod's ``spec.nodeSelector`` (every pair must be a node label) and its
``affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution``
(node selector terms, ORed; within a term ``matchExpressions`` on labels and
``matchFields`` on ``metadata.name`` are ANDed; a term with neither matches
nothing) must both match. The scheduler filters with it and the DaemonSet
controller decides with it where its pods should run. Pure: documents in, bool out.
"""

from __future__ import annotations

from typing import Any

NAME_FIELD = "metadata.name"


def _requirement_matches(req: dict[str, Any], value: str | None) -> bool:
    """One NodeSelectorRequirement against the node's value for its key (None: absent)."""
    operator, values = req.get("operator"), [str(v) for v in req.get("values") or []]
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt"):
        try:
            have, want = int(value or ""), int(values[0])
        except (ValueError, IndexError):
            return False
        return have > want if operator == "Gt" else have < want
    return False


def term_matches(term: dict[str, Any], node_name: str, labels: dict[str, str]) -> bool:
    expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not expressions and not fields:
        return False
    for req in expressions:
        if not _requirement_matches(req, labels.get(str(req.get("key")))):
            return False
    for req in fields:
        if req.get("key") != NAME_FIELD or not _requirement_matches(req, node_name):
            return False
    return True


def required_terms(affinity: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The required node selector terms, or None when the pod has no such requirement."""
    required = ((affinity or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        return None
    return list(required.get("nodeSelectorTerms") or [])


def matches(node_selector: dict[str, str] | None, affinity: dict[str, Any] | None, node_name: str,
            labels: dict[str, str]) -> bool:
    """Kubernetes' GetRequiredNodeAffinity(pod).Match(node)."""
    for key, value in (node_selector or {}).items():
        if labels.get(key) != value:
            return False
    terms = required_terms(affinity)
    if terms is None:
        return True
    return any(term_matches(t, node_name, labels) for t in terms)


def with_node_name(affinity: dict[str, Any] | None, node_name: str) -> dict[str, Any]:
    """Kubernetes' ReplaceDaemonSetPodNodeNameNodeAffinity: the affinity pinning a pod to one node.

    Every required term's ``matchFields`` becomes ``metadata.name In [node]`` (its label
    expressions stay); without terms there is one such term. Returns a new document.
    """
    pin = [{"key": NAME_FIELD, "operator": "In", "values": [node_name]}]
    result = {k: v for k, v in (affinity or {}).items()}
    node_affinity = dict(result.get("nodeAffinity") or {})
    required = dict(node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = [dict(t) for t in required.get("nodeSelectorTerms") or []]
    if not terms:
        terms = [{"matchFields": pin}]
    else:
        for term in terms:
            term["matchFields"] = pin
    required["nodeSelectorTerms"] = terms
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required
    result["nodeAffinity"] = node_affinity
    return result


def target_node(node_name: str | None, affinity: dict[str, Any] | None) -> str | None:
    """Kubernetes' GetTargetNodeName: ``spec.nodeName``, else the single node a
    ``metadata.name In [x]`` match field pins the pod to."""
    if node_name:
        return node_name
    for term in required_terms(affinity) or []:
        for req in term.get("matchFields") or []:
            values = req.get("values") or []
            if req.get("key") == NAME_FIELD and req.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return None
