"""PriorityClass write rules (its :data:`kubelite.api.documents.DOCUMENT_RULES` entry; kube's
``pkg/apis/scheduling/validation``): reserved ``system-`` names, the user maximum of 1e9, ``value``
and ``preemptionPolicy`` fixed once written. The pods' Priority admission: :mod:`kubelite.registry.priority`.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.errors import StatusCause

# scheduling.SystemCriticalPriority (2e9) and the node-critical class 1000 above it
SYSTEM_CLASSES = {"system-cluster-critical": 2_000_000_000, "system-node-critical": 2_000_001_000}
HIGHEST_USER_DEFINABLE = 1_000_000_000


def validate_priority_class(doc: dict[str, Any]) -> list[StatusCause]:
    """``system-`` names are reserved for the built-in classes; a user class's value is at most 1e9."""
    name = str((doc.get("metadata") or {}).get("name") or "")
    value = doc.get("value")
    if name.startswith("system-"):
        if name not in SYSTEM_CLASSES:
            return [StatusCause(field="metadata.name", reason="FieldValueForbidden",
                                message="Forbidden: priority class names with 'system-' prefix are reserved for "
                                        "system use only")]
        return []
    if isinstance(value, int) and value > HIGHEST_USER_DEFINABLE:
        return [StatusCause(field="value", reason="FieldValueForbidden",
                            message=f"Forbidden: maximum allowed value of a user defined priority is "
                                    f"{HIGHEST_USER_DEFINABLE}")]
    return []


def priority_class_immutable(old: dict[str, Any], new: dict[str, Any]) -> list[StatusCause]:
    causes = []
    for field in ("value", "preemptionPolicy"):
        if new.get(field) != old.get(field) and not (field == "preemptionPolicy" and new.get(field) is None):
            causes.append(StatusCause(field=field, reason="FieldValueForbidden",
                                      message="Forbidden: may not be changed in an update."))
    return causes
