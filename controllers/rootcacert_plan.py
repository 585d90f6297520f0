"""What a namespace's ``kube-root-ca.crt`` ConfigMap must hold (kube-controller-manager's
root-ca-cert-publisher, ``pkg/controller/certificates/rootcacertpublisher/publisher.go``). Pure.

Every active namespace holds a ConfigMap ``kube-root-ca.crt`` with ``data: {ca.crt: <the cluster
CA, PEM>}`` and the description annotation; a changed or missing one is rewritten (its other data
keys are replaced, its other annotations kept), a terminating namespace gets nothing new. Without
a CA (a plain-HTTP gateway) ``ca.crt`` is the empty string, as kube publishes when the
controller-manager's client has no CA data.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kubelite.api.core import Namespace

NAME = "kube-root-ca.crt"
KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


@dataclass(frozen=True)
class Plan:
    action: str  # "create" | "update" | "none"
    doc: dict[str, Any] | None = None  # the ConfigMap to write


def plan(namespace: Namespace | None, current: dict[str, Any] | None, ca_pem: str) -> Plan:
    """What to write in ``namespace`` given its current ConfigMap document (None: absent)."""
    if namespace is None or namespace.metadata.deletion_timestamp is not None:
        return Plan("none")
    if namespace.status is not None and namespace.status.phase == "Terminating":
        return Plan("none")
    data = {KEY: ca_pem}
    if current is None:
        return Plan("create", {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": NAME, "namespace": namespace.name,
                                            "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                               "data": data})
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    if current.get("data") == data and not current.get("binaryData") and annotations.get(DESCRIPTION_ANNOTATION):
        return Plan("none")
    wanted = copy.deepcopy(current)
    wanted["data"] = data
    wanted.pop("binaryData", None)
    wanted.setdefault("metadata", {}).setdefault("annotations", {})[DESCRIPTION_ANNOTATION] = DESCRIPTION
    return Plan("update", wanted)
