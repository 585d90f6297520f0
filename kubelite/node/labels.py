"""The labels a node may set on its own Node (``k8s.io/kubelet/pkg/apis/well_known_labels.go``).

One home for the rule that NodeRestriction enforces at the gateway
(kubelite/gateway/noderestriction.py) and that the kubelet checks on its ``--node-labels`` at start
("unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels"): no label in
``node-restriction.kubernetes.io/``, and no other ``kubernetes.io``/``k8s.io`` label unless it is one
of the kubelet's own or in the ``kubelet.kubernetes.io``/``node.kubernetes.io`` namespaces.
"""

from __future__ import annotations

from collections.abc import Iterable

KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type", "kubernetes.io/os",
    "kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/arch",
})
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def _label_namespace(key: str) -> str:
    prefix, slash, _ = key.partition("/")
    return prefix if slash else ""


def _in_namespace(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith("." + domain)


def forbidden_node_labels(keys: Iterable[str]) -> list[str]:
    """The label keys among ``keys`` a node may not add, remove or change on its own Node, sorted
    (NodeRestriction's ``getForbiddenLabels``); empty when all are allowed."""
    forbidden = set()
    for key in keys:
        namespace = _label_namespace(key)
        if _in_namespace(namespace, "node-restriction.kubernetes.io"):
            forbidden.add(key)
        kubernetes = _in_namespace(namespace, "kubernetes.io") or _in_namespace(namespace, "k8s.io")
        kubelet = key in KUBELET_LABELS or any(_in_namespace(namespace, n) for n in KUBELET_LABEL_NAMESPACES)
        if kubernetes and not kubelet:
            forbidden.add(key)
    return sorted(forbidden)
