"""The stored-only kinds' document rules: defaulting, validation and immutable fields of the kinds
served as JSON documents (:mod:`kubelite.api.generic`), one :class:`DocumentRules` entry per kind.

Kubernetes keeps these in ``pkg/apis/<group>/{v1/defaults.go,validation}``, below the registry:
:func:`kubelite.api.validation.validate_object` checks them for every writer, and
:mod:`kubelite.registry.strategy` applies ``prepare``/``prepare_update`` on the way to etcd.

- Secret ``stringData`` is merged into ``data`` (base64) and dropped, ``type`` defaults to
  ``Opaque`` (``pkg/apis/core/v1/defaults.go``, ``pkg/registry/core/secret/strategy.go``);
  Secret/ConfigMap keys and base64 ``data`` are validated, payloads up to 1 MiB; immutable:
  ConfigMap/Secret ``data``/``binaryData``/``immutable`` once ``immutable: true``, Secret ``type``,
  RoleBinding/ClusterRoleBinding ``roleRef`` (``pkg/apis/{core,rbac}/validation``).
- Job and CronJob: :mod:`kubelite.api.batch_rules`; DaemonSet and StatefulSet:
  :mod:`kubelite.api.workload_rules`; ReplicationController: :mod:`kubelite.api.replicationcontroller`; ResourceQuota: :mod:`kubelite.api.quota_rules`; PriorityClass: :mod:`kubelite.api.priorityclass`; Service:
  :mod:`kubelite.api.service` (its addresses: :mod:`kubelite.registry.service_alloc`); HorizontalPodAutoscaler:
  :mod:`kubelite.api.hpa`; CustomResourceDefinition: :mod:`kubelite.api.crd`; CertificateSigningRequest:
  :mod:`kubelite.api.certificates`; APIService: :mod:`kubelite.api.apiservice`; events.k8s.io/v1 Event
  (the document form of Event; core v1 Events are typed): :mod:`kubelite.api.event_rules`.

Each rule works on the JSON document (camelCase); the schema walker has already type-checked it. Pure.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubelite.api import apiservice, batch_rules, certificates, crd, event_rules, hpa, priorityclass, service, workload_rules
from kubelite.api import quota_rules, replicationcontroller
from kubelite.api.errors import StatusCause, quote_value
from kubelite.util import clock


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
    "PodDisruptionBudget": DocumentRules(validate=workload_rules.validate_pod_disruption_budget),
    "LimitRange": DocumentRules(prepare=workload_rules.default_limit_range, validate=workload_rules.validate_limit_range),
    "ResourceQuota": DocumentRules(validate=quota_rules.validate_resource_quota),
    "PriorityClass": DocumentRules(validate=priorityclass.validate_priority_class,
                                   immutable=priorityclass.priority_class_immutable),
    "ReplicationController": DocumentRules(prepare=replicationcontroller.with_defaults,
                                           validate=replicationcontroller.validate),
    "RoleBinding": DocumentRules(immutable=_role_ref_immutable),
    "ClusterRoleBinding": DocumentRules(immutable=_role_ref_immutable),
    "HorizontalPodAutoscaler": DocumentRules(prepare=hpa.with_defaults, validate=hpa.validate),
    # kubelite.api.crd: served as soon as stored, so its conditions are set on write
    crd.KIND: DocumentRules(prepare=lambda doc: crd.prepare(doc, now=clock.format_time(clock.now())), validate=crd.validate,
                            immutable=crd.immutable),
    certificates.KIND: DocumentRules(prepare=lambda doc: certificates.prepare(doc, now=clock.format_time(clock.now())),
                                     validate=certificates.validate, prepare_update=certificates.keep_spec,
                                     subresources=True),
    # the document form of Event is events.k8s.io/v1's (core v1 Events are typed)
    "Event": DocumentRules(validate=event_rules.validate),
    apiservice.KIND: DocumentRules(prepare=lambda doc: apiservice.prepare(doc, now=clock.format_time(clock.now())),
                                   validate=apiservice.validate, subresources=True),
}


def document_causes(kind: str, doc: Doc) -> list[StatusCause]:
    """The stored-only kind's own validation (names and schema are checked for every kind elsewhere)."""
    rules = DOCUMENT_RULES.get(kind)
    return rules.validate(doc) if rules and rules.validate else []


def document_immutable_causes(kind: str, old: Doc, new: Doc) -> list[StatusCause]:
    rules = DOCUMENT_RULES.get(kind)
    return rules.immutable(old, new) if rules and rules.immutable else []
