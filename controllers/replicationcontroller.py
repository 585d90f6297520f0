"""The ReplicationController controller: the ReplicaSet controller through an adapter.

As kube's ``pkg/controller/replication`` (``NewReplicationManager`` wraps the ReplicaSet controller
with ``conversion.go``'s informer/client adapters), a ReplicationController is read as the
ReplicaSet it is equivalent to — its ``spec.selector`` map becomes ``matchLabels`` — so the claims,
the create/delete plan and the status are :mod:`controllers.replicaset_plan`'s. What stays the RC's
own: the pods' controller reference (``v1``/``ReplicationController``), the events' involved
object, and the status written to ``replicationcontrollers/status``. The API defaults an RC's
empty selector and missing replicas (:mod:`kubelite.api.replicationcontroller`).
"""

from __future__ import annotations

from typing import Any

from kubelite.api.apps import ReplicaSet, ReplicaSetStatus
from kubelite.api.resources import REPLICATIONCONTROLLERS, Resource

from controllers.replicaset import ReplicaSetController


def rc_as_replicaset(rc: Any) -> ReplicaSet:
    """The apps/v1 ReplicaSet equivalent to a v1 ReplicationController (same metadata, so the same uid
    and generation; ``selector`` map → ``matchLabels``, an empty map → no selector, which selects nothing)."""
    doc = rc.to_dict()
    spec = dict(doc.get("spec") or {})
    selector = spec.pop("selector", None)
    spec["selector"] = {"matchLabels": dict(selector)} if selector else None
    return ReplicaSet.model_validate({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": doc.get("metadata") or {},
                                      "spec": spec, "status": doc.get("status")})


class ReplicationControllerController(ReplicaSetController):
    name = "replicationcontroller"
    component = "replication-controller"
    resource: Resource[Any] = REPLICATIONCONTROLLERS

    def as_replicaset(self, owner: Any) -> ReplicaSet:
        return rc_as_replicaset(owner)

    def with_status(self, owner: Any, status: ReplicaSetStatus) -> Any:
        doc = owner.to_dict()
        doc["status"] = status.to_dict()
        return type(owner).model_validate(doc)
