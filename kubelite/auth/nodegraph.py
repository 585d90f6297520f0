"""The Node authorizer's rule: which Secrets, ConfigMaps, PersistentVolumeClaims and PersistentVolumes a
node may read — those its own pods use (kube-apiserver's ``--authorization-mode Node``,
``plugin/pkg/auth/authorizer/node``).

kube keeps a graph of pod → secret/configmap/pvc → pv edges from informers, and lets
``system:node:<name>`` ``get`` an object of those kinds only when a path leads from the object to the
node through a pod bound to it. Its answer is "no opinion" otherwise, so RBAC may still allow; kubelite's
``system:node`` ClusterRole grants none of these kinds, so without a path the node gets 403.

What a pod references (kube's ``podutil.VisitPodSecretNames`` / ``VisitPodConfigmapNames`` and the
graph populator): Secrets of ``imagePullSecrets``, ``secret`` volumes, ``projected`` secret sources,
``env[].valueFrom.secretKeyRef``, ``envFrom[].secretRef`` and the volume plugins' secret references
(CSI ``nodePublishSecretRef``, ``azureFile``, ``cephfs``, ``cinder``, ``flexVolume``, ``iscsi``,
``rbd``, ``scaleIO``, ``storageos``); ConfigMaps of ``configMap`` volumes, ``projected`` configMap sources,
``valueFrom.configMapKeyRef`` and ``envFrom[].configMapRef``; claims of ``persistentVolumeClaim``
volumes and of ``ephemeral`` volumes (``<pod>-<volume>``), over every container, init container and
ephemeral container.

Pure: documents in, a decision out; the gateway reads the pods (kubelite.gateway.nodeauthz).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
# resource → the kind of edge the graph has for it
GRAPH_RESOURCES = frozenset({"secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes"})
# the volume sources whose secretRef (or nodePublishSecretRef) names a Secret in the pod's namespace
_SECRET_REF_VOLUMES = ("azureFile", "cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos")

Doc = Mapping[str, Any]


def node_name(user: str, groups: Iterable[str]) -> str | None:
    """The node a user is (``system:node:<name>`` in ``system:nodes``), else None."""
    if not user.startswith(NODE_PREFIX) or NODES_GROUP not in groups:
        return None
    return user[len(NODE_PREFIX):] or None


def _containers(spec: Doc) -> Iterator[Doc]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(field) or []


def references(pod: Doc) -> dict[str, set[str]]:
    """``{"secrets": {...}, "configmaps": {...}, "persistentvolumeclaims": {...}}``: the names a pod uses."""
    spec = pod.get("spec") or {}
    name = (pod.get("metadata") or {}).get("name") or ""
    secrets: set[str] = {s.get("name") for s in spec.get("imagePullSecrets") or [] if s.get("name")}
    configmaps: set[str] = set()
    claims: set[str] = set()
    for volume in spec.get("volumes") or []:
        if (secret := volume.get("secret")) and secret.get("secretName"):
            secrets.add(secret["secretName"])
        if (config_map := volume.get("configMap")) and config_map.get("name"):
            configmaps.add(config_map["name"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (secret := source.get("secret")) and secret.get("name"):
                secrets.add(secret["name"])
            if (config_map := source.get("configMap")) and config_map.get("name"):
                configmaps.add(config_map["name"])
        if (claim := volume.get("persistentVolumeClaim")) and claim.get("claimName"):
            claims.add(claim["claimName"])
        if volume.get("ephemeral") is not None and volume.get("name"):
            claims.add(f"{name}-{volume['name']}")  # kube's ephemeral.VolumeClaimName
        if (csi := volume.get("csi")) and (ref := csi.get("nodePublishSecretRef")) and ref.get("name"):
            secrets.add(ref["name"])
        for plugin in _SECRET_REF_VOLUMES:
            source = volume.get(plugin) or {}
            if source.get("secretName"):  # azureFile
                secrets.add(source["secretName"])
            if (ref := source.get("secretRef")) and ref.get("name"):
                secrets.add(ref["name"])
    for container in _containers(spec):
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            if (ref := value_from.get("secretKeyRef")) and ref.get("name"):
                secrets.add(ref["name"])
            if (ref := value_from.get("configMapKeyRef")) and ref.get("name"):
                configmaps.add(ref["name"])
        for env_from in container.get("envFrom") or []:
            if (ref := env_from.get("secretRef")) and ref.get("name"):
                secrets.add(ref["name"])
            if (ref := env_from.get("configMapRef")) and ref.get("name"):
                configmaps.add(ref["name"])
    return {"secrets": secrets, "configmaps": configmaps, "persistentvolumeclaims": claims}


def bound_to(pod: Doc, node: str) -> bool:
    return (pod.get("spec") or {}).get("nodeName") == node


def pods_reference(pods: Iterable[Doc], node: str, resource: str, name: str) -> bool:
    """Whether a pod bound to ``node`` (among ``pods``, of the object's namespace) uses ``resource``/``name``."""
    return any(bound_to(pod, node) and name in references(pod)[resource] for pod in pods)


def claims_volume(claims: Iterable[Doc], volume: str) -> list[Doc]:
    """The claims bound to the PersistentVolume ``volume`` (``spec.volumeName``)."""
    return [c for c in claims if (c.get("spec") or {}).get("volumeName") == volume]
