"""Per-kind write rules every writer gets: the Store applies them, so the gateway, the controllers
and the agents cannot skip one (kube-apiserver's registry strategies and built-in admission).

Kept small on purpose; what lives here:

- **DefaultTolerationSeconds** (kube-apiserver admission plugin, on Pod create and update):
  a pod that does not tolerate ``node.kubernetes.io/not-ready:NoExecute`` /
  ``node.kubernetes.io/unreachable:NoExecute`` gets ``operator: Exists`` tolerations with
  the configured seconds (300 by default). "Tolerates" is by key (or an empty key) and
  effect (NoExecute or empty), as the plugin decides.
- **Namespace lifecycle** (``pkg/registry/core/namespace``): a new namespace gets
  ``spec.finalizers: [kubernetes]`` and ``status.phase: Active``; an update keeps the stored
  ``spec.finalizers`` (only the ``finalize`` subresource changes them); the first delete only
  marks it (``deletionTimestamp``, phase ``Terminating``); it goes once ``spec.finalizers``
  and ``metadata.finalizers`` are both empty.
- **Graceful deletion** (``BeforeDelete`` in ``k8s.io/apiserver/pkg/registry/rest/delete.go``):
  ``deletionTimestamp`` is the delete time plus the grace period; a later, shorter grace
  period moves it earlier.
- **ServiceAccount admission** (on pod create, when :attr:`Admission.service_account`): in
  :mod:`kubelite.registry.sa_admission`; the Store reads the account and applies it.
- **NamespaceLifecycle admission**: nothing new may be created in a Terminating namespace
  (403, :func:`namespace_terminating`).
- **Status on create** (each kind's ``PrepareForCreate``): what a writer sends as ``status`` is
  replaced by the kind's zero status (:data:`STATUS_ON_CREATE`); a pod's is ``phase: Pending`` and its
  QoS class (:mod:`kubelite.api.qos`), and ``PodScheduled=False``/``SchedulingGated`` while it has
  ``spec.schedulingGates``. A pod's status update that
  leaves ``qosClass`` out keeps the stored one (``podStatusStrategy``), in the Store's merge.
- **Stored-only kinds**: their document rules (:data:`kubelite.api.documents.DOCUMENT_RULES`,
  defaulting and normalizing) are applied here on create and update.

Pure: objects in, copies out; the Store does the I/O.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from kubelite.api import errors
from kubelite.api import taints as taint_keys
from kubelite.api.core import (
    SCHEDULING_GATED, SCHEDULING_GATED_MESSAGE, Namespace, NamespaceSpec, NamespaceStatus, Pod, PodCondition, PodStatus,
    Toleration,
)
from kubelite.api.defaults import requests_from_limits
from kubelite.api.documents import DOCUMENT_RULES
from kubelite.api.meta import KubeObject
from kubelite.api.qos import pod_qos_class
from kubelite.api.resources import named_like_built_in
from kubelite.api.schema import INT_RANGES

T = TypeVar("T", bound=KubeObject)

NOT_READY_TAINT = taint_keys.NOT_READY
UNREACHABLE_TAINT = taint_keys.UNREACHABLE
NAMESPACE_FINALIZER = "kubernetes"
TERMINATING = "Terminating"


@dataclass(frozen=True)
class Admission:
    """The admission settings of one API writer (kube-apiserver's flags of the same names)."""

    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    # the ServiceAccount plugin (kubelite.registry.sa_admission): off unless a process enables it
    # (--enable-admission-plugins ServiceAccount; kl up does), as it needs the accounts' controller
    service_account: bool = False


def toleration_seconds_flag(text: str) -> int:
    """argparse type of the ``--default-*-toleration-seconds`` flags (gateway and controller-manager).

    kube-apiserver's flags are int64 and go into ``tolerationSeconds`` (int64): a value
    outside 0..2**63-1 would make every pod the writer admits invalid, so it is a flag error.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds, not {text!r}") from None
    if not 0 <= value <= INT_RANGES["int64"][1]:
        raise argparse.ArgumentTypeError(f"must be from 0 to {INT_RANGES['int64'][1]} seconds, not {value}")
    return value


SWITCHABLE_PLUGINS = ("ServiceAccount",)


def admission_plugins_flag(text: str) -> frozenset[str]:
    """argparse type of ``--enable-admission-plugins``: a comma list of :data:`SWITCHABLE_PLUGINS`
    (kubelite's other admission rules are always on)."""
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(names - set(SWITCHABLE_PLUGINS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown admission plugin(s) {', '.join(unknown)}: "
                                         f"only {', '.join(SWITCHABLE_PLUGINS)} can be enabled")
    return names


# -- DefaultTolerationSeconds ---------------------------------------------------------

def _tolerates_by_key(toleration: Toleration, key: str) -> bool:
    return (not toleration.key or toleration.key == key) and toleration.effect in (None, "", "NoExecute")


def with_default_tolerations(tolerations: list[Toleration] | None, admission: Admission) -> list[Toleration] | None:
    """The pod's tolerations plus the defaults it lacks; None when nothing is added."""
    have = list(tolerations or [])
    added = []
    for key, seconds in ((NOT_READY_TAINT, admission.default_not_ready_toleration_seconds),
                         (UNREACHABLE_TAINT, admission.default_unreachable_toleration_seconds)):
        if not any(_tolerates_by_key(t, key) for t in have):
            added.append(Toleration(key=key, operator="Exists", effect="NoExecute", toleration_seconds=seconds))
    return [*have, *added] if added else None


def default_pod(pod: Pod, *, in_place: bool = False) -> Pod:
    """``pod`` with kube's ``SetDefaults_Pod`` (a copy), or ``pod`` itself when it has them: each container's
    limits standing in for the requests it lacks (:func:`kubelite.api.defaults.requests_from_limits`) and
    ``enableServiceLinks: true``. For every writer: the gateway defaults what users send; the controllers'
    pods come here, as their POSTs are decoded with these defaults in Kubernetes. ``in_place``: ``pod``
    is the caller's own copy, changed itself."""
    changes: list[tuple[str, int, dict[str, Any]]] = []
    for key, containers in (("init_containers", pod.spec.init_containers), ("containers", pod.spec.containers)):
        for index, container in enumerate(containers or []):
            resources = container.resources
            if resources is not None and resources.limits:
                defaulted = requests_from_limits(resources.requests, resources.limits)
                if defaulted is not None:
                    changes.append((key, index, defaulted))
    if not changes and pod.spec.enable_service_links is not None:
        return pod
    defaulted_pod = pod if in_place else pod.deep_copy()
    for key, index, requests in changes:
        resources = getattr(defaulted_pod.spec, key)[index].resources
        assert resources is not None
        resources.requests = requests
    if defaulted_pod.spec.enable_service_links is None:
        defaulted_pod.spec.enable_service_links = True
    return defaulted_pod


def _admit_pod(pod: Pod, admission: Admission, *, in_place: bool = False) -> Pod:
    defaulted = default_pod(pod, in_place=in_place)
    tolerations = with_default_tolerations(defaulted.spec.tolerations, admission)
    if tolerations is None:
        return defaulted
    admitted = defaulted if in_place or defaulted is not pod else defaulted.deep_copy()
    admitted.spec.tolerations = tolerations
    return admitted


# -- create / update ----------------------------------------------------------------

# The status each kind is created with, whatever the writer sent: kube-apiserver resets it on create (the
# controllers and agents own it). Its response then shows Go's zero status: `{}`, and `replicas: 0` where the
# field is not omitempty (non-pointer fields without omitempty: keepZero in k8s_proto.json; a struct is never
# omitted: loadBalancer; a PVC is defaulted to phase Pending when read back, SetDefaults_PersistentVolumeClaim).
# A Pod's also has its qosClass. Built-in kinds only: a custom resource may share a kind's name.
STATUS_ON_CREATE: dict[str, dict[str, object]] = {
    "Pod": {"phase": "Pending"}, "ReplicaSet": {"replicas": 0}, "Deployment": {},
    "Service": {"loadBalancer": {}}, "Ingress": {"loadBalancer": {}}, "PersistentVolumeClaim": {"phase": "Pending"},
    "PersistentVolume": {"phase": "Pending"},
    "ReplicationController": {"replicas": 0}, "ResourceQuota": {}, "Job": {}, "CronJob": {},
    "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "PodDisruptionBudget": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
    "HorizontalPodAutoscaler": {"desiredReplicas": 0},
    "CertificateSigningRequest": {}, "APIService": {}, "ValidatingAdmissionPolicy": {},
    "VolumeAttachment": {"attached": False},
}


def reset_status_on_create(obj: T) -> T:
    """``obj`` with the status it is created with (:data:`STATUS_ON_CREATE`): a copy, or ``obj`` itself for a
    kind without one. The Store applies it to every create, after it set the creation timestamp.

    A pod's QoS class is kube's ``GetPodQOS`` of what was sent: a ``status.qosClass`` the writer sent
    is kept (kube-apiserver's PrepareForCreate reads it before it replaces the status), else computed."""
    if isinstance(obj, Pod):
        status = PodStatus(phase="Pending", qos_class=pod_qos_class(obj))
        if obj.spec.scheduling_gates:  # applySchedulingGatedCondition, at the create's time
            status.conditions = [PodCondition(type="PodScheduled", status="False", reason=SCHEDULING_GATED,
                                              message=SCHEDULING_GATED_MESSAGE,
                                              last_transition_time=obj.metadata.creation_timestamp)]
        return obj.model_copy(update={"status": status})
    reset = STATUS_ON_CREATE.get(obj.kind or "")
    if reset is None or named_like_built_in(obj):
        return obj
    return type(obj).model_validate({**obj.to_dict(), "status": reset})


def prepare_for_create(obj: T, admission: Admission, *, in_place: bool = False) -> T:
    """The object as it is stored on create (a copy when anything changes). ``in_place``: ``obj`` is the
    caller's own copy (the Store's create), which admission may change instead of copying."""
    # the reset first: a stored-only kind's rules may set status themselves (an APIService's Available)
    obj = _prepare_document(reset_status_on_create(obj))
    if isinstance(obj, Pod):
        return _admit_pod(obj, admission, in_place=in_place)  # type: ignore[return-value]
    if isinstance(obj, Namespace):
        ns = obj.deep_copy()
        finalizers = list(ns.spec.finalizers or []) if ns.spec else []
        if NAMESPACE_FINALIZER not in finalizers:
            finalizers.append(NAMESPACE_FINALIZER)
        ns.spec = (ns.spec or NamespaceSpec()).model_copy(update={"finalizers": finalizers})
        ns.status = NamespaceStatus(phase="Active")
        return ns
    return obj


def prepare_for_update(current: T, new: T, admission: Admission, *, subresource: str | None) -> T:
    """The object as it is stored on an update of the main resource or a subresource."""
    if subresource is None:
        new = _prepare_document(new, current)
    elif (rules := DOCUMENT_RULES.get(new.kind or "")) is not None and rules.subresources:
        new = _prepare_document(new)
    if isinstance(new, Pod) and subresource is None:
        return _admit_pod(new, admission)  # type: ignore[return-value]
    if isinstance(new, Namespace) and isinstance(current, Namespace) and subresource is None:
        kept = (current.spec.finalizers if current.spec else None) or None
        if (new.spec.finalizers if new.spec else None) != kept:
            new = new.deep_copy()
            new.spec = (new.spec or NamespaceSpec()).model_copy(update={"finalizers": kept})
    return new


def should_delete_during_update(current: KubeObject, new: KubeObject) -> bool:
    """An update that removed the last finalizer of an object being deleted removes it instead
    (``ShouldDeleteDuringUpdate``; namespaces also wait for ``spec.finalizers``)."""
    if new.metadata.deletion_timestamp is None or new.metadata.finalizers:
        return False
    if isinstance(new, Namespace):
        return not (new.spec and new.spec.finalizers)
    return bool(current.metadata.finalizers)


# -- delete -------------------------------------------------------------------------

def mark_namespace_for_deletion(current: Namespace, now: datetime) -> Namespace | None:
    """The marked copy, ``current`` itself while its finalizers run, or None to delete it now
    (nothing to wait for: no ``spec.finalizers``, no ``metadata.finalizers``)."""
    finalizers = current.spec.finalizers if current.spec else None
    if finalizers is None:  # stored before namespaces got the finalizer on create: empty it first
        finalizers = [NAMESPACE_FINALIZER]
    if not finalizers and not current.metadata.finalizers:
        return None
    if current.metadata.deletion_timestamp is not None:
        return current
    marked = current.deep_copy()
    marked.metadata.deletion_timestamp = now
    marked.spec = (marked.spec or NamespaceSpec()).model_copy(update={"finalizers": finalizers})
    marked.status = (marked.status or NamespaceStatus()).model_copy(update={"phase": TERMINATING})
    return marked


def graceful_deletion(meta_timestamp: datetime | None, meta_grace: int | None, requested: int,
                      now: datetime) -> tuple[datetime, int] | None:
    """(deletionTimestamp, deletionGracePeriodSeconds) for a graceful delete; None: keep what is stored.

    First delete: now + grace. Already terminating: only a shorter grace period changes it,
    moving the timestamp to (original request time + the new grace).
    """
    if meta_timestamp is None:
        return now + timedelta(seconds=requested), requested
    if meta_grace is None or requested >= meta_grace:
        return None
    return meta_timestamp - timedelta(seconds=meta_grace) + timedelta(seconds=requested), requested


# -- NamespaceLifecycle admission ----------------------------------------------------

def namespace_terminating(namespace: Namespace) -> bool:
    return namespace.metadata.deletion_timestamp is not None or (
        namespace.status is not None and namespace.status.phase == TERMINATING)


def is_namespace_terminating(exc: BaseException) -> bool:
    """The 403 of :func:`forbidden_in_terminating_namespace` (client-go's HasStatusCause check)."""
    if not isinstance(exc, errors.ApiError) or exc.code != 403 or exc.status.details is None:
        return False
    return any(c.reason == "NamespaceTerminating" for c in exc.status.details.causes or [])


def forbidden_in_terminating_namespace(plural: str, group: str, name: str | None, namespace: str) -> errors.ApiError:
    """kube-apiserver's 403 for a create in a Terminating namespace (NamespaceLifecycle admission)."""
    resource = f"{plural}.{group}" if group else plural
    reason = f"unable to create new content in namespace {namespace} because it is being terminated"
    message = f'{resource} "{name}" is forbidden: {reason}' if name else f"{resource} is forbidden: {reason}"
    cause = errors.StatusCause(reason="NamespaceTerminating", message=f"namespace {namespace} is being terminated",
                               field="metadata.namespace")
    details = errors.StatusDetails(name=name or None, group=group or None, kind=plural, causes=[cause])
    return errors.ApiError(errors.Status(code=403, reason="Forbidden", message=message, details=details))


# -- stored-only kinds (their rules: kubelite.api.documents) ---------------------------

def _prepare_document(obj: T, current: KubeObject | None = None) -> T:
    rules = None if named_like_built_in(obj) else DOCUMENT_RULES.get(obj.kind or "")
    if rules is None or rules.prepare is None:
        return obj
    doc = obj.to_dict()
    if current is not None and rules.prepare_update is not None:
        doc = rules.prepare_update(current.to_dict(), doc)
    return type(obj).model_validate(rules.prepare(doc))
