"""ResourceQuota admission (kube-apiserver's ResourceQuota plugin, ``plugin/pkg/admission/resourcequota``,
its ``CheckRequest``), for every writer: the Store reads the namespace's quotas, calls :func:`charge`
(pure here), and writes the quotas' new ``status.used`` in the object's own etcd transaction, compared
on each quota's mod revision (a concurrent charge or a controller sync makes the whole admission run
again), so usage is never lost, never counted twice, and never passes ``hard``.

For a create (and the update of a Service or a PersistentVolumeClaim, charged its growth only,
``SubtractWithNonNegativeResult``, by a quota that already counted the old object; Events are never
charged, kube's default ignored resources), each quota whose ``status.hard`` names something the object uses and
whose scopes all match it (:func:`kubelite.api.quota.matches`):

- ``failed quota: <name>: must specify cpu for: c1; ...`` when it tracks cpu or memory and a container
  names neither request nor limit for it;
- ``status unknown for quota: <name>, resources: pods`` when ``status.used`` lacks a tracked resource of
  ``status.hard`` (the controller has not synced it since ``spec.hard`` changed);
- ``exceeded quota: <name>, requested: pods=1, used: pods=2, limited: pods=2`` when the object would take
  a tracked resource past ``hard``;

all 403 Forbidden as ``<resource> "<name>" is forbidden: <message>``. As in kube, a quota counts only once
the controller has filled ``status.hard``: one created a moment ago does not refuse anything yet.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kubelite.api import errors, quota

Doc = dict[str, Any]


def _forbidden(plural: str, group: str, name: str, message: str) -> errors.ApiError:
    resource = f"{plural}.{group}" if group else plural
    return errors.forbidden(f'{resource} "{name}" is forbidden: {message}', kind=plural, name=name, group=group)


def _has_usage_stats(status: Doc, restricted: Sequence[str]) -> bool:
    used = status.get("used") or {}
    return all(name in used for name in status.get("hard") or {} if name in restricted)


def _readable(doc: Doc) -> bool:
    """A quota whose status quantities all parse (one stored before validation refused such values is
    skipped, never a 500)."""
    status = doc.get("status") or {}
    if not isinstance(status, dict):
        return False
    for part in (status.get("hard") or {}, status.get("used") or {}):
        if not isinstance(part, dict):
            return False
        for value in part.values():
            quota.value(value)  # ValueError/TypeError: unreadable
    return True


def charge(plural: str, group: str, quotas: Sequence[Doc], obj: Any, old: Any = None, *, name: str,
           now: datetime) -> dict[int, Doc]:
    """The quotas (by index in ``quotas``) whose ``status.used`` the write changes, as their new documents;
    ApiError 403 when the write is refused. ``old``: the stored object an update replaces (None: a create)."""
    if not quotas or (old is not None and not quota.charged_on_update(plural, group)) or \
            (plural, group) in quota.IGNORED:
        return {}
    interesting: list[int] = []
    for index, doc in enumerate(quotas):
        try:
            if not _readable(doc) or not quota.matches(plural, group, doc, obj, now=now):
                continue
        except (ValueError, TypeError):  # a stored quota validation would refuse now: it counts nothing
            continue
        status = doc.get("status") or {}
        restricted = quota.matching_resources(plural, group, status.get("hard") or {})
        problem = quota.constraints(plural, group, restricted, obj)
        quota_name = (doc.get("metadata") or {}).get("name", "")
        if problem is not None:
            raise _forbidden(plural, group, name, f"failed quota: {quota_name}: {problem}")
        if not _has_usage_stats(status, restricted):
            raise _forbidden(plural, group, name, f"status unknown for quota: {quota_name}, resources: "
                                                  f"{','.join(sorted(restricted))}")
        interesting.append(index)
    if not interesting:
        return {}
    usage = quota.usage(plural, group, obj, now=now)
    growth = quota.remove_zeros(quota.subtract_non_negative(usage, quota.usage(plural, group, old, now=now))) \
        if old is not None else {}
    usage = quota.remove_zeros(usage)
    changed: dict[int, Doc] = {}
    for index in interesting:
        doc = quotas[index]
        # an update is charged its growth by the quotas that already counted the old object, in full by the others
        delta = growth if old is not None and quota.matches(plural, group, doc, old, now=now) else usage
        if not delta:
            continue
        status = doc.get("status") or {}
        hard, used = status.get("hard") or {}, status.get("used") or {}
        requested = quota.mask(delta, hard)
        new_used = quota.add(used, requested)
        over = quota.exceeded(quota.mask(new_used, requested), hard)
        if over:
            raise _forbidden(plural, group, name, (
                f"exceeded quota: {(doc.get('metadata') or {}).get('name', '')}, "
                f"requested: {quota.pretty(quota.mask(requested, over))}, used: {quota.pretty(quota.mask(used, over))}, "
                f"limited: {quota.pretty(quota.mask(hard, over))}"))
        if requested:
            updated = copy.deepcopy(doc)
            updated["status"]["used"] = new_used
            changed[index] = updated
    return changed
