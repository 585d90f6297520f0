"""What an object uses of a ResourceQuota, and whether a quota applies to it: kube's quota evaluators
(``pkg/quota/v1/evaluator/core/{pods,services,persistent_volume_claims}.go`` and the object-count evaluator
of ``pkg/quota/v1/generic``, Kubernetes 1.32). The resource quota controller sums these over a namespace;
the ResourceQuota admission (:mod:`kubelite.registry.resourcequota`) charges them on create (and on a
Service's or a claim's update). Events are never counted (kube's default ignored resources).

- **pods**: ``count/pods`` (every pod in storage) and ``pods`` plus compute, only while the pod is not
  terminal (phase Succeeded/Failed) and not past ``deletionTimestamp + deletionGracePeriodSeconds`` (a pod
  stuck terminating on a lost node: kube's ``QuotaV1Pod``). Compute is the pod's requests/limits as
  :mod:`kubelite.api.podresources` aggregates them: ``cpu``/``requests.cpu``, ``limits.cpu``, the same for
  ``memory`` and ``ephemeral-storage``, ``hugepages-*`` and ``requests.hugepages-*``, and extended
  resources as ``requests.<name>`` only.
- **services**: ``services``, ``count/services``, ``services.loadbalancers`` (1 for a LoadBalancer) and
  ``services.nodeports`` (a NodePort or LoadBalancer service's ports, each; with
  ``allocateLoadBalancerNodePorts: false`` only the ports that name a nodePort).
- **persistentvolumeclaims**: ``persistentvolumeclaims``, ``count/persistentvolumeclaims``,
  ``requests.storage`` (rounded up to whole bytes) and the same per class,
  ``<class>.storageclass.storage.k8s.io/{persistentvolumeclaims,requests.storage}``.
- **any other kind**: ``count/<plural>.<group>`` (``count/<plural>`` in the core group), and the legacy
  names ``configmaps``, ``secrets``, ``replicationcontrollers``, ``resourcequotas``.
- **scopes** (pods only; a scoped quota matches no other kind): ``Terminating``/``NotTerminating``
  (``activeDeadlineSeconds`` ≥ 0), ``BestEffort``/``NotBestEffort`` (QoS class), ``PriorityClass`` with
  ``scopeSelector`` operators In/NotIn/Exists/DoesNotExist, ``CrossNamespacePodAffinity``.

Usages are ResourceLists: resource name → quantity text. Sums are exact and printed as kube's
``Quantity.String()`` prints them: in the format of the first non-zero term (``1Gi`` stays binary, ``500m``
decimal), canonical (``2000m`` → ``2``, ``1000`` → ``1k``). Pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from kubelite.api import quantity, qos
from kubelite.api.quantity import canonical, canonicalize, quantity_format
from kubelite.api.core import Pod
from kubelite.api.podresources import pod_limits, pod_requests

Doc = dict[str, Any]
ResourceList = dict[str, str]

STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
POD_RESOURCES = frozenset({"count/pods", "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
                           "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
                           "pods"})
POD_RESOURCE_PREFIXES = ("hugepages-", "requests.hugepages-")
# kube's validationSet: a quota on any of these makes every container name it (backward compatibility)
MUST_SPECIFY = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
SERVICE_RESOURCES = frozenset({"count/services", "services", "services.nodeports", "services.loadbalancers"})
CLAIM_RESOURCES = ("persistentvolumeclaims", "requests.storage")
# kube-apiserver's and the quota controller's default ignored resources: Events are never counted
IGNORED = frozenset({("events", ""), ("events", "events.k8s.io")})
# the kinds whose count also has a legacy name (kube registers their object-count evaluators with it)
LEGACY_COUNTS = frozenset({"configmaps", "secrets", "replicationcontrollers", "resourcequotas"})


# -- quantities ---------------------------------------------------------------------------------------

def value(text: Any) -> Fraction:
    return quantity.parse_quantity(text)


def add(a: Mapping[str, Any], b: Mapping[str, Any]) -> ResourceList:
    """quota.Add: per resource, the sum in the format of the first non-zero term."""
    result: ResourceList = {}
    for name in [*a, *(k for k in b if k not in a)]:
        terms = [t for t in (a.get(name), b.get(name)) if t is not None]
        total = sum((value(t) for t in terms), Fraction(0))
        fmt = next((quantity_format(t) for t in terms if value(t) != 0), quantity_format(terms[0]))
        result[name] = canonical(total, fmt)
    return result


def subtract_non_negative(a: Mapping[str, Any], b: Mapping[str, Any]) -> ResourceList:
    """quota.SubtractWithNonNegativeResult: a − b per resource of ``a``, never below zero."""
    return {name: canonical(max(value(q) - value(b[name]), Fraction(0)) if name in b else value(q), quantity_format(q))
            for name, q in a.items()}


def mask(values: Mapping[str, Any], names: Iterable[str]) -> ResourceList:
    wanted = set(names)
    return {name: str(q) for name, q in values.items() if name in wanted}


def remove_zeros(values: Mapping[str, Any]) -> ResourceList:
    return {name: str(q) for name, q in values.items() if value(q) != 0}


def exceeded(used: Mapping[str, Any], hard: Mapping[str, Any]) -> list[str]:
    """quota.LessThanOrEqual's failures: the resources of ``used`` above their ``hard``, sorted."""
    return sorted(name for name, q in used.items() if name in hard and value(q) > value(hard[name]))


def pretty(values: Mapping[str, Any]) -> str:
    """``pods=1,requests.cpu=500m`` (kube's prettyPrint)."""
    return ",".join(f"{name}={values[name]}" for name in sorted(values))


# -- which resources a kind's evaluator handles ---------------------------------------------------------

def count_name(plural: str, group: str) -> str:
    """The object-count resource of a kind: ``count/pods``, ``count/deployments.apps``."""
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def is_extended(name: str) -> bool:
    """IsExtendedResourceName: a domain-qualified name outside ``kubernetes.io``, not ``requests.``-prefixed."""
    return "/" in name and "kubernetes.io/" not in name and not name.startswith("requests.")


def _extended_for_quota(name: str) -> bool:
    return name.startswith("requests.") and is_extended(name.removeprefix("requests."))


def matching_resources(plural: str, group: str, names: Iterable[str]) -> list[str]:
    """MatchingResources: which of a quota's resource names the kind's usage can fill, sorted."""
    names = list(names)
    if (plural, group) in IGNORED:
        return []
    if group == "" and plural == "pods":
        return sorted(n for n in names if n in POD_RESOURCES or n.startswith(POD_RESOURCE_PREFIXES) or
                      _extended_for_quota(n))
    if group == "" and plural == "services":
        return sorted(n for n in names if n in SERVICE_RESOURCES)
    if group == "" and plural == "persistentvolumeclaims":
        return sorted(n for n in names if n == "count/persistentvolumeclaims" or n in CLAIM_RESOURCES or
                      any(n.endswith(STORAGE_CLASS_SUFFIX + r) for r in CLAIM_RESOURCES))
    counted = {count_name(plural, group)} | ({plural} if group == "" and plural in LEGACY_COUNTS else set())
    return sorted(n for n in names if n in counted)


def charged_on_update(plural: str, group: str) -> bool:
    """Whether an update can change the kind's usage (kube's evaluators' Handles): a Service's type and
    ports, a claim's storage request. Pods: only with in-place resize, which kube 1.32 has off."""
    return group == "" and plural in ("services", "persistentvolumeclaims")


# -- usage ----------------------------------------------------------------------------------------------

def _as_doc(obj: Any) -> Doc:
    return obj if isinstance(obj, dict) else obj.to_dict()


def _as_pod(obj: Any) -> Pod:
    return obj if isinstance(obj, Pod) else Pod.model_validate(_as_doc(obj))


def usage(plural: str, group: str, obj: Any, *, now: datetime) -> ResourceList:
    """What ``obj`` (a model or its JSON document) uses, by resource name."""
    if group == "" and plural == "pods":
        return pod_usage(_as_pod(obj), now=now)
    if group == "" and plural == "services":
        return service_usage(_as_doc(obj))
    if group == "" and plural == "persistentvolumeclaims":
        return claim_usage(_as_doc(obj))
    used = {count_name(plural, group): "1"}
    if group == "" and plural in LEGACY_COUNTS:
        used[plural] = "1"
    return used


def pod_counts(pod: Pod, now: datetime) -> bool:
    """QuotaV1Pod: a pod is charged (``pods`` and compute) until it is terminal or stuck terminating."""
    if pod.status is not None and pod.status.phase in ("Succeeded", "Failed"):
        return False
    meta = pod.metadata
    if meta.deletion_timestamp is not None and meta.deletion_grace_period_seconds is not None:
        if now > meta.deletion_timestamp + timedelta(seconds=meta.deletion_grace_period_seconds):
            return False
    return True


def pod_usage(pod: Pod, *, now: datetime) -> ResourceList:
    used: ResourceList = {"count/pods": "1"}
    if not pod_counts(pod, now):
        return used
    return add(used, _compute(_totals(pod, pod_requests), _totals(pod, pod_limits)))


def _totals(pod: Pod, aggregate: Any) -> ResourceList:
    """The pod's aggregated requests (or limits), each in the format its containers wrote it in."""
    formats: dict[str, str] = {}
    for container in [*pod.spec.containers, *(pod.spec.init_containers or [])]:
        resources = container.resources
        for values in ((resources.requests or {}), (resources.limits or {})) if resources else ():
            for name, q in values.items():
                formats.setdefault(name, quantity_format(q))
    return {name: canonical(total, formats.get(name, "DecimalSI")) for name, total in aggregate(pod).items()}


def _compute(requests: Mapping[str, str], limits: Mapping[str, str]) -> ResourceList:
    """podComputeUsageHelper (without ``pods``, which the caller adds)."""
    result: ResourceList = {"pods": "1"}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            result[name] = result[f"requests.{name}"] = requests[name]
        if name in limits:
            result[f"limits.{name}"] = limits[name]
    for name, q in requests.items():
        if name.startswith("hugepages-"):
            result[name] = result[f"requests.{name}"] = q
        if is_extended(name):
            result[f"requests.{name}"] = q
    return result


def service_usage(svc: Doc) -> ResourceList:
    spec = svc.get("spec") or {}
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    node_ports, balancers = 0, 0
    if spec.get("type") == "NodePort":
        node_ports = len(ports)
    elif spec.get("type") == "LoadBalancer":
        balancers = 1
        node_ports = len(ports) if spec.get("allocateLoadBalancerNodePorts") is not False else \
            sum(1 for p in ports if p.get("nodePort"))
    return {"count/services": "1", "services": "1", "services.loadbalancers": str(balancers),
            "services.nodeports": str(node_ports)}


def claim_class(claim: Doc) -> str:
    """GetPersistentVolumeClaimClass: the beta annotation first, then ``spec.storageClassName``."""
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[STORAGE_CLASS_ANNOTATION])
    return str((claim.get("spec") or {}).get("storageClassName") or "")


def claim_usage(claim: Doc) -> ResourceList:
    used: ResourceList = {"persistentvolumeclaims": "1", "count/persistentvolumeclaims": "1"}
    storage_class = claim_class(claim)
    if storage_class:
        used[storage_class + STORAGE_CLASS_SUFFIX + "persistentvolumeclaims"] = "1"
    requested = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
    if requested is not None:
        try:
            exact = value(requested)
        except (ValueError, TypeError):
            return used
        rounded = canonical(Fraction(math.ceil(exact)), quantity_format(requested))
        used["requests.storage"] = rounded
        if storage_class:
            used[storage_class + STORAGE_CLASS_SUFFIX + "requests.storage"] = rounded
    return used


# -- scopes ---------------------------------------------------------------------------------------------

def scope_selectors(quota: Doc) -> list[Doc]:
    """GetScopeSelectorsFromQuota: ``spec.scopes`` as Exists requirements, then ``scopeSelector``'s."""
    spec = quota.get("spec") or {}
    selectors = [{"scopeName": scope, "operator": "Exists"} for scope in spec.get("scopes") or []]
    expressions = (spec.get("scopeSelector") or {}).get("matchExpressions") or []
    return selectors + [e for e in expressions if isinstance(e, dict)]


def matches_scope(plural: str, group: str, selector: Doc, obj: Any, *, now: datetime) -> bool:
    """Whether ``obj`` is in the scope; only pods have scopes (MatchesNoScopeFunc for the others)."""
    if not (group == "" and plural == "pods"):
        return False
    pod = _as_pod(obj)
    scope = selector.get("scopeName")
    if scope in ("Terminating", "NotTerminating"):
        deadline = pod.spec.to_dict().get("activeDeadlineSeconds")
        terminating = isinstance(deadline, int) and deadline >= 0
        return terminating if scope == "Terminating" else not terminating
    if scope in ("BestEffort", "NotBestEffort"):
        best_effort = qos.pod_qos_class(pod) == qos.BEST_EFFORT
        return best_effort if scope == "BestEffort" else not best_effort
    if scope == "PriorityClass":
        return _selector_matches(selector, pod.spec.priority_class_name or None)
    if scope == "CrossNamespacePodAffinity":
        return _cross_namespace_affinity(pod.spec.affinity or {})
    return False


def _selector_matches(selector: Doc, present: str | None) -> bool:
    """The requirement as a label selector over ``{PriorityClass: <the pod's class>}`` (absent when none)."""
    operator, values = selector.get("operator"), selector.get("values") or []
    if operator == "Exists":
        return present is not None
    if operator == "DoesNotExist":
        return present is None
    if operator == "In":
        return present is not None and present in values
    if operator == "NotIn":
        return present is None or present not in values
    return False


def _cross_namespace_affinity(affinity: Doc) -> bool:
    """usesCrossNamespacePodAffinity: a pod (anti-)affinity term naming namespaces or a namespace selector."""
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        terms = list(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [t.get("podAffinityTerm") or {} for t in rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
        if any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms if isinstance(t, dict)):
            return True
    return False


def matches(plural: str, group: str, quota: Doc, obj: Any, *, now: datetime) -> bool:
    """generic.Matches: the quota's ``status.hard`` names something the kind uses, and every scope holds."""
    hard = (quota.get("status") or {}).get("hard") or {}
    if not matching_resources(plural, group, hard):
        return False
    return all(matches_scope(plural, group, s, obj, now=now) for s in scope_selectors(quota))


def constraints(plural: str, group: str, required: Iterable[str], obj: Any) -> str | None:
    """podEvaluator.Constraints: with a quota on cpu or memory, every container must name it. The
    ``must specify ...`` message, or None."""
    if not (group == "" and plural == "pods"):
        return None
    wanted = MUST_SPECIFY & set(required)
    if not wanted:
        return None
    pod = _as_pod(obj)
    missing: dict[str, set[str]] = {}
    for container in [*pod.spec.containers, *(pod.spec.init_containers or [])]:
        resources = container.resources
        requests = {n: str(q) for n, q in ((resources.requests or {}) if resources else {}).items()}
        limits = {n: str(q) for n, q in ((resources.limits or {}) if resources else {}).items()}
        for name in wanted - set(_compute(requests, limits)):
            missing.setdefault(name, set()).add(container.name)
    if not missing:
        return None
    return "must specify " + "; ".join(f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing))
