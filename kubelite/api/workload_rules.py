"""DaemonSet, StatefulSet and PodDisruptionBudget write rules (their :data:`kubelite.api.documents.DOCUMENT_RULES` entries), after
kube's ``pkg/apis/apps/validation``: ValidateDaemonSet(Update), ValidateStatefulSet(Update).

- both: a non-empty ``spec.selector`` that matches ``spec.template.metadata.labels``; the template
  is a valid pod template whose ``restartPolicy`` is Always; ``updateStrategy.type`` RollingUpdate
  or OnDelete; non-negative ``minReadySeconds`` and ``revisionHistoryLimit``.
- DaemonSet: ``maxUnavailable``/``maxSurge`` are ints or percentages, not both zero;
  ``spec.selector`` is immutable.
- StatefulSet: ``replicas``, ``partition``, ``ordinals.start`` non-negative;
  ``podManagementPolicy`` OrderedReady or Parallel; retention policies Retain or Delete;
  an update may change only replicas, ordinals, template, updateStrategy,
  revisionHistoryLimit, persistentVolumeClaimRetentionPolicy and minReadySeconds
  (one ``spec`` cause, kube's message).

Pure: JSON documents in (already schema-checked), causes out.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from kubelite.api import validation as v
from kubelite.api.core import LabelSelector, PodSpec
from kubelite.api.errors import StatusCause
from kubelite.api.labels import selector_from_label_selector
from kubelite.api.semantic import normalize

Doc = dict[str, Any]

_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
_STS_FORBIDDEN = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                  "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                  "'minReadySeconds' are forbidden")


def _int(spec: Doc, path: str, name: str) -> list[StatusCause]:
    value = spec.get(name)
    return [v.invalid(f"{path}.{name}", value, "must be greater than or equal to 0")] if (
        isinstance(value, int) and value < 0) else []


def selector_and_template(spec: Doc, kind: str, *, full_pod_spec: bool = True) -> list[StatusCause]:
    """``full_pod_spec`` False (StatefulSets): kube checks only the template's labels, annotations and
    ``restartPolicy``, since its volume mounts may name volumeClaimTemplates
    (ValidatePodTemplateSpecForStatefulSet)."""
    causes: list[StatusCause] = []
    raw = spec.get("selector")
    try:
        selector = LabelSelector.model_validate(raw) if isinstance(raw, dict) else None
    except ValidationError:
        return []  # wrong types: the schema walk names them
    if selector is None:
        causes.append(v.required("spec.selector"))
    elif not selector.match_labels and not selector.match_expressions:
        causes.append(v.invalid("spec.selector", raw, f"empty selector is invalid for {kind}"))
    else:
        causes += v.validate_label_selector(selector, "spec.selector")
    template = spec.get("template")
    if not isinstance(template, dict):
        return [*causes, v.required("spec.template")]
    labels = (template.get("metadata") or {}).get("labels") or {}
    label_causes = v.validate_labels(labels, "spec.template.metadata.labels")
    causes += label_causes
    if selector is not None and not causes and not selector_from_label_selector(selector).matches(labels):
        causes.append(v.invalid("spec.template.metadata.labels", labels,
                                "`selector` does not match template `labels`"))
    if not full_pod_spec:
        restart = (template.get("spec") or {}).get("restartPolicy")
        if restart not in (None, "Always"):
            causes.append(v.unsupported("spec.template.spec.restartPolicy", restart, ("Always",)))
        return causes
    try:
        pod_spec = PodSpec.model_validate(template.get("spec") or {})
    except ValidationError:
        return causes  # wrong types: the schema walk names them
    causes += v.validate_pod_spec(pod_spec, "spec.template.spec", in_template=True)
    return causes


def _strategy_type(spec: Doc) -> list[StatusCause]:
    strategy = spec.get("updateStrategy") or {}
    kind = strategy.get("type")
    if kind not in (None, "RollingUpdate", "OnDelete"):
        return [v.unsupported("spec.updateStrategy.type", kind, ("OnDelete", "RollingUpdate"))]
    if kind == "OnDelete" and strategy.get("rollingUpdate") is not None:
        return [v.forbidden("spec.updateStrategy.rollingUpdate", "only allowed for updateStrategy 'RollingUpdate'")]
    return []


def _percent_or_int(value: Any, path: str) -> list[StatusCause]:
    if value is None or isinstance(value, int):
        return [v.invalid(path, value, "must be greater than or equal to 0")] if (value or 0) < 0 else []
    text = str(value)
    if not (text.endswith("%") and text[:-1].isdigit()):
        return [v.invalid(path, value, "a valid percent string must be a numeric string followed by an ending '%' "
                                       "(e.g. '1%',  or '93%')")]
    if int(text[:-1]) > 100:
        return [v.invalid(path, value, "must not be greater than 100%")]
    return []


def _zero(value: Any) -> bool:
    return value in (None, 0) or (isinstance(value, str) and value[:-1].isdigit() and int(value[:-1]) == 0)


def validate_daemon_set(doc: Doc) -> list[StatusCause]:
    spec = doc.get("spec") or {}
    causes = selector_and_template(spec, "daemonset") + _strategy_type(spec)
    causes += _int(spec, "spec", "minReadySeconds") + _int(spec, "spec", "revisionHistoryLimit")
    rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    path = "spec.updateStrategy.rollingUpdate"
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    rolling_causes = _percent_or_int(unavailable, f"{path}.maxUnavailable") + _percent_or_int(surge, f"{path}.maxSurge")
    causes += rolling_causes
    if rolling and not rolling_causes and "maxUnavailable" in rolling and _zero(unavailable) and _zero(surge):
        causes.append(v.invalid(f"{path}.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"))
    return causes


def daemon_set_immutable(old: Doc, new: Doc) -> list[StatusCause]:
    before = (normalize("DaemonSet", old).get("spec") or {}).get("selector")
    after = (normalize("DaemonSet", new).get("spec") or {}).get("selector")
    if before == after:
        return []
    return [v.invalid("spec.selector", (new.get("spec") or {}).get("selector"), "field is immutable")]


def validate_stateful_set(doc: Doc) -> list[StatusCause]:
    spec = doc.get("spec") or {}
    causes = selector_and_template(spec, "statefulset", full_pod_spec=False) + _strategy_type(spec)
    for name in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        causes += _int(spec, "spec", name)
    causes += _int(spec.get("ordinals") or {}, "spec.ordinals", "start")
    causes += _int((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}, "spec.updateStrategy.rollingUpdate",
                   "partition")
    policy = spec.get("podManagementPolicy")
    if policy not in (None, "OrderedReady", "Parallel"):
        causes.append(v.unsupported("spec.podManagementPolicy", policy, ("OrderedReady", "Parallel")))
    retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    for name in ("whenDeleted", "whenScaled"):
        if retention.get(name) not in (None, "Retain", "Delete"):
            causes.append(v.unsupported(f"spec.persistentVolumeClaimRetentionPolicy.{name}", retention[name],
                                        ("Retain", "Delete")))
    for i, claim in enumerate(spec.get("volumeClaimTemplates") or []):
        if not (claim.get("metadata") or {}).get("name"):
            causes.append(v.required(f"spec.volumeClaimTemplates[{i}].metadata.name"))
    return causes


def stateful_set_immutable(old: Doc, new: Doc) -> list[StatusCause]:
    def frozen(doc: Doc) -> Doc:
        spec = normalize("StatefulSet", doc).get("spec") or {}
        return {k: val for k, val in spec.items() if k not in _STS_MUTABLE}
    if frozen(old) == frozen(new):
        return []
    return [v.forbidden("spec", _STS_FORBIDDEN)]


_UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")


def validate_pod_disruption_budget(doc: Doc) -> list[StatusCause]:
    """kube's ValidatePodDisruptionBudgetSpec (``pkg/apis/policy/validation``): ``minAvailable`` and
    ``maxUnavailable`` non-negative ints or percentages up to 100%, not both set; a valid selector (absent
    selects no pod, ``{}`` every pod of the namespace); ``unhealthyPodEvictionPolicy`` IfHealthyBudget or
    AlwaysAllow."""
    spec = doc.get("spec") or {}
    causes = _percent_or_int(spec.get("minAvailable"), "spec.minAvailable")
    causes += _percent_or_int(spec.get("maxUnavailable"), "spec.maxUnavailable")
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(v.invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    raw = spec.get("selector")
    if isinstance(raw, dict):
        try:
            causes += v.validate_label_selector(LabelSelector.model_validate(raw), "spec.selector")
        except ValidationError:
            pass  # wrong types: the schema walk names them
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in _UNHEALTHY_POD_EVICTION_POLICIES:
        causes.append(v.unsupported("spec.unhealthyPodEvictionPolicy", policy, _UNHEALTHY_POD_EVICTION_POLICIES))
    return causes
