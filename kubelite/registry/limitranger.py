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
  Quantities compare as kube compares them, in thousandths rounded up (``requestLimitEnforcedValues``).
- A LimitRange item that cannot be read (not a map, a quantity that does not parse: validation refuses
  those, but one may have been stored before) is skipped, never a 500.
- PersistentVolumeClaims on create: ``type: PersistentVolumeClaim`` ``min``/``max`` of their
  ``resources.requests`` (never defaulted).

Pod updates are not checked (their containers' resources cannot change). Messages print quantities as
kube does, in their canonical form (``1Gi`` for ``1024Mi``).
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


def _items(doc: Doc) -> list[Doc]:
    spec = doc.get("spec")
    limits = spec.get("limits") if isinstance(spec, dict) else None
    return [item for item in limits if isinstance(item, dict)] if isinstance(limits, list) else []


def _limits(ranges: Iterable[Doc], kind: str) -> list[Doc]:
    return [item for doc in ranges for item in _items(doc) if item.get("type") == kind]


def _quantities(item: Doc, name: str) -> dict[str, Any]:
    """``item[name]`` (min, max, default...) with only the entries that parse as quantities."""
    values = item.get(name)
    if not isinstance(values, dict):
        return {}
    readable = {}
    for key, value in values.items():
        try:
            quantity.parse_quantity(value)
        except (ValueError, TypeError):
            continue
        readable[key] = value
    return readable


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
        name = pod.metadata.name or pod.metadata.generate_name or ""
        message = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        raise errors.forbidden(f'pods "{name}" is forbidden: {message}', kind="pods", name=name)
    return pod


def validate_claim(claim: Doc, ranges: list[Doc]) -> None:
    """PersistentVolumeClaimValidateLimitFunc: ApiError 403 when the claim's storage request is outside a
    ``type: PersistentVolumeClaim`` limit."""
    requests = _readable(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    for doc in ranges:
        problems: list[str] = []
        for item in _limits([doc], "PersistentVolumeClaim"):
            for resource, enforced in _quantities(item, "min").items():
                problems += _min(item["type"], resource, enforced, requests, {})
            for resource, enforced in _quantities(item, "max").items():
                problems += _max_request(item["type"], resource, enforced, requests)
        if problems:
            meta = claim.get("metadata") or {}
            name = meta.get("name") or meta.get("generateName") or ""
            message = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
            raise errors.forbidden(f'persistentvolumeclaims "{name}" is forbidden: {message}',
                                   kind="persistentvolumeclaims", name=name)


def _with_defaults(pod: Pod, ranges: list[Doc]) -> Pod:
    """PodMutateLimitFunc for each range in turn: what is still missing is filled. Each range that sets
    something rewrites the annotation (mergePodResourceRequirements), so the last one's words stay."""
    for doc in ranges:
        limits: dict[str, Any] = {}
        requests: dict[str, Any] = {}
        for item in _limits([doc], "Container"):
            requests.update(_quantities(item, "defaultRequest"))
            limits.update(_quantities(item, "default"))
        if not (limits or requests) or not _lacks_any(pod, limits, requests):
            continue
        pod = pod.deep_copy()
        notes: list[str] = []
        for kind, containers in (("container", pod.spec.containers), ("init container", pod.spec.init_containers or [])):
            for container in containers:
                notes += _merge(container, limits, requests, kind)
        pod.metadata.annotations = {**(pod.metadata.annotations or {}),
                                    ANNOTATION: "LimitRanger plugin set: " + "; ".join(notes)}
    return pod


def _lacks_any(pod: Pod, limits: dict[str, Any], requests: dict[str, Any]) -> bool:
    for container in [*pod.spec.containers, *(pod.spec.init_containers or [])]:
        resources = container.resources
        if any(name not in ((resources.limits or {}) if resources else {}) for name in limits) or any(
                name not in ((resources.requests or {}) if resources else {}) for name in requests):
            return True
    return False


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
    # model_copy keeps what else the container's resources carry (claims)
    container.resources = resources.model_copy(update={"requests": have_requests or None,
                                                        "limits": have_limits or None})
    notes = []
    if set_requests:
        notes.append(f"{', '.join(set_requests)} request for {kind} {container.name}")
    if set_limits:
        notes.append(f"{', '.join(set_limits)} limit for {kind} {container.name}")
    return notes


def _pod_problems(pod: Pod, doc: Doc) -> list[str]:
    """PodValidateLimitFunc for one LimitRange."""
    problems: list[str] = []
    for item in _items(doc):
        if item.get("type") == "Container":
            for container in [*pod.spec.containers, *(pod.spec.init_containers or [])]:
                resources = container.resources
                problems += _constraints(item, _readable(resources.requests if resources else None),
                                         _readable(resources.limits if resources else None))
        elif item.get("type") == "Pod":
            problems += _constraints(item, dict(pod_requests(pod)), dict(pod_limits(pod)))
    return problems


def _readable(values: Any) -> dict[str, Any]:
    """A container's (or claim's) requests or limits: the entries that parse (validation refused the rest)."""
    return _quantities({"values": values}, "values")


def _constraints(item: Doc, requests: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    kind = item["type"]
    problems: list[str] = []
    for resource, enforced in _quantities(item, "min").items():
        problems += _min(kind, resource, enforced, requests, limits)
    for resource, enforced in _quantities(item, "max").items():
        problems += _max(kind, resource, enforced, requests, limits)
    for resource, enforced in _quantities(item, "maxLimitRequestRatio").items():
        problems += _ratio(kind, resource, enforced, requests, limits)
    return problems


def _value(value: Any) -> Fraction:
    return value if isinstance(value, Fraction) else quantity.parse_quantity(value)


def _milli(value: Any) -> int:
    """In thousandths, rounded up: kube compares quantities at this precision (requestLimitEnforcedValues)."""
    return math.ceil(_value(value) * 1000)


def _text(value: Any) -> str:
    """A quantity as a message shows it: kube's ``Quantity.String()`` (``1Gi`` for ``1024Mi``, ``1`` for
    ``1000m``), or (a pod's sum) its shortest exact form."""
    if not isinstance(value, Fraction):
        return quantity.canonical(quantity.parse_quantity(value), quantity.quantity_format(value))
    if value.denominator == 1:
        return quantity.format_bytes(value.numerator)
    return quantity.format_cpu_millis(math.ceil(value * 1000))


def _min(kind: str, resource: str, enforced: Any, requests: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    floor = _milli(enforced)
    if resource not in requests:
        return [f"minimum {resource} usage per {kind} is {_text(enforced)}.  No request is specified"]
    if _milli(requests[resource]) < floor:
        return [f"minimum {resource} usage per {kind} is {_text(enforced)}, but request is {_text(requests[resource])}"]
    if resource in limits and _milli(limits[resource]) < floor:
        return [f"minimum {resource} usage per {kind} is {_text(enforced)}, but limit is {_text(limits[resource])}"]
    return []


def _max(kind: str, resource: str, enforced: Any, requests: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    ceiling = _milli(enforced)
    if resource not in limits:
        return [f"maximum {resource} usage per {kind} is {_text(enforced)}.  No limit is specified"]
    if _milli(limits[resource]) > ceiling:
        return [f"maximum {resource} usage per {kind} is {_text(enforced)}, but limit is {_text(limits[resource])}"]
    if resource in requests and _milli(requests[resource]) > ceiling:
        return [f"maximum {resource} usage per {kind} is {_text(enforced)}, but request is {_text(requests[resource])}"]
    return []


def _max_request(kind: str, resource: str, enforced: Any, requests: dict[str, Any]) -> list[str]:
    if resource not in requests:
        return [f"maximum {resource} usage per {kind} is {_text(enforced)}.  No request is specified"]
    if _milli(requests[resource]) > _milli(enforced):
        return [f"maximum {resource} usage per {kind} is {_text(enforced)}, but request is {_text(requests[resource])}"]
    return []


def _ratio(kind: str, resource: str, enforced: Any, requests: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    request = _milli(requests[resource]) if resource in requests else 0
    limit = _milli(limits[resource]) if resource in limits else 0
    if request == 0:
        return [f"{resource} max limit to request ratio per {kind} is {_text(enforced)}, but no request is specified or "
                "request is 0"]
    if limit == 0:
        return [f"{resource} max limit to request ratio per {kind} is {_text(enforced)}, but no limit is specified or "
                "limit is 0"]
    ratio = Fraction(limit, request)
    if ratio * 1000 > _milli(enforced):
        return [f"{resource} max limit to request ratio per {kind} is {_text(enforced)}, but provided ratio is "
                f"{float(ratio):f}"]
    return []
