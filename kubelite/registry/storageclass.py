"""Storage classes: the DefaultStorageClass admission and the one provisioner kubelite has.

- DefaultStorageClass (kube-apiserver's admission plugin, on PVC create): a claim without
  ``spec.storageClassName`` gets the class annotated ``storageclass.kubernetes.io/is-default-class:
  "true"`` (the newest if several); ``""`` means "no class" and is left alone.
- :data:`LOCAL_PATH`: the class the local-path provisioner (controllers/localpath.py) serves and
  creates when absent, as k3s ships rancher's: ``WaitForFirstConsumer``, ``Delete``, default.
- The facts the provisioner and the agents share about its volumes: where the directories live
  (:data:`LOCAL_PATH_ROOT`), the finalizer that holds a deleted volume until its node removed the
  directory, and which node a volume is on (:func:`volume_node`).

Pure: documents in, documents out; the Store reads the classes.
"""

from __future__ import annotations

from typing import Any

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# the node the scheduler chose for a WaitForFirstConsumer claim's first pod; the provisioner reads it
SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node"
LOCAL_PATH_PROVISIONER = "kubelite.io/local-path"
LOCAL_PATH_ROOT = "/var/lib/kubelite/local-path"  # every node's volume directories are under it
PROVISIONED_BY_ANNOTATION = "pv.kubernetes.io/provisioned-by"
# kube's external-provisioner finalizer: a Delete volume's object goes only after its storage did
PROVISIONER_FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"
HOSTNAME_LABEL = "kubernetes.io/hostname"
LOCAL_PATH = {
    "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
    "metadata": {"name": "local-path", "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
    "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
}


def default_class(classes: list[dict[str, Any]]) -> str | None:
    """The default StorageClass's name, or None (GetDefaultClass: the newest default wins)."""
    defaults = [c for c in classes
                if ((c.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
    if not defaults:
        return None
    newest = max(defaults, key=lambda c: ((c.get("metadata") or {}).get("creationTimestamp") or "",
                                          (c.get("metadata") or {}).get("name") or ""))
    name = (newest.get("metadata") or {}).get("name")
    return str(name) if name else None


def with_default_class(claim: dict[str, Any], classes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The claim document with the default class set, or None when nothing changes."""
    spec = claim.get("spec") or {}
    if spec.get("storageClassName") is not None:
        return None
    name = default_class(classes)
    if name is None:
        return None
    return {**claim, "spec": {**spec, "storageClassName": name}}


def volume_node(volume: dict[str, Any]) -> str | None:
    """The one node a local-path volume's required node affinity names (``kubernetes.io/hostname In
    [node]``), or None for any other shape."""
    required = ((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    terms = required.get("nodeSelectorTerms") or []
    if len(terms) != 1:
        return None
    expressions = terms[0].get("matchExpressions") or []
    if len(expressions) != 1:
        return None
    expression = expressions[0]
    values = expression.get("values") or []
    if expression.get("key") != HOSTNAME_LABEL or expression.get("operator") != "In" or len(values) != 1:
        return None
    return str(values[0])
