"""PodDisruptionBudgets (policy/v1): the rules the Eviction API and the disruption controller share.

A PodDisruptionBudget's status is computed by the disruption controller (``controllers.disruption``,
kube-controller-manager's ``pkg/controller/disruption``); the Eviction subresource reads it and spends one
of its ``disruptionsAllowed`` per evicted pod, recording the pod in ``disruptedPods`` until the controller
sees it gone (``pkg/registry/core/pod/storage/eviction.go``). Both read and write the
``DisruptionAllowed`` condition the same way (``k8s.io/component-helpers/apps/poddisruptionbudget``),
so its rules live here, once. Pure: documents in, documents out; times are passed in.

PodDisruptionBudgets are stored as sent (:mod:`kubelite.api.generic`), so they are handled as JSON
documents (``Doc``); pods are the typed model.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from kubelite.api import errors
from kubelite.api.core import LabelSelector, Pod
from kubelite.api.labels import selector_from_label_selector
from kubelite.util import clock

Doc = dict[str, Any]

# How long an evicted pod listed in status.disruptedPods is counted as gone before the controller gives
# up on its deletion (kube's DeletionTimeout).
DELETION_TIMEOUT = timedelta(minutes=2)
# The eviction handler refuses to record more disrupted pods than this (kube's MaxDisruptedPodSize).
MAX_DISRUPTED_PODS = 2000

DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"  # the StatusCause type of a refused eviction
ALWAYS_ALLOW = "AlwaysAllow"  # spec.unhealthyPodEvictionPolicy; the default is IfHealthyBudget
EVICTION_REASON = "EvictionByEvictionAPI"  # the pod's DisruptionTarget condition, set before the delete
EVICTION_MESSAGE = "Eviction API: evicting"
# A DisruptionTarget condition the kubelet set stays: the pod's termination may take arbitrarily long.
KUBELET_REASON = "TerminationByKubelet"
# How long a pod may keep DisruptionTarget=True without being deleted before the condition is set back to
# False (kube-controller-manager's stalePodDisruptionTimeout): its eviction's delete did not happen.
STALE_DISRUPTION_TIMEOUT = timedelta(minutes=2)


def selects(pdb: Doc, pod: Pod) -> bool:
    """Whether ``pdb`` covers ``pod``: same namespace, and its selector (LabelSelectorAsSelector: absent
    selects nothing, ``{}`` every pod of the namespace) matches the pod's labels. An invalid selector
    matches nothing."""
    if (pdb.get("metadata") or {}).get("namespace") != pod.metadata.namespace:
        return False
    raw = (pdb.get("spec") or {}).get("selector")
    try:
        selector = selector_from_label_selector(None if raw is None else LabelSelector.model_validate(raw))
    except ValueError:
        return False
    return selector.matches(pod.metadata.labels or {})


def status_of(pdb: Doc) -> Doc:
    status: Doc = pdb.get("status") or {}
    return status


def generation_of(pdb: Doc) -> int:
    return int((pdb.get("metadata") or {}).get("generation") or 0)


def _set_condition(status: Doc, condition_status: str, reason: str, message: str, now: datetime) -> None:
    """apimeta.SetStatusCondition: the transition time changes only when the status does."""
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    current = next((c for c in conditions if c.get("type") == DISRUPTION_ALLOWED), None)
    updated = {"type": DISRUPTION_ALLOWED, "status": condition_status, "reason": reason, "message": message,
               "lastTransitionTime": clock.format_time(now)}
    if status.get("observedGeneration"):
        updated["observedGeneration"] = status["observedGeneration"]
    if current is not None and current.get("status") == condition_status and current.get("lastTransitionTime"):
        updated["lastTransitionTime"] = current["lastTransitionTime"]
    others = [c for c in conditions if c is not current]
    position = conditions.index(current) if current is not None else len(others)
    status["conditions"] = others[:position] + [updated] + others[position:]


def update_disruption_allowed_condition(status: Doc, now: datetime) -> None:
    """pdbhelper.UpdateDisruptionAllowedCondition, in place: True/SufficientPods while any disruption is
    allowed, else False/InsufficientPods."""
    if int(status.get("disruptionsAllowed") or 0) > 0:
        _set_condition(status, "True", SUFFICIENT_PODS, "", now)
    else:
        _set_condition(status, "False", INSUFFICIENT_PODS, "", now)


def set_sync_failed(status: Doc, message: str, now: datetime) -> None:
    """The controller's failSafe, in place: no disruption allowed, condition False/SyncFailed."""
    status["disruptionsAllowed"] = 0
    _set_condition(status, "False", SYNC_FAILED, message, now)


def conditions_up_to_date(pdb: Doc) -> bool:
    """pdbhelper.ConditionsAreUpToDate."""
    status = status_of(pdb)
    condition = next((c for c in status.get("conditions") or []
                      if isinstance(c, dict) and c.get("type") == DISRUPTION_ALLOWED), None)
    if condition is None or int(status.get("observedGeneration") or 0) != generation_of(pdb):
        return False
    if int(status.get("disruptionsAllowed") or 0) > 0:
        return condition.get("status") == "True" and condition.get("reason") == SUFFICIENT_PODS
    return condition.get("status") == "False" and condition.get("reason") == INSUFFICIENT_PODS


# -- the Eviction API's side --------------------------------------------------------------------------

def can_ignore_budget(pod: Pod) -> bool:
    """canIgnorePDB: a pod that ran to an end, has not started (Pending) or is already being deleted is
    deleted without consulting any budget."""
    phase = pod.status.phase if pod.status else None
    return phase in ("Succeeded", "Failed", "Pending") or pod.metadata.deletion_timestamp is not None


def must_pin_resource_version(pod: Pod) -> bool:
    """shouldEnforceResourceVersion: the delete of a pod that may still become Ready is made conditional on
    the version read, so it cannot race its becoming healthy."""
    phase = pod.status.phase if pod.status else None
    return phase not in ("Succeeded", "Failed") and pod.metadata.deletion_timestamp is None


def unhealthy_pod_may_go(pdb: Doc, pod: Pod) -> bool:
    """An unready pod's eviction that spends no disruption: under ``unhealthyPodEvictionPolicy:
    AlwaysAllow``, or (IfHealthyBudget, the default) while the budget is met with a positive target."""
    if pod.is_ready():
        return False
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == ALWAYS_ALLOW:
        return True
    status = status_of(pdb)
    desired = int(status.get("desiredHealthy") or 0)
    return int(status.get("currentHealthy") or 0) >= desired and desired > 0


def too_many_requests(name: str, detail: str, retry_after: int) -> errors.ApiError:
    """The 429 a refused eviction gets (kube's NewTooManyRequests with a DisruptionBudget cause)."""
    return errors.ApiError(errors.Status(
        code=429, reason="TooManyRequests", message="Cannot evict pod as it would violate the pod's disruption budget.",
        details=errors.StatusDetails(causes=[errors.StatusCause(reason=DISRUPTION_BUDGET_CAUSE, message=detail)],
                                     retry_after_seconds=retry_after or None)))


def still_processing(name: str) -> errors.ApiError:
    return too_many_requests(name, f"The disruption budget {name} is still being processed by the server.", 10)


def spend_disruption(pdb: Doc, pod_name: str, now: datetime, *, dry_run: bool) -> Doc:
    """checkAndDecrement: the budget with one disruption spent on ``pod_name`` (a copy, to be written to
    its status), or the refusal: 429 while the controller has not seen the budget's generation or when no
    disruption is allowed; 403 for a negative allowance or too many unconfirmed evictions."""
    name = (pdb.get("metadata") or {}).get("name") or ""
    status = status_of(pdb)
    if int(status.get("observedGeneration") or 0) < generation_of(pdb):
        raise still_processing(name)
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise errors.forbidden(f'poddisruptionbudget.policy "{name}" is forbidden: pdb disruptions allowed is negative')
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
        raise errors.forbidden(f'poddisruptionbudget.policy "{name}" is forbidden: DisruptedPods map too big - '
                               "too many evictions not confirmed by PDB controller")
    if allowed == 0:
        raise too_many_requests(name, f"The disruption budget {name} needs {int(status.get('desiredHealthy') or 0)} "
                                      f"healthy pods and has {int(status.get('currentHealthy') or 0)} currently", 0)
    spent = copy.deepcopy(pdb)
    new_status = spent.setdefault("status", {})
    new_status["disruptionsAllowed"] = allowed - 1
    if allowed - 1 == 0:
        update_disruption_allowed_condition(new_status, now)
    if not dry_run:
        new_status["disruptedPods"] = {**(new_status.get("disruptedPods") or {}), pod_name: clock.format_time(now)}
    return spent


def stale_disruption_wait(pod: Pod, now: datetime) -> float | None:
    """nonTerminatingPodHasStaleDisruptionCondition: None when ``pod`` has no such condition to clear (none,
    not True, the kubelet's, a finished pod, or one being deleted), else the seconds until it is stale
    (0: clear it now)."""
    if pod.metadata.deletion_timestamp is not None:
        return None
    condition = pod.status.condition("DisruptionTarget") if pod.status else None
    phase = pod.status.phase if pod.status else None
    if condition is None or condition.status != "True" or condition.reason == KUBELET_REASON or phase in (
            "Succeeded", "Failed"):
        return None
    if condition.last_transition_time is None:  # kube measures from the zero time: stale at once
        return 0.0
    return max(0.0, (condition.last_transition_time + STALE_DISRUPTION_TIMEOUT - now).total_seconds())


def parse_time(value: Any) -> datetime | None:
    try:
        return clock.parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None
