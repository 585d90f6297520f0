"""ControllerRevisions: the template history of DaemonSets and StatefulSets (pkg/controller/history).

A revision's ``data`` is what ``kubectl rollout undo`` sends back as a strategic merge patch:
``{"spec": {"template": {..., "$patch": "replace"}}}`` (the DaemonSet and StatefulSet
controllers' getPatch). Its name is ``<owner>-<hash>``; ``revision`` numbers grow by one for
each new template, and a template that comes back (a rollback) moves its existing revision
to the top. Pure: plain data in and out; the controllers do the I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from kubelite.api import semantic
from kubelite.api.workloads import ControllerRevision

MAX_PREFIX = 223  # ControllerRevisionName: the owner's name is cut so that "-<hash>" fits a name


def revision_name(owner: str, template_hash: str) -> str:
    return f"{owner[:MAX_PREFIX]}-{template_hash}"


def revision_data(template: dict[str, Any]) -> dict[str, Any]:
    """The patch a revision stores (getPatch): the template, replacing the whole one on undo."""
    return {"spec": {"template": {**copy.deepcopy(template), "$patch": "replace"}}}


def revision_template(revision: ControllerRevision) -> dict[str, Any] | None:
    """The pod template a revision holds, or None when its data is not one of ours."""
    spec = (revision.data or {}).get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    if not isinstance(template, dict):
        return None
    return {k: v for k, v in template.items() if k != "$patch"}


def same_template(revision: ControllerRevision, template: dict[str, Any] | None) -> bool:
    """Whether the revision holds this template, compared semantically (undo sends it as Go writes it)."""
    held = revision_template(revision)
    return held is not None and semantic.templates_equal_ignoring_hash(held, template)


def matching(revisions: Iterable[ControllerRevision], template: dict[str, Any] | None) -> list[ControllerRevision]:
    """Revisions holding ``template``, highest revision first."""
    return sorted((r for r in revisions if same_template(r, template)), key=lambda r: (-r.revision, r.name))


def next_revision(revisions: Iterable[ControllerRevision]) -> int:
    return max((r.revision for r in revisions), default=0) + 1


def to_delete(revisions: Iterable[ControllerRevision], live: set[str], limit: int) -> list[str]:
    """Names of the revisions past ``revisionHistoryLimit``: those no pod or status uses, oldest first."""
    old = sorted((r for r in revisions if r.name not in live), key=lambda r: (r.revision, r.name))
    excess = len(old) - max(limit, 0)
    return [r.name for r in old[:max(excess, 0)]]
