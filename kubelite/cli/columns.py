"""Client-side Tables, for when the gateway answers a list instead of a Table
(``as=Table`` not supported) and for watch events carrying plain objects.
The columns are kubectl's. Pure: objects and a clock reading in, a Table out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kubelite.cli.output import age
from kubelite.gateway.tables import pod_ready, pod_status_reason

Obj = dict[str, Any]
Column = tuple[str, int]  # name, priority (1 = -o wide only)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def pod_status_text(pod: Obj) -> str:
    """kubectl's STATUS column; the rule's one home is the gateway's printer (:mod:`kubelite.gateway.tables`)."""
    return pod_status_reason(pod)


def _pod_row(pod: Obj, now: datetime) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses)
    return [_meta(pod).get("name"), pod_ready(pod), pod_status_text(pod), restarts,
            age(_meta(pod).get("creationTimestamp"), now), status.get("podIP"), spec.get("nodeName")]


def _deployment_row(dep: Obj, now: datetime) -> list[Any]:
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    return [_meta(dep).get("name"),
            f"{status.get('readyReplicas') or 0}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas") or 0, status.get("availableReplicas") or 0,
            age(_meta(dep).get("creationTimestamp"), now),
            ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
            ",".join(f"{k}={v}" for k, v in selector.items())]


def _replicaset_row(rs: Obj, now: datetime) -> list[Any]:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    return [_meta(rs).get("name"), spec.get("replicas", 1), status.get("replicas") or 0,
            status.get("readyReplicas") or 0, age(_meta(rs).get("creationTimestamp"), now),
            ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
            ",".join(f"{k}={v}" for k, v in selector.items())]


def node_status_text(node: Obj) -> str:
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    text = "Unknown"
    if ready is not None:
        text = {"True": "Ready", "False": "NotReady"}.get(ready.get("status"), "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_row(node: Obj, now: datetime) -> list[Any]:
    status = node.get("status") or {}
    labels = _meta(node).get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return [_meta(node).get("name"), node_status_text(node), ",".join(roles) or "<none>",
            age(_meta(node).get("creationTimestamp"), now),
            (status.get("nodeInfo") or {}).get("kubeletVersion"), addresses.get("InternalIP")]


def _namespace_row(ns: Obj, now: datetime) -> list[Any]:
    return [_meta(ns).get("name"), (ns.get("status") or {}).get("phase") or "Active",
            age(_meta(ns).get("creationTimestamp"), now)]


def event_time(event: Obj) -> Any:
    return (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
            or _meta(event).get("creationTimestamp"))


def _event_row(event: Obj, now: datetime) -> list[Any]:
    involved = event.get("involvedObject") or {}
    return [age(event_time(event), now), event.get("type"), event.get("reason"),
            f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}", event.get("message")]


def _generic_row(obj: Obj, now: datetime) -> list[Any]:
    return [_meta(obj).get("name"), age(_meta(obj).get("creationTimestamp"), now)]


_KINDS: dict[str, tuple[list[Column], Callable[[Obj, datetime], list[Any]]]] = {
    "Pod": ([("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
             ("Node", 1)], _pod_row),
    "Deployment": ([("Name", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0), ("Age", 0),
                    ("Containers", 1), ("Images", 1), ("Selector", 1)], _deployment_row),
    "ReplicaSet": ([("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Age", 0),
                    ("Containers", 1), ("Images", 1), ("Selector", 1)], _replicaset_row),
    "Node": ([("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0),
              ("Internal-IP", 1)], _node_row),
    "Namespace": ([("Name", 0), ("Status", 0), ("Age", 0)], _namespace_row),
    "Event": ([("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Message", 0)], _event_row),
}


def build_table(kind: str, items: list[Obj], now: datetime) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``items`` with kubectl's columns for ``kind``."""
    columns, row = _KINDS.get(kind, ([("Name", 0), ("Age", 0)], _generic_row))
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "columnDefinitions": [
            {"name": name, "type": "string", "format": "name" if name == "Name" else "", "priority": prio}
            for name, prio in columns
        ],
        "rows": [{"cells": row(item, now), "object": {"metadata": _meta(item)}} for item in items],
    }
