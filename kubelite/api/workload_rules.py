"""DaemonSet, StatefulSet, PodDisruptionBudget and LimitRange write rules (their :data:`kubelite.api.documents.DOCUMENT_RULES` entries), after
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

import copy
import re
from typing import Any

from pydantic import ValidationError

from kubelite.api import quantity
from kubelite.api import validation as v
from kubelite.api.core import LabelSelector, PodSpec
from kubelite.api.errors import StatusCause
from kubelite.api.labels import qualified_name_errors, selector_from_label_selector
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
    """kube's ValidatePodDisruptionBudget (``pkg/apis/policy/validation``): ``minAvailable`` and
    ``maxUnavailable`` not both set, each a non-negative int or a percentage up to 100%; a valid selector
    (absent selects no pod, ``{}`` every pod of the namespace); ``unhealthyPodEvictionPolicy``
    IfHealthyBudget or AlwaysAllow. Its status (ValidatePodDisruptionBudgetStatusUpdate): non-negative
    counts, and conditions as metav1 Conditions (:func:`validate_conditions`)."""
    spec = doc.get("spec") or {}
    causes: list[StatusCause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(v.invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    causes += _percent_or_int(spec.get("minAvailable"), "spec.minAvailable")
    causes += _percent_or_int(spec.get("maxUnavailable"), "spec.maxUnavailable")
    raw = spec.get("selector")
    if isinstance(raw, dict):
        try:
            causes += v.validate_label_selector(LabelSelector.model_validate(raw), "spec.selector")
        except ValidationError:
            pass  # wrong types: the schema walk names them
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in _UNHEALTHY_POD_EVICTION_POLICIES:
        causes.append(v.unsupported("spec.unhealthyPodEvictionPolicy", policy, _UNHEALTHY_POD_EVICTION_POLICIES))
    status = doc.get("status") or {}
    causes += validate_conditions(status.get("conditions"), "status.conditions")
    for name in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        causes += _int(status, "status", name)
    return causes


_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
_REASON_MESSAGE = ("a condition reason must start with alphabetic character, optionally followed by a string of "
                   "alphanumeric characters or '_,:', and must end with an alphanumeric character or '_' (e.g. "
                   "'my_name',  or 'MY_NAME',  or 'MyName',  or 'ReasonA,ReasonB',  or 'ReasonA:ReasonB', regex used "
                   "for validation is '[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?')")


def validate_conditions(conditions: Any, path: str) -> list[StatusCause]:
    """metav1validation.ValidateConditions, in its order: each type once and a qualified name; status
    True, False or Unknown; observedGeneration ≥ 0; lastTransitionTime and reason set, the reason in its
    CamelCase form and at most 1024 characters; the message at most 32768."""
    causes: list[StatusCause] = []
    seen: set[Any] = set()
    for i, condition in enumerate(conditions if isinstance(conditions, list) else []):
        if not isinstance(condition, dict):
            continue
        at = f"{path}[{i}]"
        kind = condition.get("type")
        if kind in seen:
            causes.append(v.duplicate(f"{at}.type", kind))
        seen.add(kind)
        causes += [v.invalid(f"{at}.type", kind, message) for message in qualified_name_errors(str(kind or ""))]
        if condition.get("status") not in ("True", "False", "Unknown"):
            causes.append(v.unsupported(f"{at}.status", condition.get("status"), ("False", "True", "Unknown")))
        generation = condition.get("observedGeneration")
        if isinstance(generation, int) and generation < 0:
            causes.append(v.invalid(f"{at}.observedGeneration", generation, "must be greater than or equal to zero"))
        if not condition.get("lastTransitionTime"):
            causes.append(v.required(f"{at}.lastTransitionTime", "must be set"))
        reason = condition.get("reason")
        if not reason:
            causes.append(v.required(f"{at}.reason", "must be set"))
        else:
            if not isinstance(reason, str) or not _REASON.match(reason):
                causes.append(v.invalid(f"{at}.reason", reason, _REASON_MESSAGE))
            if isinstance(reason, str) and len(reason) > 1024:
                causes.append(v.too_long(f"{at}.reason", 1024))
        message = condition.get("message")
        if isinstance(message, str) and len(message) > 32768:
            causes.append(v.too_long(f"{at}.message", 32768))
    return causes


# resources whose default and defaultRequest must be equal (kube's IsOvercommitAllowed is false for them)
def _no_overcommit(resource: str) -> bool:
    return resource.startswith("hugepages-") or ("/" in resource and "kubernetes.io/" not in resource)


_LIMIT_TYPES = ("Container", "Pod", "PersistentVolumeClaim")
_QUANTITY_MAPS = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
_QUANTITY_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def default_limit_range(doc: Doc) -> Doc:
    """SetDefaults_LimitRangeItem (``pkg/apis/core/v1/defaults.go``), for each ``type: Container`` item: a
    ``max`` stands in for a missing ``default``, then a ``default`` for a missing ``defaultRequest``, then a
    ``min`` for a ``defaultRequest`` still missing. A copy."""
    result = copy.deepcopy(doc)
    for item in (result.get("spec") or {}).get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        maps = {name: item.get(name) for name in ("max", "min", "default", "defaultRequest")}
        if not all(value is None or isinstance(value, dict) for value in maps.values()):
            continue  # not maps: the schema walk names them
        default = dict(maps["default"] or {})
        request = dict(maps["defaultRequest"] or {})
        for key, value in (maps["max"] or {}).items():
            default.setdefault(key, value)
        for key, value in default.items():
            request.setdefault(key, value)
        for key, value in (maps["min"] or {}).items():
            request.setdefault(key, value)
        if default:
            item["default"] = default
        if request:
            item["defaultRequest"] = request
    return result


def _container_resource_name(name: str) -> bool:
    """validateContainerResourceName: cpu, memory, ephemeral-storage, hugepages-<size>, or a qualified
    extended resource."""
    return name in ("cpu", "memory", "ephemeral-storage") or name.startswith("hugepages-") or (
        "/" in name and not qualified_name_errors(name))


def validate_limit_range(doc: Doc) -> list[StatusCause]:
    """kube's ValidateLimitRange (``pkg/apis/core/validation``): each item's type a standard one (or fully
    qualified), each type once; resource names a container's (Container, Pod items); quantities that
    parse; a ``Pod`` item without ``default``/``defaultRequest``; a ``PersistentVolumeClaim`` item with a
    min or max storage; per resource min ≤ defaultRequest ≤ default ≤ max, min ≤ default,
    defaultRequest ≤ max, a ``maxLimitRequestRatio`` of at least 1 and at most max/min, and equal default
    and defaultRequest for resources that cannot be overcommitted (hugepages, extended resources)."""
    causes: list[StatusCause] = []
    seen: set[Any] = set()
    for i, limit in enumerate((doc.get("spec") or {}).get("limits") or []):
        if not isinstance(limit, dict):
            continue
        path = f"spec.limits[{i}]"
        kind = limit.get("type")
        type_causes = [v.invalid(f"{path}.type", kind, message) for message in qualified_name_errors(str(kind or ""))]
        if not type_causes and "/" not in str(kind) and kind not in _LIMIT_TYPES:
            type_causes.append(v.invalid(f"{path}.type", kind, "must be a standard limit type or fully qualified"))
        causes += type_causes
        if kind in seen:
            causes.append(v.duplicate(f"{path}.type", kind))
        seen.add(kind)
        for name in _QUANTITY_MAPS:
            values = limit.get(name)
            for key, value in (values.items() if isinstance(values, dict) else ()):
                if kind in ("Container", "Pod") and name != "maxLimitRequestRatio" and not _container_resource_name(key):
                    causes.append(v.invalid(f"{path}.{name}[{key}]", key, "must be a standard resource for containers"))
                try:
                    quantity.parse_quantity(value)
                except (ValueError, TypeError):
                    causes.append(v.invalid(f"{path}.{name}[{key}]", value, _QUANTITY_MESSAGE))
        if kind == "Pod":
            for name in ("default", "defaultRequest"):
                if limit.get(name):
                    causes.append(v.forbidden(f"{path}.{name}", "may not be specified when `type` is 'Pod'"))
        if kind == "PersistentVolumeClaim" and "storage" not in (limit.get("min") or {}) \
                and "storage" not in (limit.get("max") or {}):
            causes.append(v.required(f"{path}.limits",
                                     "either minimum or maximum storage value is required, but neither was provided"))
        causes += _limit_relations(limit, path, kind == "Pod")
    return causes


def _limit_relations(limit: Doc, path: str, pod: bool) -> list[StatusCause]:
    maps = {name: {k: q for k, q in (limit.get(name) or {}).items()}
            for name in ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio")}
    if pod:
        maps["default"], maps["defaultRequest"] = {}, {}
    causes: list[StatusCause] = []
    keys = sorted(set().union(*maps.values()))
    for key in keys:
        try:
            found = {name: (q, quantity.parse_quantity(q)) for name, m in maps.items() if (q := m.get(key)) is not None}
        except (ValueError, TypeError):
            continue  # not a quantity: the schema walk names it
        low, high = found.get("min"), found.get("max")
        default, request, ratio = found.get("default"), found.get("defaultRequest"), found.get("maxLimitRequestRatio")
        if low and high and low[1] > high[1]:
            causes.append(v.invalid(f"{path}.min[{key}]", low[0], f"min value {low[0]} is greater than max value {high[0]}"))
        if request and low and low[1] > request[1]:
            causes.append(v.invalid(f"{path}.defaultRequest[{key}]", request[0],
                                    f"min value {low[0]} is greater than default request value {request[0]}"))
        if request and high and request[1] > high[1]:
            causes.append(v.invalid(f"{path}.defaultRequest[{key}]", request[0],
                                    f"default request value {request[0]} is greater than max value {high[0]}"))
        if request and default and request[1] > default[1]:
            causes.append(v.invalid(f"{path}.defaultRequest[{key}]", request[0],
                                    f"default request value {request[0]} is greater than default limit value {default[0]}"))
        if default and low and low[1] > default[1]:
            causes.append(v.invalid(f"{path}.default[{key}]", low[0], f"min value {low[0]} is greater than default value {default[0]}"))
        if default and high and default[1] > high[1]:
            causes.append(v.invalid(f"{path}.default[{key}]", high[0],
                                    f"default value {default[0]} is greater than max value {high[0]}"))
        if ratio and ratio[1] < 1:
            causes.append(v.invalid(f"{path}.maxLimitRequestRatio[{key}]", ratio[0], f"ratio {ratio[0]} is less than 1"))
        if ratio and low and high and low[1] > 0 and ratio[1] > high[1] / low[1]:
            causes.append(v.invalid(f"{path}.maxLimitRequestRatio[{key}]", ratio[0],
                                    f"ratio {ratio[0]} is greater than max/min = {float(high[1] / low[1]):f}"))
        if _no_overcommit(key) and default and request and default[1] != request[1]:
            causes.append(v.invalid(f"{path}.defaultRequest[{key}]", request[0],
                                    f"default value {default[0]} must equal to defaultRequest value {request[0]} in {key}"))
    return causes
