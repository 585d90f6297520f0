"""Pure decisions of the local-path provisioner (after rancher's local-path-provisioner, which k3s ships).

A claim of a class whose provisioner is ``kubelite.io/local-path`` is bound to a new
PersistentVolume ``pvc-<claim uid>``: a directory on one node (``hostPath``, under
``/var/lib/kubelite/local-path``), pinned to that node by the PV's required node affinity
(``kubernetes.io/hostname In [node]``), so every later pod of the claim is scheduled there. With
``WaitForFirstConsumer`` the node is the one the scheduler chose for the claim's first pod
(annotation ``volume.kubernetes.io/selected-node``); an ``Immediate`` claim waits for that too,
since a local directory has no node of its own. A released volume (its claim gone) is deleted
(``reclaimPolicy: Delete``) or marked ``Released`` (``Retain``). Documents in, documents out.
"""

from __future__ import annotations

from typing import Any

from kubelite.storageclass import LOCAL_PATH_PROVISIONER, SELECTED_NODE_ANNOTATION

ROOT = "/var/lib/kubelite/local-path"
HOSTNAME_LABEL = "kubernetes.io/hostname"
Doc = dict[str, Any]


def volume_name(claim: Doc) -> str:
    return f"pvc-{(claim.get('metadata') or {}).get('uid', '')}"


def wants_volume(claim: Doc, classes: dict[str, Doc]) -> str | None:
    """The node to provision on, or None: not ours, already bound, being deleted, or no node chosen yet."""
    meta, spec = claim.get("metadata") or {}, claim.get("spec") or {}
    if spec.get("volumeName") or meta.get("deletionTimestamp"):
        return None
    storage_class = classes.get(spec.get("storageClassName") or "")
    if storage_class is None or storage_class.get("provisioner") != LOCAL_PATH_PROVISIONER:
        return None
    node = (meta.get("annotations") or {}).get(SELECTED_NODE_ANNOTATION)
    return str(node) if node else None


def volume_for(claim: Doc, storage_class: Doc, node: str) -> Doc:
    """The PersistentVolume that holds ``claim`` on ``node`` (pre-bound to it through ``claimRef``)."""
    meta, spec = claim.get("metadata") or {}, claim.get("spec") or {}
    name = volume_name(claim)
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": LOCAL_PATH_PROVISIONER}},
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
            "storageClassName": spec.get("storageClassName"),
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "hostPath": {"path": f"{ROOT}/{name}_{meta.get('namespace')}_{meta.get('name')}",
                         "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta.get("namespace"),
                         "name": meta.get("name"), "uid": meta.get("uid")},
        },
    }


def bound_claim(claim: Doc, volume: Doc) -> Doc:
    """The claim bound to ``volume`` (spec.volumeName and the annotations kube's binder writes)."""
    meta = dict(claim.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), "pv.kubernetes.io/bind-completed": "yes",
                           "pv.kubernetes.io/bound-by-controller": "yes",
                           "volume.kubernetes.io/storage-provisioner": LOCAL_PATH_PROVISIONER}
    return {**claim, "metadata": meta, "spec": {**(claim.get("spec") or {}),
                                                "volumeName": volume["metadata"]["name"]}}


def claim_status(volume: Doc) -> Doc:
    spec = volume.get("spec") or {}
    return {"phase": "Bound", "accessModes": spec.get("accessModes"), "capacity": spec.get("capacity")}


def claimed_by(volume: Doc, claim: Doc) -> bool:
    """Whether ``volume``'s claimRef names ``claim`` (namespace, name and uid)."""
    ref = (volume.get("spec") or {}).get("claimRef") or {}
    meta = claim.get("metadata") or {}
    return bool(ref) and (ref.get("namespace"), ref.get("name"), ref.get("uid")) == (
        meta.get("namespace"), meta.get("name"), meta.get("uid"))


def released(volume: Doc, claims: dict[str, Doc]) -> str | None:
    """What to do with a volume whose claim is gone: "delete", "release", or None (still claimed)."""
    ref = (volume.get("spec") or {}).get("claimRef") or {}
    if not ref:
        return None
    claim = claims.get(f"{ref.get('namespace')}/{ref.get('name')}")
    if claim is not None and (claim.get("metadata") or {}).get("uid") == ref.get("uid"):
        return None
    if (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete":
        return "delete"
    return None if (volume.get("status") or {}).get("phase") == "Released" else "release"


def node_terms(volume: Doc) -> list[Doc] | None:
    """The volume's required node selector terms (where its pods must run), or None."""
    required = ((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    terms = required.get("nodeSelectorTerms")
    return list(terms) if terms else None
