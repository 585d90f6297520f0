"""LimitRange admission (kube-apiserver's LimitRanger plugin, ``plugin/pkg/admission/limitranger``).

On pod create, for every writer (the Store reads the namespace's LimitRanges and calls this; pure here):

- **defaults**: each ``type: Container`` limit's ``default`` fills the limits a container (or init
  container) lacks, its ``defaultRequest`` the requests it lacks; what was set is named in the pod's
  ``kubernetes.io/limit-ranger`` annotation ("LimitRanger plugin set: cpu, memory request for container
  c; cpu limit for container c"). The pod's requests were already defaulted from its limits
  (``SetDefaults_Pod``), so a default request never undercuts a limit that was written.
- **constraints**, per container (``type: Container``) and for the pod as a whole (``type: Pod``: its
  requests and limits as :mod:`kubelite.api.podresources` sums them): ``min`` (a request, and a limit if
  set, not below it), ``max`` (a limit, and a request if set, not above it), ``maxLimitRequestRatio``.
  A pod breaking them is refused, 403 Forbidden with kube's messages: ``pods "p" is forbidden:
  [maximum cpu usage per Container is 1, but limit is 2, ...]`` (one message without brackets).
- PersistentVolumeClaims on create: ``type: PersistentVolumeClaim`` ``min``/``max`` of their
  ``resources.requests`` (never defaulted).

Pod updates are not checked (their containers' resources cannot change). Quantities keep the spelling
they were written with in the messages (kube prints its canonical form: ``1Gi`` for ``1024Mi``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from kubelite.api import errors, quantity
from kubelite.api.core import Container, Pod, ResourceRequirements
from kubelite.api.podresources import pod_limits, pod_requests

Doc = dict[str, Any]
ANNOTATION = "kubernetes.io/limit-ranger"


def _limits(ranges: Iterable[Doc], kind: str) -> list[Doc]:
    return [item for doc in ranges for item in ((doc.get("spec") or {}).get("limits") or [])
            if isinstance(item, dict) and item.get("type") == kind]


def admit_pod(pod: Pod, ranges: list[Doc]) -> Pod:
    """The pod with the ranges' container defaults (a copy when any applies); ApiError 403 when it breaks a
    constraint. ``ranges``: the LimitRange documents of the pod's namespace."""
    if not ranges:
        return pod
    pod = _with_defaults(pod, ranges)
    problems: list[str] = []
    for doc in ranges:  # kube stops at the first LimitRange that refuses, with all of its messages
        problems = _pod_problems(pod, doc)
        if problems:
            break
    if problems:
        name = pod.metadata.name or ""
        message = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        raise errors.forbidden(f'pods "{name}" is forbidden: {message}', kind="pods", name=name)
    return pod


def validate_claim(claim: Doc, ranges: list[Doc]) -> None:
    """PersistentVolumeClaimValidateLimitFunc: ApiError 403 when the claim's storage request is outside a
    ``type: PersistentVolumeClaim`` limit."""
    requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    for doc in ranges:
        problems: list[str] = []
        for item in _limits([doc], "PersistentVolumeClaim"):
            for resource, enforced in (item.get("min") or {}).items():
                problems += _min(item["type"], resource, enforced, requests, {})
            for resource, enforced in (item.get("max") or {}).items():
                problems += _max_request(item["type"], resource, enforced, requests)
        if problems:
            name = (claim.get("metadata") or {}).get("name") or ""
            message = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
            raise errors.forbidden(f'persistentvolumeclaims "{name}" is forbidden: {message}',
                                   kind="persistentvolumeclaims", name=name)


def _with_defaults(pod: Pod, ranges: list[Doc]) -> Pod:
    """PodMutateLimitFunc for each range in turn: what is still missing is filled."""
    defaults: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for doc in ranges:
        limits: dict[str, Any] = {}
        requests: dict[str, Any] = {}
        for item in _limits([doc], "Container"):
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
        if limits or requests:
            defaults.append((limits, requests))
    if not defaults:
        return pod
    defaulted = pod.deep_copy()
    notes: list[str] = []
    for limits, requests in defaults:
        for kind, containers in (("container", defaulted.spec.containers), ("init container",
                                                                             defaulted.spec.init_containers or [])):
            for container in containers:
                notes += _merge(container, limits, requests, kind)
    if not notes:
        return pod
    annotations = dict(defaulted.metadata.annotations or {})
    annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
    defaulted.metadata.annotations = annotations
    return defaulted


def _merge(container: Container, limits: dict[str, Any], requests: dict[str, Any], kind: str) -> list[str]:
    """mergeContainerResources: the defaults the container lacks, and the annotation's words for them."""
    resources = container.resources or ResourceRequirements()
    have_limits, have_requests = dict(resources.limits or {}), dict(resources.requests or {})
    set_limits = sorted(name for name in limits if name not in have_limits)
    set_requests = sorted(name for name in requests if name not in have_requests)
    if not set_limits and not set_requests:
        return []
    have_limits.update({name: limits[name] for name in set_limits})
    have_requests.update({name: requests[name] for name in set_requests})
    container.resources = ResourceRequirements(requests=have_requests or None, limits=have_limits or None)
    notes = []
    if set_requests:
        notes.append(f"{', '.join(set_requests)} request for {kind} {container.name}")
    if set_limits:
        notes.append(f"{', '.join(set_limits)} limit for {kind} {container.name}")
    return notes


def _pod_problems(pod: Pod, doc: Doc) -> list[str]:
    """PodValidateLimitFunc for one LimitRange."""
    problems: list[str] = []
    for item in (doc.get("spec") or {}).get("limits") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "Container":
            for container in [*pod.spec.containers, *(pod.spec.init_containers or [])]:
                resources = container.resources
                requests = dict(resources.requests or {}) if resources else {}
                limits = dict(resources.limits or {}) if resources else {}
                problems += _constraints(item, requests, limits)
        elif item.get("type") == "Pod":
            problems += _constraints(item, dict(pod_requests(pod)), dict(pod_limits(pod)))
    return problems


def _constraints(item: Doc, requests: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    kind = item["type"]
    problems: list[str] = []
    for resource, enforced in (item.get("min") or {}).items():
        problems += _min(kind, resource, enforced, requests, limits)
    for resource, enforced in (item.get("max") or {}).items():
        problems += _max(kind, resource, enforced, requests, limits)
    for resource, enforced in (item.get("maxLimitRequestRatio") or {}).items():
        problems += _ratio(kind, resource, enforced, requests, limits)
    return problems


def _value(value: Any) -> Fraction:
    return value if isinstance(value, Fraction) else quantity.parse_quantity(value)


def _text(value: Any) -> str:
    """A quantity as a message shows it: as written, or (a pod's sum) in its shortest exact form."""
    if not isinstance(value, Fraction):
        return str(value)
    if value.denominator == 1:
        return quantity.format_bytes(value.numerator)
    return quantity.format_cpu_millis(math.ceil(value * 1000))


def _min(kind: str, resource: str, enforced: Any, requests: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    floor = _value(enforced)
    if resource not in requests:
        return [f"minimum {resource} usage per {kind} is {enforced}.  No request is specified."]
    if _value(requests[resource]) < floor:
        return [f"minimum {resource} usage per {kind} is {enforced}, but request is {_text(requests[resource])}."]
    if resource in limits and _value(limits[resource]) < floor:
        return [f"minimum {resource} usage per {kind} is {enforced}, but limit is {_text(limits[resource])}."]
    return []


def _max(kind: str, resource: str, enforced: Any, requests: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    ceiling = _value(enforced)
    if resource not in limits:
        return [f"maximum {resource} usage per {kind} is {enforced}.  No limit is specified."]
    if _value(limits[resource]) > ceiling:
        return [f"maximum {resource} usage per {kind} is {enforced}, but limit is {_text(limits[resource])}."]
    if resource in requests and _value(requests[resource]) > ceiling:
        return [f"maximum {resource} usage per {kind} is {enforced}, but request is {_text(requests[resource])}."]
    return []


def _max_request(kind: str, resource: str, enforced: Any, requests: dict[str, Any]) -> list[str]:
    if resource not in requests:
        return [f"maximum {resource} usage per {kind} is {enforced}.  No request is specified."]
    if _value(requests[resource]) > _value(enforced):
        return [f"maximum {resource} usage per {kind} is {enforced}, but request is {_text(requests[resource])}."]
    return []


def _ratio(kind: str, resource: str, enforced: Any, requests: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    request = _value(requests[resource]) if resource in requests else Fraction(0)
    limit = _value(limits[resource]) if resource in limits else Fraction(0)
    if request == 0:
        return [f"{resource} max limit to request ratio per {kind} is {enforced}, but no request is specified or "
                "request is 0."]
    if limit == 0:
        return [f"{resource} max limit to request ratio per {kind} is {enforced}, but no limit is specified or "
                "limit is 0."]
    ratio = limit / request
    if ratio > _value(enforced):
        return [f"{resource} max limit to request ratio per {kind} is {enforced}, but provided ratio is "
                f"{float(ratio):f}."]
    return []
