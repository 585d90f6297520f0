"""Kubernetes' defaulting of the fields kubelite models, applied to what users write through the gateway
(and by :mod:`kubelite.api.semantic` before it compares objects).

kube-apiserver stores defaults (``protocol: TCP``, probe periods, the
RollingUpdate strategy...), so ``kubectl describe`` and ``get -o yaml`` show
them, and ``kubectl apply``'s three-way merge ignores them. Pure: a new
document in, nothing mutated. Only modelled fields get defaults, so no
"kubelite does not act on it" warning is ever caused by a default.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelite.api.service import default_service

Doc = dict[str, Any]

_PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}


def image_pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    tag = image.rpartition("/")[2].partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for field, value in _PROBE_DEFAULTS.items():
        # Kubernetes' SetDefaults_Probe: an explicit 0 means "the default", too
        if probe.get(field) is None or (type(probe[field]) is int and probe[field] == 0):
            probe[field] = value
    http_get = probe.get("httpGet")
    if isinstance(http_get, dict):
        http_get.setdefault("path", "/")
        http_get.setdefault("scheme", "HTTP")


def _container(container: Any) -> None:
    if not isinstance(container, dict):
        return
    if isinstance(container.get("image"), str):
        container.setdefault("imagePullPolicy", image_pull_policy(container["image"]))
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(container.get(name))


def _pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for container in spec.get("containers") or []:
        _container(container)


def requests_from_limits(requests: Any, limits: Any) -> dict[str, Any] | None:
    """A Pod container's requests with each limit standing in for a request it lacks, or None when that
    changes nothing (or the fields are not maps: validation reports those).

    Kubernetes' ``SetDefaults_Pod`` (pkg/apis/core/v1/defaults.go), for containers and init containers:
    in Pods only, never in pod templates, so a Deployment's template keeps what was written while each
    of its pods stores ``requests: {cpu: 1}`` under ``limits: {cpu: 1}``."""
    if not isinstance(limits, dict) or not limits or not (requests is None or isinstance(requests, dict)):
        return None
    requests = requests or {}
    missing = {name: value for name, value in limits.items() if name not in requests}
    return {**requests, **missing} if missing else None


def _pod_only(spec: Doc) -> None:
    """SetDefaults_Pod's own defaults (a Pod's, not its templates'): requests from limits, and
    ``enableServiceLinks: true``."""
    spec.setdefault("enableServiceLinks", True)
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            resources = container.get("resources") if isinstance(container, dict) else None
            if isinstance(resources, dict):
                defaulted = requests_from_limits(resources.get("requests"), resources.get("limits"))
                if defaulted is not None:
                    resources["requests"] = defaulted


def _template(spec: Doc) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        _pod_spec(template.get("spec"))


def pod_template_with_defaults(template: Doc) -> Doc:
    """A copy of a pod template (a Deployment's or ReplicaSet's ``spec.template``) with defaults filled in."""
    defaulted: Doc = with_defaults("ReplicaSet", {"spec": {"template": template}})["spec"]["template"]
    return defaulted


def with_defaults(kind: str, doc: Doc) -> Doc:
    """A copy of ``doc`` with Kubernetes' defaults filled in where the field is absent."""
    if kind == "Service":
        return default_service(doc)
    result = copy.deepcopy(doc)
    spec = result.get("spec")
    if not isinstance(spec, dict):
        return result
    if kind == "Pod":
        _pod_spec(spec)
        _pod_only(spec)
    elif kind == "ReplicaSet":
        spec.setdefault("replicas", 1)
        _template(spec)
    elif kind == "Deployment":
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxSurge", "25%")
                    rolling.setdefault("maxUnavailable", "25%")
        _template(spec)
    elif kind == "DaemonSet":
        _daemon_set(spec)
    elif kind == "StatefulSet":
        _stateful_set(spec)
    return result


def _daemon_set(spec: Doc) -> None:
    """SetDefaults_DaemonSet (pkg/apis/apps/v1/defaults.go): RollingUpdate 1 unavailable, 0 surge; 10 revisions."""
    strategy = spec.setdefault("updateStrategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", 1)
                rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(spec)


def _stateful_set(spec: Doc) -> None:
    """SetDefaults_StatefulSet: OrderedReady, RollingUpdate from partition 0, 1 replica, 10 revisions,
    claims retained on delete and on scale-down (StatefulSetAutoDeletePVC, on in 1.32)."""
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("partition", 0)
    policy = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    if isinstance(policy, dict):
        policy.setdefault("whenDeleted", "Retain")
        policy.setdefault("whenScaled", "Retain")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(spec)
