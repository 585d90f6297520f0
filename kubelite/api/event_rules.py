"""events.k8s.io/v1 Event validation (the events.k8s.io/v1 document's :data:`kubelite.strategy.DOCUMENT_RULES`
entry; core v1 Events are typed and checked by :func:`kubelite.api.validation.validate_event`)."""

from __future__ import annotations

from typing import Any

from kubelite.api.errors import StatusCause
from kubelite.api.labels import qualified_name_errors
from kubelite.api import validation as v  # a module import: validation imports the document rules

Doc = dict[str, Any]
_LIMIT = 128  # kube's limit on reportingInstance, action and reason
NOTE_LIMIT = 1024


def validate(doc: Doc) -> list[StatusCause]:
    """kube's ValidateEventCreate for an events.k8s.io/v1 request (``pkg/apis/core/validation/events.go``)."""
    causes: list[StatusCause] = []
    if not doc.get("eventTime"):
        causes.append(v.required("eventTime"))
    if doc.get("type") not in ("Normal", "Warning"):
        causes.append(v.invalid("type", "", f"has invalid value: {doc.get('type') or ''}"))
    controller = doc.get("reportingController")
    if not controller:
        causes.append(v.required("reportingController"))
    else:
        causes += [v.invalid("reportingController", controller, e) for e in qualified_name_errors(str(controller))]
    for field in ("reportingInstance", "action", "reason"):
        value = doc.get(field)
        if not value:
            causes.append(v.required(field))
        elif len(str(value)) > _LIMIT:
            causes.append(v.invalid(field, "", f"can have at most {_LIMIT} characters"))
    if len(str(doc.get("note") or "")) > NOTE_LIMIT:
        causes.append(v.invalid("note", "", f"can have at most {NOTE_LIMIT} characters"))
    return causes
