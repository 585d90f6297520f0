"""Responses: JSON objects, lists, Status (errors and successes), warnings; one object in protobuf on request."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from kubelite.storage import codec
from kubelite.api import errors
from kubelite.gateway import protobuf

JSON = "application/json"


def dumps(doc: Any) -> bytes:
    """Compact JSON as Go's json.Encoder writes it, without its trailing newline (watch events add theirs)."""
    return codec.dumps_go(doc)


def render(doc: Any) -> bytes:
    """A response body byte for byte as kube-apiserver's JSON serializer (json.Encoder) writes it."""
    return dumps(doc) + b"\n"


def json_response(doc: Any, *, status: int = 200, content_type: str = JSON,
                  warnings: Iterable[str] = ()) -> web.Response:
    response = web.Response(body=render(doc), status=status, content_type=content_type.split(";")[0])
    if ";" in content_type:
        response.headers["Content-Type"] = content_type
    add_warnings(response, warnings)
    return response


def prefers_protobuf(accept: str) -> bool:
    """client-go's typed clients ask ``application/vnd.kubernetes.protobuf, application/json``."""
    return accept.split(",")[0].split(";")[0].strip().lower() == protobuf.MEDIA_TYPE


def as_protobuf(response: web.StreamResponse) -> web.StreamResponse:
    """The same object in Kubernetes protobuf, for a client that prefers it; unchanged when not one object.

    Lists, Tables, Status bodies and watch streams stay JSON (clients read the Content-Type), and
    so does an object protobuf cannot carry (a field Kubernetes does not have).
    """
    if not isinstance(response, web.Response) or response.content_type != JSON or response.status >= 300:
        return response
    body = response.body
    if not isinstance(body, bytes) or b'"items":' in body:
        return response
    doc = json.loads(body)
    if not isinstance(doc, dict) or doc.get("kind") not in protobuf.codec().roots:
        return response
    try:
        encoded = protobuf.encode_object(doc)
    except protobuf.ProtobufError:
        return response
    converted = web.Response(body=encoded, status=response.status, headers=response.headers)
    converted.headers["Content-Type"] = protobuf.MEDIA_TYPE
    return converted


def warning_header(message: str) -> str:
    """RFC 7234 warning as kube-apiserver sends it: ``299 - "unknown field \\"spec.foo\\""``."""
    escaped = message.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


def add_warnings(response: web.StreamResponse, warnings: Iterable[str]) -> None:
    for message in warnings:
        response.headers.add("Warning", warning_header(message))


def status_doc(error: errors.ApiError) -> dict[str, Any]:
    """The Status as kube-apiserver writes it: Go's field order, ``details`` only when the error has them."""
    return error.status.model_dump(mode="json", by_alias=True, exclude_none=True)


def error_response(error: errors.ApiError) -> web.Response:
    """Every error answer goes through here (the middleware and the handlers). A Status that suggests a
    retry delay also says it in ``Retry-After`` (kube's ErrorNegotiated), which client-go honours."""
    response = json_response(status_doc(error), status=error.code)
    details = error.status.details
    if details is not None and details.retry_after_seconds:
        response.headers["Retry-After"] = str(details.retry_after_seconds)
    return response


def success_status(*, name: str, kind: str, group: str = "", uid: str | None = None, code: int = 200) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details, "code": code}
