"""Pure logic of ``kl rollout`` for DaemonSets and StatefulSets (kubectl's DaemonSetStatusViewer,
StatefulSetStatusViewer, their history viewers and rollbackers): status messages, the revision list
from the owner's ControllerRevisions (listed with :func:`kubelite.cli.rollout.history_lines`), and the
revision an undo patches back in.

An undo sends the revision's ``data`` as a strategic merge patch (``{"spec": {"template": {...,
"$patch": "replace"}}}``), as kubectl does.
"""

from __future__ import annotations

from typing import Any

from kubelite.cli.rollout import RolloutError, RolloutStatus, owned_by, same_template

Doc = dict[str, Any]


def status(kind: str, obj: Doc) -> RolloutStatus:
    """kubectl's message for a DaemonSet or StatefulSet, and whether the rollout is done."""
    meta, spec, st = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    name, generation = meta.get("name", ""), int(meta.get("generation") or 0)
    observed = int(st.get("observedGeneration") or 0)
    strategy = (spec.get("updateStrategy") or {}).get("type")
    if strategy != "RollingUpdate":
        return RolloutStatus("rollout status is only available for RollingUpdate strategy type", True, True)
    if kind == "DaemonSet":
        if generation > observed:
            return RolloutStatus("Waiting for daemon set spec update to be observed...", False)
        desired, updated = int(st.get("desiredNumberScheduled") or 0), int(st.get("updatedNumberScheduled") or 0)
        available = int(st.get("numberAvailable") or 0)
        if updated < desired:
            return RolloutStatus(f'Waiting for daemon set "{name}" rollout to finish: {updated} out of {desired} '
                                 "new pods have been updated...", False)
        if available < desired:
            return RolloutStatus(f'Waiting for daemon set "{name}" rollout to finish: {available} of {desired} '
                                 "updated pods are available...", False)
        return RolloutStatus(f'daemon set "{name}" successfully rolled out', True)
    if observed == 0 or generation > observed:
        return RolloutStatus("Waiting for statefulset spec update to be observed...", False)
    replicas = int(spec.get("replicas", 1) or 0)
    ready, updated = int(st.get("readyReplicas") or 0), int(st.get("updatedReplicas") or 0)
    if ready < replicas:
        return RolloutStatus(f"Waiting for {replicas - ready} pods to be ready...", False)
    partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition")
    if partition is not None:
        if updated < replicas - int(partition):
            return RolloutStatus(f"Waiting for partitioned roll out to finish: {updated} out of "
                                 f"{replicas - int(partition)} new pods have been updated...", False)
        return RolloutStatus(f"partitioned roll out complete: {updated} new pods have been updated...", True)
    if st.get("updateRevision") != st.get("currentRevision"):
        return RolloutStatus(f"waiting for statefulset rolling update to complete {updated} pods at revision "
                             f"{st.get('updateRevision')}...", False)
    return RolloutStatus(f"statefulset rolling update complete {int(st.get('currentReplicas') or 0)} pods at "
                         f"revision {st.get('currentRevision')}...", True)


def history(owner: Doc, revisions: list[Doc]) -> list[tuple[int, Doc]]:
    """(revision number, ControllerRevision) of the owner's revisions, oldest first."""
    mine = [r for r in revisions if owned_by(r, owner)]
    return sorted(((int(r.get("revision") or 0), r) for r in mine), key=lambda pair: pair[0])


def template_of(revision: Doc) -> Doc:
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def undo_target(owner: Doc, revisions: list[Doc], to_revision: int) -> tuple[int, Doc]:
    """The revision ``rollout undo`` goes back to: ``to_revision``, or the one before the newest."""
    listed = history(owner, revisions)
    if to_revision:
        for number, revision in listed:
            if number == to_revision:
                return number, revision
        raise RolloutError(f"unable to find specified revision {to_revision} in history")
    if len(listed) < 2:
        raise RolloutError("no last revision to roll back to")
    return listed[-2]


def already_current(owner: Doc, revision: Doc) -> bool:
    return same_template(((owner.get("spec") or {}).get("template")) or {}, template_of(revision))
