"""NodeRestriction admission: what a node's credentials may write through the gateway.

kube-apiserver's ``NodeRestriction`` plugin (``plugin/pkg/admission/noderestriction/admission.go``):
a request whose user is ``system:node:<name>`` in group ``system:nodes`` may

- pods: create only mirror pods bound to itself (owned by its Node, referencing no ServiceAccount,
  Secret, ConfigMap, ClusterTrustBundle or PVC; an ``ephemeral`` volume counts as a PVC, a kubelite
  tightening: kube lets it through though its Node authorizer then grants the node the claim
  ``<pod>-<volume>``), delete only pods bound to it, never update a pod;
  ``pods/status`` only of pods bound to it, without changing labels or resource claim statuses;
  ``pods/eviction`` only of pods bound to it; no other written pod subresource;
- nodes: only its own Node; not with labels in ``node-restriction.kubernetes.io/`` or other
  ``kubernetes.io``/``k8s.io`` labels a kubelet may not set, and never change its taints;
- persistentvolumeclaims: only ``status.capacity``/``status.conditions`` (and the expansion-recovery
  fields) of the status subresource;
- leases: only in ``kube-node-lease``, only the one named after it;
- csinodes: only its own;
- ``serviceaccounts/token``: only tokens bound by uid to a pod on it, for that pod's ServiceAccount;
- persistentvolumes (**a kubelite deviation**: kube's Node authorizer never lets a node write a PV):
  only an update that removes the external-provisioner finalizer
  (``external-provisioner.volume.kubernetes.io/finalizer``) and changes nothing else, of a volume
  being deleted that ``kubelite.io/local-path`` provisioned (annotation
  ``pv.kubernetes.io/provisioned-by``) on this very node (its required node affinity
  ``kubernetes.io/hostname In [<node>]``). The node-side half of kubelite's local-path provisioner
  (agent/localpath.py) removes the volume's directory and then lets the object go; upstream's
  rancher local-path-provisioner does that ``rm`` in a helper pod and drops the finalizer with its
  own ServiceAccount. Here the agent does it, so a node gets this one narrow write (RBAC: ``update``
  and ``patch`` on persistentvolumes in ``system:node``, which this rule narrows to the above; every
  other PV write of a node is 403).

A user in ``system:nodes`` whose name is not ``system:node:<name>`` (kube's nodeidentifier: no node)
is restricted too, as a node whose name cannot be told ("could not determine node from user"):
kubelite binds the ``system:node`` ClusterRole to that group, where kube binds it to nobody.

Every denial is a 403 Forbidden Status worded as kube's ``admission.NewForbidden``
(``<resource> "<name>" is forbidden: <reason>``, details kind = the resource); it runs after
authorization and before anything is written, whatever the authorization mode.

:func:`decide` is the pure rule; :func:`admit` (writes), :func:`admit_delete` and
:func:`admit_token_request` feed it from a gateway request. One deviation: kube evaluates a
``deletecollection`` once with an empty name, which for pods becomes a 404 (its lister finds no pod
named ""); here a node's deletecollection of pods, nodes, leases or CSINodes is a 403 before
anything is deleted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from kubelite.api import errors
from kubelite.api.resources import NODES, PODS, Resource
from kubelite.gateway.auth import User
from kubelite.gateway.state import state_of
from kubelite.node.labels import forbidden_node_labels
from kubelite.registry.storageclass import (
    LOCAL_PATH_PROVISIONER,
    PROVISIONED_BY_ANNOTATION,
    PROVISIONER_FINALIZER,
    volume_node,
)

PLUGIN = "NodeRestriction"
NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

Operation = Literal["CREATE", "UPDATE", "DELETE"]

_RESTRICTED = frozenset({("", "pods"), ("", "nodes"), ("", "persistentvolumeclaims"), ("", "serviceaccounts"),
                         ("coordination.k8s.io", "leases"), ("storage.k8s.io", "csinodes"),
                         ("", "persistentvolumes")})


def node_name(user: User | None) -> str | None:
    """The node a user is (nodeidentifier: ``system:node:<name>`` in ``system:nodes``); None if not a node."""
    if user is None or NODES_GROUP not in user.groups or not user.name.startswith(NODE_PREFIX):
        return None
    return user.name.removeprefix(NODE_PREFIX)


@dataclass(frozen=True)
class Attributes:
    """One write as admission sees it; objects are JSON documents (``old``: the stored object before an
    update or delete, None when there is none; ``node_uid``: the requesting node's Node uid, for a pod create)."""

    operation: Operation
    resource: str
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    obj: Mapping[str, Any] | None = None
    old: Mapping[str, Any] | None = None
    node_uid: str | None = None


def decide(node: str, a: Attributes) -> str | None:
    """Why node ``node`` may not make this write (kube's wording), or None when it may."""
    if not node:
        return "could not determine node from user"
    key = (a.group, a.resource)
    if key == ("", "pods"):
        return _pod(node, a)
    if key == ("", "nodes"):
        return _node(node, a)
    if key == ("", "persistentvolumeclaims"):
        return _pvc_status(node, a) if a.subresource == "status" else "may only update PVC status"
    if key == ("coordination.k8s.io", "leases"):
        if a.namespace != NODE_LEASE_NAMESPACE:
            return f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace'
        return None if a.name == node else "can only access node lease with the same name as the requesting node"
    if key == ("storage.k8s.io", "csinodes"):
        return None if a.name == node else "can only access CSINode with the same name as the requesting node"
    if key == ("", "persistentvolumes"):
        return _local_path_volume(node, a)
    return None  # serviceaccounts/token: admit_token_request, within TokenRequest


def _meta(doc: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (doc or {}).get("metadata") or {}


def _spec(doc: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (doc or {}).get("spec") or {}


def _bound_to(doc: Mapping[str, Any] | None) -> str | None:
    return None if doc is None else str(_spec(doc).get("nodeName") or "")


def _pod(node: str, a: Attributes) -> str | None:
    if a.subresource == "status":
        if a.operation != "UPDATE":
            return f'unexpected operation "{a.operation}"'
        if _bound_to(a.old) != node:
            return f'node "{node}" can only update pod status for pods with spec.nodeName set to itself'
        if (_meta(a.old).get("labels") or {}) != (_meta(a.obj).get("labels") or {}):
            return f'node "{node}" cannot update labels through pod status'
        if _claim_statuses(a.old) != _claim_statuses(a.obj):
            return f'node "{node}" cannot update resource claim statues'
        return None
    if a.subresource == "eviction":
        if a.operation != "CREATE":
            return f"unexpected operation {a.operation}"
        return None if _bound_to(a.old) == node else f"node {node} can only evict pods with spec.nodeName set to itself"
    if a.subresource:
        return f"unexpected pod subresource \"{a.subresource}\", only 'status' and 'eviction' are allowed"
    if a.operation == "CREATE":
        return _mirror_pod(node, a)
    if a.operation == "DELETE":
        return None if _bound_to(a.old) == node else f'node "{node}" can only delete pods with spec.nodeName set to itself'
    return f'unexpected operation "{a.operation}", node "{node}" can only create and delete mirror pods'


def _claim_statuses(doc: Mapping[str, Any] | None) -> list[tuple[Any, Any]]:
    return [(s.get("name"), s.get("resourceClaimName"))
            for s in ((doc or {}).get("status") or {}).get("resourceClaimStatuses") or []]


def _mirror_pod(node: str, a: Attributes) -> str | None:
    if MIRROR_ANNOTATION not in (_meta(a.obj).get("annotations") or {}):
        return f'pod does not have "{MIRROR_ANNOTATION}" annotation, node "{node}" can only create mirror pods'
    spec = _spec(a.obj)
    if (spec.get("nodeName") or "") != node:
        return f'node "{node}" can only create pods with spec.nodeName set to itself'
    owners = _meta(a.obj).get("ownerReferences") or []
    if len(owners) > 1:
        return f'node "{node}" can only create pods with a single owner reference set to itself'
    if not owners:
        return f'node "{node}" can only create pods with an owner reference set to itself'
    owner = owners[0]
    if owner.get("apiVersion") != "v1" or owner.get("kind") != "Node" or owner.get("name") != node:
        return f'node "{node}" can only create pods with an owner reference set to itself'
    if not owner.get("controller"):
        return f'node "{node}" can only create pods with a controller owner reference set to itself'
    if owner.get("blockOwnerDeletion"):
        return f'node "{node}" must not set blockOwnerDeletion on an owner reference'
    if owner.get("uid") != a.node_uid:
        return f"node {node} UID mismatch: expected {owner.get('uid')} got {a.node_uid}"
    if spec.get("serviceAccountName"):
        return f'node "{node}" can not create pods that reference a service account'
    refs = set(_references(spec))
    for kind in ("secrets", "configmaps", "clustertrustbundles", "persistentvolumeclaims"):
        if kind in refs:
            return f'node "{node}" can not create pods that reference {kind}'
    return None


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(field) or []


def _references(spec: Mapping[str, Any]) -> Iterator[str]:
    """The kinds of API objects a pod spec names (podutil.VisitPodSecretNames/ConfigmapNames, volumes)."""
    if spec.get("imagePullSecrets"):
        yield "secrets"
    for container in _containers(spec):
        for source in container.get("envFrom") or []:
            yield from (k for f, k in (("secretRef", "secrets"), ("configMapRef", "configmaps")) if source.get(f))
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            yield from (k for f, k in (("secretKeyRef", "secrets"), ("configMapKeyRef", "configmaps"))
                        if value_from.get(f))
    for volume in spec.get("volumes") or []:
        for field, source in volume.items():
            if not isinstance(source, Mapping):
                continue
            if field == "secret" or "secretRef" in source or "nodePublishSecretRef" in source or "secretName" in source:
                yield "secrets"  # secret volumes and every plugin's secretRef (cephfs, rbd, csi, azureFile...)
            if field == "configMap":
                yield "configmaps"
            if field in ("persistentVolumeClaim", "ephemeral"):
                # an ephemeral volume names its claim too (<pod>-<volume>, in the Node authorizer's graph):
                # a mirror pod with one would let its node read any claim it names by its pod's name
                yield "persistentvolumeclaims"
            for projected in source.get("sources") or [] if field == "projected" else []:
                for kind, name in (("secret", "secrets"), ("configMap", "configmaps"),
                                   ("clusterTrustBundle", "clustertrustbundles")):
                    if projected.get(kind):
                        yield name


def _modified_labels(a: Mapping[str, str], b: Mapping[str, str]) -> set[str]:
    return {k for k in {*a, *b} if a.get(k) != b.get(k)}


def _node(node: str, a: Attributes) -> str | None:
    if a.name != node:
        return f'node "{node}" is not allowed to modify node "{a.name}"'
    labels = _meta(a.obj).get("labels") or {}
    if a.operation == "CREATE":
        if _spec(a.obj).get("configSource") is not None:
            return f'node "{node}" is not allowed to create pods with a non-nil configSource'
        forbidden = forbidden_node_labels(_modified_labels(labels, {}))
        if forbidden:
            return f'node "{node}" is not allowed to set the following labels: {", ".join(forbidden)}'
    if a.operation == "UPDATE":
        source = _spec(a.obj).get("configSource")
        if source is not None and source != _spec(a.old).get("configSource"):
            return f'node "{node}" is not allowed to update configSource to a new non-nil configSource'
        if (_spec(a.obj).get("taints") or []) != (_spec(a.old).get("taints") or []):
            return f'node "{node}" is not allowed to modify taints'
        forbidden = forbidden_node_labels(_modified_labels(labels, _meta(a.old).get("labels") or {}))
        if forbidden:
            return f"is not allowed to modify labels: {', '.join(forbidden)}"  # kube's words, without the node
    return None


_PVC_STATUS_FIELDS = ("capacity", "conditions", "allocatedResourceStatuses", "allocatedResources")


def _pvc_status(node: str, a: Attributes) -> str | None:
    if a.operation != "UPDATE":
        return f'unexpected operation "{a.operation}"'

    def comparable(doc: Mapping[str, Any] | None) -> dict[str, Any]:
        doc = dict(doc or {})
        doc["metadata"] = {k: v for k, v in _meta(doc).items() if k not in ("resourceVersion", "managedFields")}
        doc["status"] = {k: v for k, v in (doc.get("status") or {}).items() if k not in _PVC_STATUS_FIELDS}
        return doc

    if comparable(a.old) != comparable(a.obj):
        return f'node "{node}" is not allowed to update fields other than status.capacity and status.conditions'
    return None


def _local_path_volume(node: str, a: Attributes) -> str | None:
    """kubelite's deviation (module docstring): only the finalizer drop of a deleted local-path
    volume on this node, nothing else."""
    if a.operation != "UPDATE" or a.subresource:
        return f'node "{node}" may only remove the local-path provisioner finalizer of its own volumes'
    meta = _meta(a.old)
    if (meta.get("annotations") or {}).get(PROVISIONED_BY_ANNOTATION) != LOCAL_PATH_PROVISIONER \
            or volume_node(dict(a.old or {})) != node:
        return f'node "{node}" may only update local-path volumes on itself'
    if not meta.get("deletionTimestamp"):
        return f'node "{node}" may only update local-path volumes that are being deleted'

    def comparable(doc: Mapping[str, Any] | None) -> dict[str, Any]:
        doc = dict(doc or {})
        doc.pop("status", None)  # a main-resource update keeps the stored status anyway
        doc["metadata"] = {k: v for k, v in _meta(doc).items()
                           if k not in ("resourceVersion", "managedFields", "finalizers")}
        return doc

    kept = [f for f in meta.get("finalizers") or [] if f != PROVISIONER_FINALIZER]
    if list(_meta(a.obj).get("finalizers") or []) != kept or comparable(a.old) != comparable(a.obj):
        return f'node "{node}" may only remove the "{PROVISIONER_FINALIZER}" finalizer of a volume'
    return None


# -- the gateway's side ---------------------------------------------------------------------------------

def _enabled_node(request: web.Request) -> str | None:
    from kubelite.gateway.authz import USER  # authz imports sa_auth, which imports this module

    if not state_of(request).node_restriction:
        return None
    user = request.get(USER)
    if user is not None and NODES_GROUP in user.groups and node_name(user) is None:
        # in system:nodes but no node's name: kubelite's RBAC binds the system:node role to that group
        # (kube binds it to nobody; its Node authorizer needs the name), so such a user is restricted
        # as a node whose name cannot be told: every restricted write refused
        return ""
    return node_name(user)


def _forbidden(res: Resource, a: Attributes, reason: str) -> errors.ApiError:
    """admission.NewForbidden: the name from the request, else from the object."""
    name = a.name or str(_meta(a.obj).get("name") or "")
    what = f"{res.plural}.{res.group}" if res.group else res.plural
    subject = f'{what} "{name}"' if name else what  # apimachinery's NewForbidden leaves out an empty name
    return errors.forbidden(f"{subject} is forbidden: {reason}", kind=res.plural, name=name, group=res.group)


async def admit(request: web.Request, res: Resource, *, operation: Operation, subresource: str = "",
                obj: Any = None, old: Any = None, name: str | None = None, namespace: str | None = None) -> None:
    """Before a create, update or patch (server-side apply included) is written: 403 when the requesting
    node may not make it. ``obj``/``old``: the new and stored objects (KubeObject or JSON document);
    ``name``/``namespace``: the object's, when ``obj`` is another kind (a pod's Binding)."""
    node = _enabled_node(request)
    if node is None or (res.group, res.plural) not in _RESTRICTED:
        return
    new_doc, old_doc = _doc(obj), _doc(old)
    meta = _meta(new_doc) or _meta(old_doc)
    node_uid = None
    if res is PODS and operation == "CREATE" and not subresource:
        node_uid = await _node_uid(request, node)
    a = Attributes(operation, res.plural, res.group, subresource,
                   namespace if namespace is not None else str(meta.get("namespace") or ""),
                   name if name is not None else str(meta.get("name") or ""), new_doc, old_doc, node_uid)
    reason = decide(node, a)
    if reason is not None:
        raise _forbidden(res, a, reason)


async def admit_delete(request: web.Request, res: Resource, *, name: str, namespace: str | None,
                       subresource: str = "") -> Any:
    """Before a delete (or a pod's eviction, ``subresource="eviction"``): 403 when the requesting node
    may not; 404 when the object is absent. Returns the stored object it decided on (None when the
    plugin does not apply), so the delete can be made conditional on its uid. ``name=""``: a deletecollection."""
    node = _enabled_node(request)
    if node is None or (res.group, res.plural) not in _RESTRICTED:
        return None
    current = await state_of(request).store.get(res, name, namespace) if name and res is PODS else None
    a = Attributes("CREATE" if subresource == "eviction" else "DELETE", res.plural, res.group, subresource,
                   namespace or "", name, None, _doc(current))
    reason = decide(node, a)
    if reason is not None:
        raise _forbidden(res, a, reason)
    return current


async def _node_uid(request: web.Request, node: str) -> str | None:
    try:
        found = await state_of(request).store.get(NODES, node)
    except errors.ApiError as exc:
        if exc.code == 404:
            raise errors.not_found("nodes", node) from None
        raise
    return str(found.metadata.uid or "") or None


def _doc(obj: Any) -> Mapping[str, Any] | None:
    if obj is None or isinstance(obj, Mapping):
        return obj
    doc: Mapping[str, Any] = obj.to_dict()
    return doc


def admit_token_request(request: web.Request, account: str, ref: Any, bound: Any, pod: Any) -> None:
    """TokenRequest (``serviceaccounts/token``) by a node: only tokens bound by uid to a pod on that node,
    for the ServiceAccount that pod names (kube checks the last through its Node authorizer; a mirror
    pod names none, so it gets no token); 403 otherwise."""
    node = _enabled_node(request)
    if node is None:
        return
    reason = None
    if not node:
        reason = "could not determine node from user"
    elif bound is None or pod is None:
        reason = "node requested token not bound to a pod"
    elif isinstance(ref, dict) and not ref.get("uid"):
        reason = "node requested token with a pod binding without a uid"
    elif (pod.spec.node_name or "") != node:
        reason = "node requested token bound to a pod scheduled on a different node"
    elif (pod.spec.service_account_name or "") != account:
        # a pod without an account (a mirror pod: ServiceAccount admission leaves those alone) has no
        # edge to one in kube's Node authorizer graph, so no account's token: not even "default"'s
        reason = f'node "{node}" can only create tokens for the service account of a pod it runs'
    if reason is not None:
        raise errors.forbidden(f'serviceaccounts "{account}" is forbidden: {reason}', kind="serviceaccounts",
                               name=account)
