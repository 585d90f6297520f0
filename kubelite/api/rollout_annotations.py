"""The annotations Kubernetes' Deployment controller and ``kubectl rollout`` keep on Deployments
and their ReplicaSets (k8s.io/kubectl/pkg/util/deployment and pkg/controller/deployment/util).

One home for the keys and the rules that read them on plain documents, shared by the
Deployment controller, ``kl rollout``/``kl describe`` and kubelite.testing's checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deployment.kubernetes.io/rollback-to"  # deprecated extensions/v1beta1 rollbackTo, kept for CLIs
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CHANGE_CAUSE = "kubernetes.io/change-cause"

NOT_COPIED = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO})
"""Annotations that do not travel between a Deployment and its ReplicaSets (annotationsToSkip):
the controller copies every other Deployment annotation onto the new ReplicaSet, and a rollback
copies every other ReplicaSet annotation back onto the Deployment."""


def after_rollback(deployment_annotations: dict[str, str] | None,
                   rs_annotations: dict[str, str] | None) -> dict[str, str]:
    """A Deployment's annotations after a rollback to a ReplicaSet: its own rollout annotations kept,
    every other one taken from the ReplicaSet (change-cause...). Kubernetes' SetDeploymentAnnotationsTo,
    which ``kubectl rollout undo`` computes the same way."""
    result = {k: v for k, v in (deployment_annotations or {}).items() if k in NOT_COPIED}
    result.update({k: v for k, v in (rs_annotations or {}).items() if k not in NOT_COPIED})
    return result


def revision_number(annotations: dict[str, str] | None) -> int | None:
    """The revision annotation as a number; None if absent or not a number."""
    try:
        return int((annotations or {})[REVISION])
    except (KeyError, ValueError):
        return None


def revision_of(obj: Mapping[str, Any] | None) -> int:
    """A Deployment's or ReplicaSet's revision from its document (``metadata.annotations``):
    0 when absent or not a number, as kubectl's deployment util ``Revision`` reads it."""
    meta = (obj or {}).get("metadata") or {}
    return revision_number(meta.get("annotations")) or 0
