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
- **NamespaceLifecycle admission**: nothing new may be created in a Terminating namespace
  (403, :func:`namespace_terminating`).
- **Stored-only kinds** (:data:`DOCUMENT_RULES`, one entry per kind, on the documents of
  :mod:`kubelite.api.generic`): Secret ``stringData`` is merged into ``data`` (base64) and
  dropped, ``type`` defaults to ``Opaque`` (``pkg/apis/core/v1/defaults.go``,
  ``pkg/registry/core/secret/strategy.go``); Secret/ConfigMap keys and base64 ``data`` are
  validated; immutable fields: ConfigMap/Secret ``data``/``binaryData``/``immutable`` once
  ``immutable: true``, Secret ``type``, RoleBinding/ClusterRoleBinding ``roleRef``
  (``pkg/apis/{core,rbac}/validation``); Secret/ConfigMap payloads up to 1 MiB; Job and CronJob
  rules live in :mod:`kubelite.batch_rules`; Service defaults, validation and its clusterIP once
  set in :mod:`kubelite.api.service` (its addresses: :mod:`kubelite.service_alloc`); the
  CustomResourceDefinition's in :mod:`kubelite.api.crd`.

Pure: objects in, copies out; the Store does the I/O.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from kubelite import batch_rules
from kubelite.api import apiservice, certificates, crd, errors, event_rules, hpa, service
from kubelite.api.errors import StatusCause, quote_value
from kubelite.api.core import Namespace, NamespaceSpec, NamespaceStatus, Pod, Toleration
from kubelite.api.meta import KubeObject
from kubelite.api.schema import INT_RANGES
from kubelite import priority, workload_rules

T = TypeVar("T", bound=KubeObject)

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NAMESPACE_FINALIZER = "kubernetes"
TERMINATING = "Terminating"


@dataclass(frozen=True)
class Admission:
    """The admission settings of one API writer (kube-apiserver's flags of the same names)."""

    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300


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


def _admit_pod(pod: Pod, admission: Admission) -> Pod:
    tolerations = with_default_tolerations(pod.spec.tolerations, admission)
    if tolerations is None:
        return pod
    admitted = pod.deep_copy()
    admitted.spec.tolerations = tolerations
    return admitted


# -- create / update ----------------------------------------------------------------

def prepare_for_create(obj: T, admission: Admission) -> T:
    """The object as it is stored on create (a copy when anything changes)."""
    obj = _prepare_document(obj)
    if isinstance(obj, Pod):
        return _admit_pod(obj, admission)  # type: ignore[return-value]
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


# -- stored-only kinds ----------------------------------------------------------------
# Kinds served as documents (kubelite.api.generic): their few rules, one entry per kind. Each
# works on the JSON document (camelCase); the schema walker has already type-checked it.

Doc = dict[str, Any]


@dataclass(frozen=True)
class DocumentRules:
    prepare: Callable[[Doc], Doc] | None = None  # defaulting and normalizing before storage
    validate: Callable[[Doc], list[StatusCause]] | None = None
    immutable: Callable[[Doc, Doc], list[StatusCause]] | None = None  # (stored, new) → causes
    prepare_update: Callable[[Doc, Doc], Doc] | None = None  # (stored, new) → new, before ``prepare``
    subresources: bool = False  # ``prepare`` also runs on status (and approval) writes
    extra: dict[str, Any] = field(default_factory=dict)


_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _key_causes(path: str, keys: Any) -> list[StatusCause]:
    """Kubernetes' IsConfigMapKey, for ConfigMap and Secret keys."""
    causes = []
    for key in keys:
        if not (0 < len(key) <= 253 and _KEY.match(key)) or key in (".", ".."):
            causes.append(StatusCause(field=f"{path}[{key}]", reason="FieldValueInvalid",
                                      message=f"Invalid value: {quote_value(key)}: a valid config key must consist of "
                                      "alphanumeric characters, '-', '_' or '.'"))
    return causes


def _immutable_cause(path: str, value: Any, detail: str = "field is immutable") -> StatusCause:
    return StatusCause(field=path, reason="FieldValueInvalid", message=f"Invalid value: {quote_value(value)}: {detail}")


def _locked_data(old: Doc, new: Doc, fields: tuple[str, ...]) -> list[StatusCause]:
    """Once ``immutable: true`` is stored, the payload and the flag itself stay (ValidateConfigMapUpdate)."""
    if old.get("immutable") is not True:
        return []
    detail = "field is immutable when `immutable` is set"
    return [_immutable_cause(f, new.get(f), detail) for f in (*fields, "immutable") if new.get(f) != old.get(f)]


def _prepare_secret(doc: Doc) -> Doc:
    doc = dict(doc)
    string_data = doc.pop("stringData", None) or {}
    if string_data:
        doc["data"] = {**(doc.get("data") or {}),
                       **{k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()}}
    doc.setdefault("type", "Opaque")
    return doc


MAX_SECRET_BYTES = 1 << 20  # kube's MaxSecretSize, also the ConfigMap limit


def _too_long(path: str, size: int) -> list[StatusCause]:
    if size <= MAX_SECRET_BYTES:
        return []
    return [StatusCause(field=path, reason="FieldValueTooLong",
                        message=f"Too long: must have at most {MAX_SECRET_BYTES} bytes")]


def _validate_secret(doc: Doc) -> list[StatusCause]:
    data = doc.get("data") or {}
    causes = _key_causes("data", data)
    size = 0
    for key, value in data.items():
        try:
            size += len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError, TypeError):
            causes.append(StatusCause(field=f"data[{key}]", reason="FieldValueInvalid",
                                      message="Invalid value: \"<secret data>\": illegal base64 data"))
    return causes + _too_long("data", size)


def _secret_immutable(old: Doc, new: Doc) -> list[StatusCause]:
    causes = _locked_data(old, new, ("data",))
    if new.get("type") != old.get("type"):
        causes.append(_immutable_cause("type", new.get("type")))
    return causes


def _validate_config_map(doc: Doc) -> list[StatusCause]:
    causes = _key_causes("data", doc.get("data") or {}) + _key_causes("binaryData", doc.get("binaryData") or {})
    for key in set(doc.get("data") or {}) & set(doc.get("binaryData") or {}):
        causes.append(StatusCause(field=f"data[{key}]", reason="FieldValueInvalid",
                                  message=f"Invalid value: {quote_value(key)}: duplicate of key present in binaryData"))
    size = sum(len(k) + len(str(v).encode()) for k, v in (doc.get("data") or {}).items())
    for key, value in (doc.get("binaryData") or {}).items():
        try:
            size += len(key) + len(base64.b64decode(value))
        except (binascii.Error, ValueError, TypeError):
            size += len(key) + len(str(value))
    return causes + _too_long("data", size)


def _role_ref_immutable(old: Doc, new: Doc) -> list[StatusCause]:
    """A binding's roleRef is fixed at creation (rbac ValidateRoleBindingUpdate: "cannot change roleRef")."""
    if new.get("roleRef") == old.get("roleRef"):  # three required strings: nothing to normalise
        return []
    return [_immutable_cause("roleRef", new.get("roleRef"), "cannot change roleRef")]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


DOCUMENT_RULES: dict[str, DocumentRules] = {
    "ConfigMap": DocumentRules(validate=_validate_config_map,
                               immutable=lambda old, new: _locked_data(old, new, ("data", "binaryData"))),
    "Secret": DocumentRules(prepare=_prepare_secret, validate=_validate_secret, immutable=_secret_immutable),
    "Job": DocumentRules(prepare=batch_rules.prepare_job, validate=batch_rules.validate_job,
                         immutable=batch_rules.job_immutable),
    "CronJob": DocumentRules(prepare=batch_rules.prepare_cronjob, validate=batch_rules.validate_cronjob),
    "Service": DocumentRules(prepare=service.default_service, validate=service.validate_service,
                             immutable=service.service_immutable, prepare_update=service.keep_allocated),
    "DaemonSet": DocumentRules(validate=workload_rules.validate_daemon_set, immutable=workload_rules.daemon_set_immutable),
    "StatefulSet": DocumentRules(validate=workload_rules.validate_stateful_set,
                                 immutable=workload_rules.stateful_set_immutable),
    "PriorityClass": DocumentRules(validate=priority.validate_priority_class,
                                   immutable=priority.priority_class_immutable),
    "RoleBinding": DocumentRules(immutable=_role_ref_immutable),
    "ClusterRoleBinding": DocumentRules(immutable=_role_ref_immutable),
    "HorizontalPodAutoscaler": DocumentRules(prepare=hpa.with_defaults, validate=hpa.validate),
    # kubelite.api.crd: served as soon as stored, so its conditions are set on write
    crd.KIND: DocumentRules(prepare=lambda doc: crd.prepare(doc, now=_now()), validate=crd.validate,
                            immutable=crd.immutable),
    certificates.KIND: DocumentRules(prepare=lambda doc: certificates.prepare(doc, now=_now()),
                                     validate=certificates.validate, prepare_update=certificates.keep_spec,
                                     subresources=True),
    # the document form of Event is events.k8s.io/v1's (core v1 Events are typed)
    "Event": DocumentRules(validate=event_rules.validate),
    apiservice.KIND: DocumentRules(prepare=lambda doc: apiservice.prepare(doc, now=_now()),
                                   validate=apiservice.validate, subresources=True),
}


def _prepare_document(obj: T, current: KubeObject | None = None) -> T:
    rules = DOCUMENT_RULES.get(obj.kind or "")
    if rules is None or rules.prepare is None:
        return obj
    doc = obj.to_dict()
    if current is not None and rules.prepare_update is not None:
        doc = rules.prepare_update(current.to_dict(), doc)
    return type(obj).model_validate(rules.prepare(doc))


def document_causes(kind: str, doc: Doc) -> list[StatusCause]:
    """The stored-only kind's own validation (names and schema are checked for every kind elsewhere)."""
    rules = DOCUMENT_RULES.get(kind)
    return rules.validate(doc) if rules and rules.validate else []


def document_immutable_causes(kind: str, old: Doc, new: Doc) -> list[StatusCause]:
    rules = DOCUMENT_RULES.get(kind)
    return rules.immutable(old, new) if rules and rules.immutable else []
