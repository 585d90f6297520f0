"""JSON responses: objects, lists, Status (errors and successes), warnings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from kubelite.api import errors

JSON = "application/json"


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(doc: Any, *, status: int = 200, content_type: str = JSON,
                  warnings: Iterable[str] = ()) -> web.Response:
    response = web.Response(body=dumps(doc), status=status, content_type=content_type.split(";")[0])
    if ";" in content_type:
        response.headers["Content-Type"] = content_type
    add_warnings(response, warnings)
    return response


def warning_header(message: str) -> str:
    """RFC 7234 warning as kube-apiserver sends it: ``299 - "unknown field \\"spec.foo\\""``."""
    escaped = message.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


def add_warnings(response: web.StreamResponse, warnings: Iterable[str]) -> None:
    for message in warnings:
        response.headers.add("Warning", warning_header(message))


def status_doc(error: errors.ApiError) -> dict[str, Any]:
    doc = error.status.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not doc.get("details"):
        doc.pop("details", None)
    return doc


def error_response(error: errors.ApiError) -> web.Response:
    return json_response(status_doc(error), status=error.code)


def success_status(*, name: str, kind: str, group: str = "", uid: str | None = None, code: int = 200) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details, "code": code}
