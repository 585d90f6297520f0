"""Pure logic of ``kl rollout``: kubectl's status messages for a Deployment,
revision history from its ReplicaSets, and the template an undo goes back to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubelite.api import semantic
from kubelite.api.rollout_annotations import CHANGE_CAUSE, after_rollback, revision_of


@dataclass(frozen=True)
class RolloutStatus:
    message: str
    done: bool
    error: bool = False


def rollout_status(dep: dict[str, Any], revision: int = 0) -> RolloutStatus:
    """kubectl's DeploymentStatusViewer, message for message; ``revision`` > 0 must be the
    Deployment's own (``deployment.kubernetes.io/revision``, 0 when absent)."""
    meta, spec, status = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    name = meta.get("name", "")
    if revision > 0:
        running = revision_of(dep)
        if running != revision:
            return RolloutStatus(f"desired revision ({revision}) is different from the running revision ({running})",
                                 False, True)
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return RolloutStatus("Waiting for deployment spec update to be observed...", False)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return RolloutStatus(f'deployment "{name}" exceeded its progress deadline', False, True)
    desired = spec.get("replicas", 1)
    updated = int(status.get("updatedReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if desired is not None and updated < int(desired):
        return RolloutStatus(
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{updated} out of {desired} new replicas have been updated...", False)
    if replicas > updated:
        return RolloutStatus(
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{replicas - updated} old replicas are pending termination...", False)
    if available < updated:
        return RolloutStatus(
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{available} of {updated} updated replicas are available...", False)
    return RolloutStatus(f'deployment "{name}" successfully rolled out', True)


def owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    uid = (owner.get("metadata") or {}).get("uid")
    return any(
        ref.get("uid") == uid and ref.get("controller")
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
    )


def history(dep: dict[str, Any], replicasets: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(revision, ReplicaSet) of the deployment's ReplicaSets, oldest first."""
    owned = [(revision_of(rs), rs) for rs in replicasets if owned_by(rs, dep)]
    return sorted(((rev, rs) for rev, rs in owned if rev > 0), key=lambda pair: pair[0])


def change_cause(rs: dict[str, Any]) -> str:
    return ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE) or "<none>"


def history_lines(kind_name: str, revisions: list[tuple[int, dict[str, Any]]]) -> list[str]:
    from kubelite.cli.output import align

    rows = [["REVISION", "CHANGE-CAUSE"]] + [[str(rev), change_cause(rs)] for rev, rs in revisions]
    return [kind_name, *align(rows)]


class RolloutError(Exception):
    pass


def undo_target(dep: dict[str, Any], replicasets: list[dict[str, Any]], to_revision: int = 0) -> tuple[int, dict[str, Any]]:
    """The (revision, ReplicaSet) an undo rolls back to: the previous one, or ``to_revision``."""
    name = (dep.get("metadata") or {}).get("name", "")
    revisions = history(dep, replicasets)
    if to_revision:
        for rev, rs in revisions:
            if rev == to_revision:
                return rev, rs
        raise RolloutError(f"unable to find specified revision {to_revision} in history")
    if len(revisions) < 2:
        raise RolloutError(f'no rollout history found for deployment "{name}"')
    return revisions[-2]


def template_for_undo(rs: dict[str, Any]) -> dict[str, Any]:
    """The ReplicaSet's pod template without the pod-template-hash label."""
    return semantic.without_hash_label((rs.get("spec") or {}).get("template"))


def same_template(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Kubernetes' EqualIgnoreHash, as ``kubectl rollout undo`` uses it to skip a no-op rollback."""
    return semantic.templates_equal_ignoring_hash(a, b)


def annotations_for_undo(dep: dict[str, Any], rs: dict[str, Any]) -> dict[str, str]:
    """The Deployment's annotations after an undo to ``rs``, as kubectl computes them: its own
    rollout annotations kept, every other annotation taken from the ReplicaSet (e.g. change-cause)."""
    return after_rollback((dep.get("metadata") or {}).get("annotations"), (rs.get("metadata") or {}).get("annotations"))
