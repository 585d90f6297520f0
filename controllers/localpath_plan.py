"""Pure decisions of the local-path provisioner (after rancher's local-path-provisioner, which k3s ships).

A claim of a class whose provisioner is ``kubelite.io/local-path`` is bound to a new
PersistentVolume ``pvc-<claim uid>``: a directory on one node (``hostPath``, under
``/var/lib/kubelite/local-path``), pinned to that node by the PV's required node affinity
(``kubernetes.io/hostname In [node]``), so every later pod of the claim is scheduled there. With
``WaitForFirstConsumer`` the node is the one the scheduler chose for the claim's first pod
(annotation ``volume.kubernetes.io/selected-node``); an ``Immediate`` claim waits for that too,
since a local directory has no node of its own.

Reclaiming, as kube's PV controller and external-provisioner do it: a volume whose claim is gone is
first marked ``Released``; then a ``Delete`` volume is deleted. ``Delete`` volumes carry the
external-provisioner finalizer, so the object stays (Terminating) until the agent of its node has
removed the directory (``agent/localpath.py``; upstream's provisioner runs a helper pod for that)
and dropped the finalizer. ``Retain`` volumes stay ``Released`` with their directory. Documents in,
documents out.
"""

from __future__ import annotations

from typing import Any

from kubelite.registry.storageclass import (
    HOSTNAME_LABEL,
    LOCAL_PATH_PROVISIONER,
    LOCAL_PATH_ROOT,
    PROVISIONED_BY_ANNOTATION,
    PROVISIONER_FINALIZER,
    SELECTED_NODE_ANNOTATION,
)

ROOT = LOCAL_PATH_ROOT
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
    policy = storage_class.get("reclaimPolicy") or "Delete"
    metadata: Doc = {"name": name, "annotations": {PROVISIONED_BY_ANNOTATION: LOCAL_PATH_PROVISIONER}}
    if policy == "Delete":
        metadata["finalizers"] = [PROVISIONER_FINALIZER]
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": metadata,
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": policy,
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
    """What to do with a volume whose claim is gone: "release" (mark it ``Released``), then for a
    ``Delete`` volume "delete"; None while it is claimed, or when nothing is left to do."""
    ref = (volume.get("spec") or {}).get("claimRef") or {}
    if not ref:
        return None
    claim = claims.get(f"{ref.get('namespace')}/{ref.get('name')}")
    if claim is not None and (claim.get("metadata") or {}).get("uid") == ref.get("uid"):
        return None
    if (volume.get("status") or {}).get("phase") not in ("Released", "Failed"):
        return "release"
    deleting = (volume.get("metadata") or {}).get("deletionTimestamp")
    if (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete" and not deleting:
        return "delete"
    return None


def finalizers(volume: Doc) -> list[str] | None:
    """The finalizers one of our volumes should have, or None when they are right: a ``Delete``
    volume holds the provisioner's (volumes made before it existed get it too), a volume whose
    policy became ``Retain`` loses it (external-provisioner does both)."""
    meta = volume.get("metadata") or {}
    if (meta.get("annotations") or {}).get(PROVISIONED_BY_ANNOTATION) != LOCAL_PATH_PROVISIONER \
            or meta.get("deletionTimestamp"):
        return None
    present = list(meta.get("finalizers") or [])
    wanted = (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete"
    if wanted and PROVISIONER_FINALIZER not in present:
        return [*present, PROVISIONER_FINALIZER]
    if not wanted and PROVISIONER_FINALIZER in present:
        return [f for f in present if f != PROVISIONER_FINALIZER]
    return None


def node_terms(volume: Doc) -> list[Doc] | None:
    """The volume's required node selector terms (where its pods must run), or None."""
    required = ((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    terms = required.get("nodeSelectorTerms")
    return list(terms) if terms else None
