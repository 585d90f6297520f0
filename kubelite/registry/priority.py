"""Pod priority admission (kube-apiserver's Priority plugin, plugin/pkg/admission/priority).

On pod create: ``priorityClassName`` is resolved to ``spec.priority`` (and
``spec.preemptionPolicy``) from its PriorityClass; a pod without a class gets the
``globalDefault`` class (the highest-valued one if several), else priority 0 (left unwritten:
kube writes ``priority: 0`` and ``preemptionPolicy`` on every pod; kubelite keeps such pods as sent). The two
system classes kube-apiserver always has are known without being stored. An unknown
class, or a ``spec.priority`` that differs from the class's value, is refused with 403,
kube's words. The Store reads the classes and calls :func:`admit`; this is pure. The
PriorityClass write rules live in :mod:`kubelite.api.priorityclass`.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors
from kubelite.api.core import Pod
from kubelite.api.priorityclass import SYSTEM_CLASSES

DEFAULT_PREEMPTION = "PreemptLowerPriority"


def _forbidden(pod: Pod, reason: str) -> errors.ApiError:
    name = pod.metadata.name or pod.metadata.generate_name or ""
    return errors.forbidden(f'pods "{name}" is forbidden: {reason}', kind="pods", name=name)


def admit(pod: Pod, classes: list[dict[str, Any]]) -> Pod:
    """The pod with its priority resolved from ``classes`` (PriorityClass documents); ApiError 403."""
    name = pod.spec.priority_class_name
    policy: str | None = None
    if name:
        if name in SYSTEM_CLASSES:
            value = SYSTEM_CLASSES[name]
        else:
            found = next((c for c in classes if (c.get("metadata") or {}).get("name") == name), None)
            if found is None:
                raise _forbidden(pod, f"no PriorityClass with name {name} was found")
            value, policy = int(found.get("value") or 0), found.get("preemptionPolicy")
    else:
        defaults = [c for c in classes if c.get("globalDefault")]
        chosen = max(defaults, key=lambda c: int(c.get("value") or 0), default=None)
        if chosen is None:
            # kube writes priority 0 here; kubelite leaves such pods as sent (0 is what a missing priority means)
            if pod.spec.priority not in (None, 0):
                raise _forbidden(pod, f"the integer value of priority ({pod.spec.priority}) must not be provided in "
                                      "pod spec; priority admission controller computed 0 from the given PriorityClass name")
            return pod
        value = int(chosen.get("value") or 0)
        name = (chosen.get("metadata") or {}).get("name")
        policy = chosen.get("preemptionPolicy")
    if pod.spec.priority is not None and pod.spec.priority != value:
        raise _forbidden(pod, f"the integer value of priority ({pod.spec.priority}) must not be provided in pod spec; "
                              f"priority admission controller computed {value} from the given PriorityClass name")
    doc = pod.to_dict()
    spec = doc.setdefault("spec", {})
    spec["priority"] = value
    if name:
        spec["priorityClassName"] = name
    spec.setdefault("preemptionPolicy", policy or DEFAULT_PREEMPTION)
    admitted = Pod.model_validate(doc)
    admitted.metadata.resource_version = pod.metadata.resource_version
    return admitted
