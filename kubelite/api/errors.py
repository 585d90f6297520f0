"""Kubernetes ``Status`` errors.

Every error a user can cause is an :class:`ApiError` carrying the Status the
gateway returns unchanged, so the store, the validators and the gateway agree
on codes and reasons.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from kubelite.api.meta import KubeModel


class StatusCause(KubeModel):
    reason: str | None = None
    message: str | None = None
    field: str | None = None


class StatusDetails(KubeModel):
    name: str | None = None
    group: str | None = None
    kind: str | None = None
    uid: str | None = None
    causes: list[StatusCause] | None = None
    retry_after_seconds: int | None = None


class Status(KubeModel):
    """Field order is Go's metav1.Status (TypeMeta's kind first): clients compare the bytes."""

    kind: str = "Status"
    api_version: str = Field(default="v1", alias="apiVersion")
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: str = "Failure"
    message: str | None = None
    reason: str | None = None
    details: StatusDetails | None = None
    code: int = 500


class ApiError(Exception):
    """An error with the Kubernetes Status that describes it."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.message)
        self.status = status

    @property
    def code(self) -> int:
        return self.status.code

    @property
    def reason(self) -> str:
        return self.status.reason or ""


# A Status is built from untrusted input (values quoted back, one cause per
# bad field); its size must not be the attacker's to choose.
MAX_MESSAGE_CHARS = 16 * 1024
MAX_CAUSES = 100
# Longest value quoted in an error message, in characters.
MAX_QUOTED_VALUE = 256


def quote_value(value: Any) -> str:
    """``value`` as JSON for an error message, cut to ``MAX_QUOTED_VALUE`` characters.

    The bound holds before serialising: a ten-million-element list is not
    dumped in full only to be cut.
    """
    text = json.dumps(_shallow(value, 3), default=str)
    if len(text) > MAX_QUOTED_VALUE:
        text = text[:MAX_QUOTED_VALUE] + "...(truncated)"
    return text


def _shallow(value: Any, budget: int) -> Any:
    """A small stand-in for ``value``: at most 16 items per level and ``budget`` levels."""
    if isinstance(value, (list, tuple)):
        if budget <= 0:
            return "[...]"
        return [_shallow(v, budget - 1) for v in value[:16]] + (["..."] if len(value) > 16 else [])
    if isinstance(value, dict):
        if budget <= 0:
            return "{...}"
        items = list(value.items())[:16]
        return {str(k): _shallow(v, budget - 1) for k, v in items}
    if isinstance(value, str) and len(value) > MAX_QUOTED_VALUE:
        return value[:MAX_QUOTED_VALUE]
    return value


def _error(
    code: int, reason: str, message: str, *, kind: str = "", name: str = "", group: str = "",
    causes: list[StatusCause] | None = None, details: bool = True,
) -> ApiError:
    """``details=False`` for the errors k8s.io/apimachinery's constructors build without details
    (NewBadRequest, NewGone, NewServiceUnavailable, ...); the others carry them even when empty (``{}``)."""
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "...(truncated)"
    if causes is not None and len(causes) > MAX_CAUSES:
        causes = causes[:MAX_CAUSES]
    found = StatusDetails(name=name or None, kind=kind or None, group=group or None, causes=causes) if details else None
    return ApiError(Status(code=code, reason=reason, message=message, details=found))


def _what(kind: str, group: str) -> str:
    """Kubernetes writes 'deployments.apps "web"'; the core group has no suffix."""
    return f"{kind}.{group}" if group else kind


def not_found(plural: str, name: str, *, group: str = "") -> ApiError:
    return _error(404, "NotFound", f'{_what(plural, group)} "{name}" not found', kind=plural, name=name, group=group)


def already_exists(plural: str, name: str, *, group: str = "") -> ApiError:
    return _error(
        409, "AlreadyExists", f'{_what(plural, group)} "{name}" already exists', kind=plural, name=name, group=group
    )


def conflict(plural: str, name: str, detail: str, *, group: str = "") -> ApiError:
    message = f'Operation cannot be fulfilled on {_what(plural, group)} "{name}": {detail}'
    return _error(409, "Conflict", message, kind=plural, name=name, group=group)


def invalid(kind: str, name: str, causes: list[StatusCause], *, group: str = "") -> ApiError:
    summary = ", ".join(f"{c.field}: {c.message}" for c in causes[:MAX_CAUSES])
    message = f'{kind}.{group} "{name}" is invalid: {summary}' if group else f'{kind} "{name}" is invalid: {summary}'
    return _error(422, "Invalid", message, kind=kind, name=name, group=group, causes=causes)


def field_invalid(field: str, message: str, reason: str = "FieldValueInvalid") -> StatusCause:
    return StatusCause(field=field, message=message, reason=reason)


def resource_not_found() -> ApiError:
    """A path under /api or /apis that serves nothing (kube-apiserver's generic 404, details ``{}``)."""
    return _error(404, "NotFound", "the server could not find the requested resource")


def bad_request(message: str) -> ApiError:
    return _error(400, "BadRequest", message, details=False)


def gone(message: str) -> ApiError:
    return _error(410, "Expired", message, details=False)


def too_large(message: str) -> ApiError:
    return _error(413, "RequestEntityTooLarge", message, details=False)


def unsupported_media_type(message: str) -> ApiError:
    return _error(415, "UnsupportedMediaType", message, details=False)


def unauthorized(message: str = "Unauthorized") -> ApiError:
    return _error(401, "Unauthorized", message, details=False)


def forbidden(message: str, *, kind: str = "", name: str = "", group: str = "") -> ApiError:
    return _error(403, "Forbidden", message, kind=kind, name=name, group=group)


def method_not_allowed(message: str, *, kind: str = "", group: str = "") -> ApiError:
    return _error(405, "MethodNotAllowed", message, kind=kind, group=group)


def unavailable(message: str) -> ApiError:
    """etcd unreachable or timed out: the client may retry (503)."""
    return _error(503, "ServiceUnavailable", message, details=False)


def internal(message: str) -> ApiError:
    """As NewInternalError: 'Internal error occurred: …', the error again as the one cause."""
    return _error(500, "InternalError", f"Internal error occurred: {message}", causes=[StatusCause(message=message)])
