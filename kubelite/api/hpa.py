"""HorizontalPodAutoscaler documents: defaults, validation, and the autoscaling/v1 ⇄ v2 conversion.

kubelite stores HPAs as autoscaling/v2 documents (``kubelite.api.generic``) and serves
autoscaling/v1 as a view of them, as kube-apiserver does:

- **defaults** (``pkg/apis/autoscaling/v2/defaults.go``): ``minReplicas: 1``; no metrics → CPU at
  80 % average utilization; a given ``behavior`` gets its missing rules filled in (scale-up: no
  stabilization, the larger of +100 % or +4 pods per 15 s; scale-down: 300 s stabilization,
  −100 % per 15 s; ``selectPolicy: Max``).
- **validation** (``pkg/apis/autoscaling/validation``), each problem a 422 cause naming its field.
- **v1 view** (``pkg/apis/autoscaling/v1/conversion.go``): ``targetCPUUtilizationPercentage`` is
  the CPU Utilization metric; what v1 cannot say is kept in annotations so a v1 round trip loses
  nothing — ``autoscaling.alpha.kubernetes.io/metrics`` (the other metrics),
  ``…/behavior``, ``…/conditions``, ``…/current-metrics``. Kubernetes writes those in the
  older v2beta1 shapes; kubelite writes the v2 JSON (only kubelite reads them back).

Pure: JSON documents in, new documents out.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubelite.api.errors import StatusCause, quote_value
from kubelite.api.quantity import parse_quantity

Doc = dict[str, Any]

V1 = "autoscaling/v1"
V2 = "autoscaling/v2"
DEFAULT_CPU_UTILIZATION = 80
METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
_ANNOTATIONS = (METRICS_ANNOTATION, BEHAVIOR_ANNOTATION, CONDITIONS_ANNOTATION, CURRENT_METRICS_ANNOTATION)

SCALE_UP_DEFAULTS: Doc = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
    {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]}
SCALE_DOWN_DEFAULTS: Doc = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": [
    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
MAX_STABILIZATION_SECONDS = 3600
MAX_PERIOD_SECONDS = 1800
_METRIC_SOURCES = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
                   "Object": "object", "External": "external"}

def _mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (documents may hold anything)."""
    return value if isinstance(value, dict) else {}



def cpu_utilization_metric(percent: int) -> Doc:
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                       "averageUtilization": percent}}}


# -- defaults ------------------------------------------------------------------------------

def with_defaults(doc: Doc) -> Doc:
    """The document with Kubernetes' v2 defaults (a copy)."""
    doc = copy.deepcopy(doc)
    spec = doc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return doc
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [cpu_utilization_metric(DEFAULT_CPU_UTILIZATION)]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        for direction, defaults in (("scaleUp", SCALE_UP_DEFAULTS), ("scaleDown", SCALE_DOWN_DEFAULTS)):
            rules = behavior.get(direction)
            rules = dict(rules) if isinstance(rules, dict) else {}
            for key, value in defaults.items():
                rules.setdefault(key, copy.deepcopy(value))
            behavior[direction] = rules
    return doc


# -- validation ----------------------------------------------------------------------------

def _cause(path: str, value: Any, detail: str, reason: str = "FieldValueInvalid") -> StatusCause:
    message = f"Invalid value: {quote_value(value)}: {detail}" if reason == "FieldValueInvalid" else detail
    return StatusCause(field=path, reason=reason, message=message)


def _required(path: str) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueRequired", message="Required value")


def validate(doc: Doc) -> list[StatusCause]:
    """Kubernetes' HPA validation for what kubelite acts on (scale target, bounds, metrics, behavior)."""
    spec = _mapping(doc.get("spec"))
    causes: list[StatusCause] = []
    ref = spec.get("scaleTargetRef") or {}
    for key in ("kind", "name"):
        if not ref.get(key):
            causes.append(_required(f"spec.scaleTargetRef.{key}"))
    min_replicas = spec.get("minReplicas")
    if isinstance(min_replicas, int) and min_replicas < 1:
        causes.append(_cause("spec.minReplicas", min_replicas, "must be greater than or equal to 1"))
    max_replicas = spec.get("maxReplicas")
    if not isinstance(max_replicas, int):
        causes.append(_required("spec.maxReplicas"))
    elif max_replicas < 1:
        causes.append(_cause("spec.maxReplicas", max_replicas, "must be greater than 0"))
    elif isinstance(min_replicas, int) and max_replicas < min_replicas:
        causes.append(_cause("spec.maxReplicas", max_replicas, "must be greater than or equal to `minReplicas`"))
    for i, metric in enumerate(spec.get("metrics") or []):
        causes += _metric_causes(f"spec.metrics[{i}]", metric if isinstance(metric, dict) else {})
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        for direction in ("scaleUp", "scaleDown"):
            if isinstance(behavior.get(direction), dict):
                causes += _rules_causes(f"spec.behavior.{direction}", behavior[direction])
    return causes


def _metric_causes(path: str, metric: Doc) -> list[StatusCause]:
    kind = metric.get("type")
    if kind not in _METRIC_SOURCES:
        return [StatusCause(field=f"{path}.type", reason="FieldValueNotSupported",
                            message=f"Unsupported value: {quote_value(kind)}: supported values: "
                            + ", ".join(f'"{k}"' for k in _METRIC_SOURCES))]
    source = metric.get(_METRIC_SOURCES[kind])
    if not isinstance(source, dict):
        return [_required(f"{path}.{_METRIC_SOURCES[kind]}")]
    causes = []
    if kind in ("Resource", "ContainerResource") and not source.get("name"):
        causes.append(_required(f"{path}.{_METRIC_SOURCES[kind]}.name"))
    target = source.get("target") if isinstance(source.get("target"), dict) else None
    target_path = f"{path}.{_METRIC_SOURCES[kind]}.target"
    if target is None:
        return [*causes, _required(target_path)]
    wanted = {"Utilization": "averageUtilization", "AverageValue": "averageValue", "Value": "value"}
    key = wanted.get(target.get("type", ""))
    if key is None:
        causes.append(StatusCause(field=f"{target_path}.type", reason="FieldValueNotSupported",
                                  message=f"Unsupported value: {quote_value(target.get('type'))}: supported values: "
                                  '"Utilization", "Value", "AverageValue"'))
    elif target.get(key) is None:
        causes.append(StatusCause(field=f"{target_path}.{key}", reason="FieldValueRequired",
                                  message=f"Required value: must set {key} when type is {target['type']}"))
    elif key == "averageUtilization" and target[key] < 1:
        causes.append(_cause(f"{target_path}.{key}", target[key], "must be greater than 0"))
    elif key != "averageUtilization" and _quantity_sign(target[key]) <= 0:
        causes.append(_cause(f"{target_path}.{key}", target[key], "must be positive"))
    return causes


def _quantity_sign(value: Any) -> int:
    try:
        number = parse_quantity(value)
    except ValueError:
        return 0
    return (number > 0) - (number < 0)


def _rules_causes(path: str, rules: Doc) -> list[StatusCause]:
    causes = []
    window = rules.get("stabilizationWindowSeconds")
    if isinstance(window, int) and not 0 <= window <= MAX_STABILIZATION_SECONDS:
        causes.append(_cause(f"{path}.stabilizationWindowSeconds", window,
                             f"must be less than or equal to {MAX_STABILIZATION_SECONDS}" if window > 0
                             else "must be greater than or equal to zero"))
    select = rules.get("selectPolicy")
    if select is not None and select not in ("Max", "Min", "Disabled"):
        causes.append(StatusCause(field=f"{path}.selectPolicy", reason="FieldValueNotSupported",
                                  message=f'Unsupported value: {quote_value(select)}: supported values: "Disabled", '
                                  '"Max", "Min"'))
    policies = rules.get("policies")
    if isinstance(policies, list) and not policies and select != "Disabled":
        causes.append(_required(f"{path}.policies"))
    for i, policy in enumerate(policies or []):
        where = f"{path}.policies[{i}]"
        policy = policy if isinstance(policy, dict) else {}
        if policy.get("type") not in ("Pods", "Percent"):
            causes.append(StatusCause(field=f"{where}.type", reason="FieldValueNotSupported",
                                      message=f"Unsupported value: {quote_value(policy.get('type'))}: supported "
                                      'values: "Percent", "Pods"'))
        value = policy.get("value")
        if not isinstance(value, int) or value <= 0:
            causes.append(_cause(f"{where}.value", value, "must be greater than zero"))
        period = policy.get("periodSeconds")
        if not isinstance(period, int) or not 0 < period <= MAX_PERIOD_SECONDS:
            causes.append(_cause(f"{where}.periodSeconds", period,
                                 f"must be greater than zero and less than or equal to {MAX_PERIOD_SECONDS}"))
    return causes


# -- the autoscaling/v1 view ---------------------------------------------------------------

def _is_cpu_utilization(metric: Any) -> bool:
    return (isinstance(metric, dict) and metric.get("type") == "Resource"
            and (metric.get("resource") or {}).get("name") == "cpu"
            and ((metric.get("resource") or {}).get("target") or {}).get("type") == "Utilization")


def to_v1(doc: Doc) -> Doc:
    """The autoscaling/v1 view of a stored v2 document."""
    spec, status = doc.get("spec") or {}, doc.get("status") or {}
    metadata = copy.deepcopy(doc.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    metrics = spec.get("metrics") or []
    cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
    others = [m for m in metrics if m is not cpu]
    for key, value in ((METRICS_ANNOTATION, others), (BEHAVIOR_ANNOTATION, spec.get("behavior")),
                       (CONDITIONS_ANNOTATION, status.get("conditions")),
                       (CURRENT_METRICS_ANNOTATION, [m for m in status.get("currentMetrics") or []
                                                     if not _is_cpu_status(m)])):
        if value:
            annotations[key] = json.dumps(value, separators=(",", ":"))
    if annotations:
        metadata["annotations"] = annotations
    v1_spec: Doc = {"scaleTargetRef": spec.get("scaleTargetRef") or {}}
    for key in ("minReplicas", "maxReplicas"):
        if key in spec:
            v1_spec[key] = spec[key]
    if cpu is not None:
        v1_spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"].get("averageUtilization")
    v1_status: Doc = {k: status[k] for k in ("observedGeneration", "lastScaleTime") if k in status}
    # v1's replica counts have no omitempty (v2's currentReplicas has): Go writes them even when 0
    v1_status["currentReplicas"] = status.get("currentReplicas", 0)
    v1_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    current = next((m for m in status.get("currentMetrics") or [] if _is_cpu_status(m)), None)
    if current is not None and "averageUtilization" in current["resource"].get("current", {}):
        v1_status["currentCPUUtilizationPercentage"] = current["resource"]["current"]["averageUtilization"]
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": V1, "metadata": metadata, "spec": v1_spec,
            "status": v1_status}


def _is_cpu_status(metric: Any) -> bool:
    return (isinstance(metric, dict) and metric.get("type") == "Resource"
            and (metric.get("resource") or {}).get("name") == "cpu")


def from_v1(doc: Doc) -> Doc:
    """The v2 document of an autoscaling/v1 one (what a v1 create or update stores)."""
    spec, status = doc.get("spec") or {}, doc.get("status") or {}
    metadata = copy.deepcopy(doc.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    kept = {key: _loads(annotations.pop(key)) for key in _ANNOTATIONS if key in annotations}
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    v2_spec: Doc = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    metrics = []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics.append(cpu_utilization_metric(spec["targetCPUUtilizationPercentage"]))
    metrics += [m for m in kept.get(METRICS_ANNOTATION) or [] if isinstance(m, dict)]
    if metrics:
        v2_spec["metrics"] = metrics
    if isinstance(kept.get(BEHAVIOR_ANNOTATION), dict):
        v2_spec["behavior"] = kept[BEHAVIOR_ANNOTATION]
    v2_status: Doc = {k: status[k] for k in ("observedGeneration", "lastScaleTime", "currentReplicas",
                                             "desiredReplicas") if k in status}
    current = [m for m in kept.get(CURRENT_METRICS_ANNOTATION) or [] if isinstance(m, dict)]
    if status.get("currentCPUUtilizationPercentage") is not None:
        current.insert(0, {"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": status["currentCPUUtilizationPercentage"]}}})
    if current:
        v2_status["currentMetrics"] = current
    if isinstance(kept.get(CONDITIONS_ANNOTATION), list):
        v2_status["conditions"] = kept[CONDITIONS_ANNOTATION]
    out = {"kind": "HorizontalPodAutoscaler", "apiVersion": V2, "metadata": metadata, "spec": v2_spec}
    if v2_status:
        out["status"] = v2_status
    return out


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None
