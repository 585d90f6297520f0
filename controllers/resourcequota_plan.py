"""Pure decisions of the resource quota controller: a ResourceQuota's status from its namespace's objects.

The rules are kube-controller-manager's ``pkg/controller/resourcequota`` (``syncResourceQuota``) and
``quota.CalculateUsage`` (Kubernetes 1.32):

- ``status.hard`` is ``spec.hard`` (in kube's canonical form: ``1024Mi`` is ``1Gi``);
- ``status.used`` has one entry per resource of ``spec.hard``: for each kind whose evaluator handles some
  of them (:func:`kubelite.api.quota.matching_resources`), the sum of what the kind's objects in the
  namespace use (zero when there are none), counting only the objects every scope of the quota matches;
  ``count/<plural>.<group>`` of a custom resource counts its objects too; a resource no kind fills (a
  kind that does not exist) keeps its last ``used``, so the admission says its status is unknown;
- the status is written only when ``hard`` or ``used`` differ from what is stored (quantities compared by
  value), or when either is missing.

Usage rules per kind: :mod:`kubelite.api.quota`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from kubelite.api import crd, quantity, quota
from kubelite.api.core import Pod
from kubelite.api.resources import ALL_RESOURCES, PERSISTENTVOLUMECLAIMS, PODS, SERVICES, Resource

Doc = dict[str, Any]


def tracked_kinds(hard: Iterable[str]) -> list[Resource]:
    """The served kinds whose objects fill some of the ``hard`` resources, in catalog order."""
    names = list(hard)
    return [res for res in ALL_RESOURCES if res.namespaced and quota.matching_resources(res.plural, res.group, names)]


def custom_kinds(hard: Iterable[str], crds: Sequence[Doc]) -> list[Resource]:
    """The custom resources (from their CRDs' documents) whose ``count/<plural>.<group>`` the quota tracks."""
    wanted = {name for name in hard if name.startswith("count/")}
    found = []
    for doc in crds:
        res = crd.storage_resource(doc)
        if res is not None and res.namespaced and quota.count_name(res.plural, res.group) in wanted:
            found.append(res)
    return found


def counts_uncovered(hard: Iterable[str], kinds: Sequence[Resource]) -> bool:
    """Whether some ``count/`` resource of the quota is no built-in kind's (a custom resource's, perhaps)."""
    covered = {quota.count_name(res.plural, res.group) for res in kinds}
    return any(name.startswith("count/") and name not in covered for name in hard)


def _in_scope(res: Resource, quota_doc: Doc, obj: Any, now: datetime) -> bool:
    return all(quota.matches_scope(res.plural, res.group, s, obj, now=now) for s in quota.scope_selectors(quota_doc))


def calculate_usage(quota_doc: Doc, objects: Mapping[Resource, Sequence[Any]], *, now: datetime) -> quota.ResourceList:
    """CalculateUsage: per tracked kind, what its objects (``objects[res]``, models or documents) in the
    quota's scopes use of the quota's ``spec.hard`` resources."""
    hard = list(((quota_doc.get("spec") or {}).get("hard") or {}))
    used: quota.ResourceList = {}
    for res, items in objects.items():
        names = quota.matching_resources(res.plural, res.group, hard)
        if not names:
            continue
        kind_used: quota.ResourceList = {name: "0" for name in names}
        for obj in items:
            if _in_scope(res, quota_doc, obj, now):
                kind_used = quota.add(kind_used, quota.mask(quota.usage(res.plural, res.group, obj, now=now), names))
        used.update(kind_used)
    return used


def _equal(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """quota.Equals: the same resources with the same values."""
    a, b = a or {}, b or {}
    if a.keys() != b.keys():
        return False
    try:
        return all(quota.value(a[k]) == quota.value(b[k]) for k in a)
    except (ValueError, TypeError):
        return False


def hard_changed(quota_doc: Doc) -> bool:
    """Whether ``status.hard`` does not say ``spec.hard`` (kube's quota update handler's test), or
    ``status.used`` is gone."""
    hard = (quota_doc.get("spec") or {}).get("hard") or {}
    status = quota_doc.get("status") or {}
    return not _equal(hard, status.get("hard")) or (bool(hard) and status.get("used") is None)


def new_status(quota_doc: Doc, used: Mapping[str, str]) -> Doc | None:
    """The status to write (``{"hard", "used"}``), or None when the stored one already says it."""
    hard = quantity.canonicalize((quota_doc.get("spec") or {}).get("hard") or {})
    stored = quota_doc.get("status") or {}
    merged = {**(stored.get("used") or {}), **used}
    status = {"hard": hard, "used": quota.mask(merged, hard)}
    dirty = stored.get("hard") is None or stored.get("used") is None or not _equal(hard, stored.get("hard"))
    if not dirty and _equal(status["used"], stored.get("used")):
        return None
    return status


def next_change(quota_doc: Doc, objects: Mapping[Resource, Sequence[Any]], *, now: datetime) -> float | None:
    """Seconds until a pod stuck terminating stops counting (past its deletion time and grace): nothing
    tells the controller then, so it looks again. None when no such pod is counted."""
    if not any(res is PODS for res in objects):
        return None
    waits: list[float] = []
    for obj in objects.get(PODS, ()):
        pod = obj if isinstance(obj, Pod) else Pod.model_validate(obj)
        meta = pod.metadata
        if meta.deletion_timestamp is None or meta.deletion_grace_period_seconds is None or \
                not quota.pod_counts(pod, now):
            continue
        until = meta.deletion_timestamp + timedelta(seconds=meta.deletion_grace_period_seconds) - now
        waits.append(max(until.total_seconds(), 0.0) + 1.0)
    return min(waits) if waits else None


# the kinds whose updates may change what they use; any other kind changes usage only by add and delete
UPDATE_CHARGED = (PODS, SERVICES, PERSISTENTVOLUMECLAIMS)


def update_changes_usage(res: Resource, old: Any, new: Any, *, now: datetime) -> bool:
    """Replenishment on update: whether ``new`` may use something else than ``old`` did."""
    if res is PODS:
        return quota.pod_counts(old, now) != quota.pod_counts(new, now)
    if res is SERVICES or res is PERSISTENTVOLUMECLAIMS:
        before = quota.usage(res.plural, res.group, old, now=now)
        return not _equal(before, quota.usage(res.plural, res.group, new, now=now))
    return False
