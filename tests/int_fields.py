"""Every integer field of every served kind, read from Kubernetes' field table, for property tests.

``INT_FIELDS[kind]`` lists ``(path, format)``: the path of one occurrence
(``spec.containers[0].ports[0].containerPort``; list items at index 0, map
values under key ``k``) and ``int32``, ``int64`` or ``int-or-string``.
``valid_range(path, fmt)`` is the range Kubernetes accepts for the field on
its own: the format's range narrowed by Kubernetes' validation rules where it
has them (the same rules kubelite.api.validation implements; here written
down once more, from Kubernetes' validation.go, as the expectation).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubelite.api.schema import INT_RANGES, k8s_schema, root_type

KINDS = ("Namespace", "Node", "Pod", "Event", "ReplicaSet", "Deployment", "Lease")
_MAX_DEPTH = 12

# (path pattern, lowest, highest): Kubernetes' own limits besides the format's
_RULES: list[tuple[str, int | None, int | None]] = [
    (r"(^|\.)ports\[0\]\.containerPort$", 1, 65535),
    (r"(^|\.)ports\[0\]\.hostPort$", 0, 65535),
    (r"\.(httpGet|tcpSocket)\.port$", 1, 65535),
    (r"\.grpc\.port$", 1, 65535),
    (r"(liveness|startup)Probe\.successThreshold$", 1, 1),
    (r"Probe\.terminationGracePeriodSeconds$", 1, None),
    (r"Probe\.(initialDelaySeconds|timeoutSeconds|periodSeconds|successThreshold|failureThreshold)$", 0, None),
    (r"(^|\.)spec\.terminationGracePeriodSeconds$", 0, None),
    (r"(^|\.)spec\.activeDeadlineSeconds$", 1, 2**31 - 1),
    (r"^metadata\.generation$", 0, None),
    (r"^spec\.(replicas|minReadySeconds|revisionHistoryLimit)$", 0, None),
    (r"^spec\.progressDeadlineSeconds$", 1, None),  # and > minReadySeconds (0 in the base objects)
    (r"^spec\.strategy\.rollingUpdate\.(maxSurge|maxUnavailable)$", 0, None),
    (r"^spec\.leaseDurationSeconds$", 1, None),
    (r"^spec\.leaseTransitions$", 0, None),
    (r"^count$", 0, None),
    # user and group IDs: kube's IsValidUserID / IsValidGroupID
    (r"securityContext\.(runAsUser|runAsGroup|fsGroup|supplementalGroups\[0\])$", 0, 2**31 - 1),
    # status counters: non-negative, and none above status.replicas (absent, so 0, in the base objects)
    (r"^status\.(observedGeneration|collisionCount|replicas)$", 0, None),
    (r"^status\.(updated|ready|available|unavailable|fullyLabeled)Replicas$", 0, 0),
]


INTEGERS = (*INT_RANGES, "int-or-string")


def _scalar_paths(type_ref: str, path: str, depth: int, wanted: tuple[str, ...]) -> list[tuple[str, str]]:
    if depth > _MAX_DEPTH:
        return []
    if type_ref.startswith("[]"):
        return _scalar_paths(type_ref[2:], f"{path}[0]", depth + 1, wanted)
    if type_ref.startswith("{}"):
        return _scalar_paths(type_ref[2:], f"{path}[k]", depth + 1, wanted)
    if type_ref in wanted:
        return [(path, type_ref)]
    fields = k8s_schema()["types"].get(type_ref) or {}
    found = []
    for name, child in fields.items():
        found += _scalar_paths(child, f"{path}.{name}" if path else name, depth + 1, wanted)
    return found


def scalar_fields(kind: str, wanted: tuple[str, ...] = INTEGERS) -> list[tuple[str, str]]:
    """``(path, type)`` of every field of ``kind`` whose table type is one of ``wanted``."""
    type_name = root_type(kind)
    assert type_name is not None
    return _scalar_paths(type_name, "", 0, wanted)


INT_FIELDS = {kind: scalar_fields(kind) for kind in KINDS}


def format_range(fmt: str) -> tuple[int, int]:
    return INT_RANGES["int32" if fmt == "int-or-string" else fmt]


def valid_range(path: str, fmt: str) -> tuple[int, int]:
    low, high = format_range(fmt)
    for pattern, rule_low, rule_high in _RULES:
        if re.search(pattern, path):
            return max(low, rule_low if rule_low is not None else low), min(high, rule_high if rule_high is not None
                                                                          else high)
    return low, high


def base_object(kind: str, name: str) -> dict[str, Any]:
    """A valid object of ``kind`` named ``name`` (namespaced kinds in ``default``)."""
    meta: dict[str, Any] = {"name": name}
    if kind not in ("Namespace", "Node"):
        meta["namespace"] = "default"
    api_version = {"ReplicaSet": "apps/v1", "Deployment": "apps/v1", "Lease": "coordination.k8s.io/v1"}.get(kind, "v1")
    doc: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    pod_spec = {"containers": [{"name": "c", "image": "kubelite/demo:latest"}]}
    if kind == "Pod":
        doc["spec"] = pod_spec
    elif kind in ("ReplicaSet", "Deployment"):
        doc["spec"] = {"selector": {"matchLabels": {"app": name}},
                       "template": {"metadata": {"labels": {"app": name}}, "spec": copy.deepcopy(pod_spec)}}
    elif kind == "Event":
        doc["involvedObject"] = {"kind": "Pod", "name": "p", "namespace": "default"}
    return doc


# Objects made on the way get the fields Kubernetes requires of them, so that a synthetic object
# breaks no rule but the range under test: list items their name (and a container its image),
# a terminated state its exit code, a probe a handler unless the path goes into one.
_NAMED_ITEMS = {"containers", "initContainers", "ephemeralContainers", "volumes", "containerStatuses",
                "initContainerStatuses", "ephemeralContainerStatuses"}
_CONTAINERS = {"containers", "initContainers", "ephemeralContainers"}
_HANDLERS = {"exec", "httpGet", "tcpSocket", "grpc"}


def _made(parent: str | int, following: str | int | None, index: int = 0) -> Any:
    if isinstance(following, int):
        return []
    made: dict[str, Any] = {}
    if isinstance(parent, str) and parent in _NAMED_ITEMS:
        made["name"] = f"{parent.lower()}-{index}"
        if parent in _CONTAINERS:
            made["image"] = "busybox"
    elif parent == "terminated":
        made["exitCode"] = 0
    elif isinstance(parent, str) and parent.endswith("Probe") and following not in _HANDLERS:
        made["exec"] = {"command": ["true"]}
    return made


def with_value(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with ``value`` at ``path``, creating the objects and one-item lists on the way."""
    result = copy.deepcopy(doc)
    steps = [int(s) if s.isdigit() else s for s in re.findall(r"[^.\[\]]+", path)]
    node: Any = result
    previous: str | int = ""
    for step, following in zip(steps, steps[1:], strict=False):
        if isinstance(step, int):
            while len(node) <= step:
                node.append(_made(previous, following, len(node)))
            node = node[step]
        else:
            if step not in node:
                node[step] = _made(step, following)
            node = node[step]
        previous = step
    last = steps[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value
    return result
