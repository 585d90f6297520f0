"""ResourceQuota write rules (its :data:`kubelite.api.documents.DOCUMENT_RULES` entry): kube's
ValidateResourceQuota (``pkg/apis/core/validation``, Kubernetes 1.32).

- ``spec.hard``, ``status.hard``, ``status.used``: each name a qualified name, and without a ``/`` a
  standard resource (``must be a standard resource type or fully qualified``) and a standard quota resource
  (``must be a standard resource for quota``); each quantity ≥ 0, and whole for the counted resources
  (``pods``, ``services``, ``secrets``..., extended resources: ``must be an integer``);
- ``spec.scopes``: known scopes (``unsupported scope``), each valid for every standard resource the quota
  tracks (``unsupported scope applied to resource``: only ``pods`` and cpu/memory take a scope,
  ``BestEffort`` only ``pods``), not both of BestEffort/NotBestEffort or Terminating/NotTerminating
  (``conflicting scopes``);
- ``spec.scopeSelector.matchExpressions``: the same per scope; the four pod-class scopes and
  CrossNamespacePodAffinity only with ``Exists``; ``In``/``NotIn`` need values, ``Exists``/``DoesNotExist``
  take none; other operators are ``not a valid selector operator``.

Pure: the JSON document in (schema-checked), causes out.
"""

from __future__ import annotations

import math
from typing import Any

from kubelite.api import quantity
from kubelite.api import validation as v
from kubelite.api.errors import StatusCause
from kubelite.api.labels import qualified_name_errors
from kubelite.api.quota import OPERATORS, SCOPES, is_extended

Doc = dict[str, Any]

_STANDARD_QUOTA = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "services",
    "replicationcontrollers", "resourcequotas", "secrets", "persistentvolumeclaims", "configmaps",
    "services.nodeports", "services.loadbalancers"})
_STANDARD = _STANDARD_QUOTA | {"storage"}
_INTEGER = frozenset({"pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
                      "persistentvolumeclaims", "services.nodeports", "services.loadbalancers"})
_POD_COUNT = frozenset({"pods"})
_POD_COMPUTE = frozenset({"cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"})
_EXISTS_ONLY = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "CrossNamespacePodAffinity")
_CONFLICTING = (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating"))


def _hugepages(name: str) -> bool:
    return name.startswith(("hugepages-", "requests.hugepages-"))


def _standard_quota(name: str) -> bool:
    return name in _STANDARD_QUOTA or _hugepages(name)


def _resource_name_causes(name: str, path: str) -> list[StatusCause]:
    """ValidateResourceQuotaResourceName."""
    problems = qualified_name_errors(name)
    if problems:
        return [v.invalid(path, name, message) for message in problems]
    if "/" not in name:
        if not (name in _STANDARD or name.startswith("hugepages-") or _hugepages(name)):
            return [v.invalid(path, name, "must be a standard resource type or fully qualified")]
        if not _standard_quota(name):
            return [v.invalid(path, name, "must be a standard resource for quota")]
    return []


def _quantity_causes(name: str, raw: Any, path: str) -> list[StatusCause]:
    """validateResourceQuantityValue (a quantity that does not parse: the schema walk names it)."""
    try:
        amount = quantity.parse_quantity(raw)
    except (ValueError, TypeError):
        return []
    if amount < 0:
        return [v.invalid(path, raw, "must be greater than or equal to 0")]
    if (name in _INTEGER or is_extended(name)) and math.ceil(amount * 1000) % 1000:  # MilliValue() % 1000
        return [v.invalid(path, raw, "must be an integer")]
    return []


def _resource_list_causes(values: Any, path: str) -> list[StatusCause]:
    causes: list[StatusCause] = []
    for name, raw in (values.items() if isinstance(values, dict) else ()):
        at = f"{path}[{name}]"
        causes += _resource_name_causes(str(name), at)
        causes += _quantity_causes(str(name), raw, at)
    return causes


def scope_valid_for(scope: str, resource: str) -> bool:
    """IsResourceQuotaScopeValidForResource."""
    if scope in ("Terminating", "NotTerminating", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity"):
        return resource in _POD_COUNT or resource in _POD_COMPUTE
    if scope == "BestEffort":
        return resource in _POD_COUNT
    return True


def _unsupported_for_resources(scope: str, hard: list[str]) -> int:
    """How many standard resources of the quota the scope cannot apply to (kube says so once for each)."""
    return sum(1 for name in hard if _standard_quota(name) and not scope_valid_for(scope, name))


def _scope_causes(spec: Doc, hard: list[str]) -> list[StatusCause]:
    scopes = spec.get("scopes")
    if not isinstance(scopes, list) or not scopes:
        return []
    causes: list[StatusCause] = []
    for scope in scopes:
        if scope not in SCOPES:
            causes.append(v.invalid("spec.scopes", scopes, "unsupported scope"))
        causes += [v.invalid("spec.scopes", scopes, "unsupported scope applied to resource")] * \
            _unsupported_for_resources(str(scope), hard)
    causes += [v.invalid("spec.scopes", scopes, "conflicting scopes") for pair in _CONFLICTING
               if set(pair) <= set(scopes)]
    return causes


def _selector_causes(spec: Doc, hard: list[str]) -> list[StatusCause]:
    selector = spec.get("scopeSelector")
    if not isinstance(selector, dict):
        return []
    path = "spec.scopeSelector.matchExpressions"
    causes: list[StatusCause] = []
    seen: set[str] = set()
    for req in selector.get("matchExpressions") or []:
        if not isinstance(req, dict):
            continue
        scope, operator, values = req.get("scopeName"), req.get("operator"), req.get("values") or []
        if scope not in SCOPES:
            causes.append(v.invalid(f"{path}.scopeName", scope, "unsupported scope"))
        causes += [v.invalid(path, selector, "unsupported scope applied to resource")] * \
            _unsupported_for_resources(str(scope), hard)
        if scope in _EXISTS_ONLY and operator != "Exists":
            causes.append(v.invalid(f"{path}.operator", operator, (
                "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, "
                "ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or "
                "ResourceQuotaScopeCrossNamespacePodAffinity")))
        if operator in ("In", "NotIn"):
            if not values:
                causes.append(v.required(f"{path}.values",
                                         "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
        elif operator in OPERATORS:
            if values:
                causes.append(v.invalid(f"{path}.values", values,
                                        "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
        else:
            causes.append(v.invalid(f"{path}.operator", operator, "not a valid selector operator"))
        seen.add(str(scope))
    causes += [v.invalid(path, spec.get("scopes"), "conflicting scopes") for pair in _CONFLICTING if set(pair) <= seen]
    return causes


def validate_resource_quota(doc: Doc) -> list[StatusCause]:
    """ValidateResourceQuota's spec and status rules (names and metadata are checked for every kind)."""
    spec = doc.get("spec") or {}
    hard = sorted(str(k) for k in (spec.get("hard") or {}))
    causes = _resource_list_causes(spec.get("hard"), "spec.hard")
    causes += _scope_causes(spec, hard)
    causes += _selector_causes(spec, hard)
    status = doc.get("status") or {}
    causes += _resource_list_causes(status.get("hard"), "status.hard")
    causes += _resource_list_causes(status.get("used"), "status.used")
    return causes
