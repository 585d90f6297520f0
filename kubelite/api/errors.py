"""Kubernetes ``Status`` errors.

Every error a user can cause is an :class:`ApiError` carrying the Status the
gateway returns unchanged, so the store, the validators and the gateway agree
on codes and reasons.
"""

from __future__ import annotations

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
    api_version: str = Field(default="v1", alias="apiVersion")
    kind: str = "Status"
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


def _error(
    code: int, reason: str, message: str, *, kind: str = "", name: str = "", group: str = "",
    causes: list[StatusCause] | None = None,
) -> ApiError:
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "...(truncated)"
    if causes is not None and len(causes) > MAX_CAUSES:
        causes = causes[:MAX_CAUSES]
    details = StatusDetails(name=name or None, kind=kind or None, group=group or None, causes=causes)
    return ApiError(Status(code=code, reason=reason, message=message, details=details))


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


def bad_request(message: str) -> ApiError:
    return _error(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return _error(410, "Expired", message)


def too_large(message: str) -> ApiError:
    return _error(413, "RequestEntityTooLarge", message)


def unauthorized(message: str = "Unauthorized") -> ApiError:
    return _error(401, "Unauthorized", message)


def forbidden(message: str) -> ApiError:
    return _error(403, "Forbidden", message)


def method_not_allowed(message: str) -> ApiError:
    return _error(405, "MethodNotAllowed", message)


def unavailable(message: str) -> ApiError:
    """etcd unreachable or timed out: the client may retry (503)."""
    return _error(503, "ServiceUnavailable", message)


def internal(message: str) -> ApiError:
    return _error(500, "InternalError", message)
