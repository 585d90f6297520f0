"""A pod's quality-of-service class: ``status.qosClass`` (``BestEffort``, ``Burstable``, ``Guaranteed``).

Kubernetes computes it once, when the pod is created (the pod strategy's ``PrepareForCreate``), and the
kubelet reports the stored value back (``GetPodQOS``: the stored class, else computed). The rules are
those of ``ComputePodQOS`` in ``pkg/apis/core/v1/helper/qos`` (pod-level resources, an alpha feature,
off):

- only ``cpu`` and ``memory`` count, and only positive quantities;
- a container's missing request is its limit (``SetDefaults_Pod`` stores that default in every Pod:
  :func:`kubelite.api.defaults.requests_from_limits`; it is read so here too, for pods stored before it and
  for pod templates, as :class:`kubelite.api.core.ResourceRequirements` does);
- init containers count like the others;
- **BestEffort**: no container requests or limits either;
- **Guaranteed**: every container limits both, and for each of the two the pod's summed requests equal
  its summed limits;
- **Burstable**: anything else.

Pure and exact (quantities as :class:`fractions.Fraction`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction

from kubelite.api.core import Container, Pod
from kubelite.api.quantity import Quantity, parse_quantity

BEST_EFFORT, BURSTABLE, GUARANTEED = "BestEffort", "Burstable", "Guaranteed"
QOS_RESOURCES = ("cpu", "memory")


def pod_qos_class(pod: Pod) -> str:
    """The stored ``status.qosClass``, else the class computed from the spec (the kubelet's ``GetPodQOS``)."""
    stored = pod.status.qos_class if pod.status else None
    return stored or compute_qos_class(pod)


def compute_qos_class(pod: Pod) -> str:
    """The class of the pod's spec, whatever its status says (``ComputePodQOS``)."""
    return containers_qos_class([*(pod.spec.init_containers or []), *pod.spec.containers])


def containers_qos_class(containers: Iterable[Container]) -> str:
    """The class of a pod with these containers (its init containers included)."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for container in containers:
        resources = container.resources
        written_limits = (resources.limits if resources else None) or {}
        written_requests = {**written_limits, **((resources.requests if resources else None) or {})}
        _add_positive(requests, written_requests)
        if not set(QOS_RESOURCES) <= _add_positive(limits, written_limits):
            guaranteed = False
    if not requests and not limits:
        return BEST_EFFORT
    if guaranteed and requests.keys() == limits.keys() and all(limits[r] == v for r, v in requests.items()):
        return GUARANTEED
    return BURSTABLE


def _add_positive(total: dict[str, Fraction], quantities: Mapping[str, Quantity]) -> set[str]:
    """Add the positive cpu and memory quantities to ``total``; the names added. A malformed quantity
    (validation refuses it on every write) counts as absent."""
    added = set()
    for name in QOS_RESOURCES:
        if name not in quantities:
            continue
        try:
            value = parse_quantity(quantities[name])
        except ValueError:
            continue
        if value > 0:
            total[name] = total.get(name, Fraction(0)) + value
            added.add(name)
    return added
