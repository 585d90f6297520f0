"""Audit events (``audit.k8s.io/v1`` Event), recorded as kube-apiserver's audit filters do.

Where each piece comes from (k8s.io/apiserver ``pkg/endpoints/filters/audit.go``,
``authn_audit.go``, ``pkg/audit/request.go``):

- :func:`audit_middleware` (inside the error middleware, so it sees errors as Status) gives each
  request an ``auditID`` (the client's ``Audit-ID`` header, else a new UUID; the answer carries it
  as ``Audit-Id``) and its received time, and writes the last event when the answer is complete:
  stage ``ResponseComplete``.
- After authentication, :func:`begin` evaluates the policy for the (not yet impersonated) user and
  the request's attributes and writes ``RequestReceived`` (unless omitted). A request that fails
  authentication gets one event instead, stage ``ResponseStarted``, with no user (:func:`unauthenticated`).
- :func:`impersonating` records ``impersonatedUser``; :func:`decided` the authorizer's answer as the
  ``authorization.k8s.io/decision`` (``allow``/``forbid``) and ``.../reason`` annotations.
- Long-running requests (watch and proxy verbs; exec, attach, portforward, log, proxy
  subresources: kube's BasicLongRunningRequestCheck) also get ``ResponseStarted`` when their
  headers go out (:func:`on_response_prepare`).
- At ``Metadata`` and above, a request body fills ``objectRef``'s missing name, namespace, uid and
  resourceVersion (a create names its object only there); at ``Request`` and above it is logged as
  ``requestObject`` (:func:`request_object`), at ``RequestResponse`` the answer as ``responseObject``.
  Secrets are logged like any kind: what a policy asks for (kube does the same; the default policy
  stays at Metadata).
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.gateway.audit_policy import Decision, Level, evaluate
from kubelite.gateway.auth import User
from kubelite.gateway.respond import status_doc
from kubelite.gateway.state import state_of
from kubelite.auth.rbac import Attributes
from kubelite.util import clock

_LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
_LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})
_MAX_USER_AGENT = 1024


@dataclass
class AuditContext:
    audit_id: str
    received: datetime.datetime
    decision: Decision | None = None  # None: not evaluated yet (nothing is written)
    event: dict[str, Any] = field(default_factory=dict)  # the fields every stage shares
    annotations: dict[str, str] = field(default_factory=dict)
    long_running: bool = False
    started: bool = False  # ResponseStarted written (or, failed authentication: the only event)
    unauthenticated: bool = False
    request_body: Any = None
    response_status: dict[str, Any] | None = None
    response_object: Any = None


AUDIT: web.RequestKey[AuditContext] = web.RequestKey("kubelite_audit", AuditContext)


def _user_info(user: User) -> dict[str, Any]:
    info: dict[str, Any] = {"username": user.name}
    if user.uid:
        info["uid"] = user.uid
    if user.groups:
        info["groups"] = list(user.groups)
    return info


def source_ips(request: web.Request) -> list[str]:
    """kube's utilnet.SourceIPs: X-Forwarded-For, then X-Real-Ip, then the peer (each once)."""
    ips = [ip.strip() for ip in request.headers.get("X-Forwarded-For", "").split(",") if ip.strip()]
    real = request.headers.get("X-Real-Ip", "").strip()
    if real and real not in ips:
        ips.append(real)
    peer = request.remote or ""
    if peer and (not ips or ips[-1] != peer):
        ips.append(peer)
    return ips


def _object_ref(attrs: Attributes, version: str) -> dict[str, Any]:
    ref: dict[str, Any] = {"resource": attrs.resource}
    for key, value in (("namespace", attrs.namespace), ("name", attrs.name), ("apiGroup", attrs.api_group),
                       ("apiVersion", version), ("subresource", attrs.subresource)):
        if value:
            ref[key] = value
    return ref


def _context(request: web.Request) -> AuditContext | None:
    return request.get(AUDIT)


def _evaluate(request: web.Request, attrs: Attributes, version: str, *, authenticated: bool,
              user: User | None) -> None:
    ctx = _context(request)
    state = state_of(request)
    if ctx is None or state.audit is None or ctx.decision is not None:
        return
    ctx.decision = evaluate(state.audit.policy, attrs, authenticated=authenticated)
    if ctx.decision.level is Level.NONE:
        return
    user_agent = request.headers.get("User-Agent", "")
    if len(user_agent) > _MAX_USER_AGENT:
        user_agent = user_agent[:_MAX_USER_AGENT] + "...TRUNCATED"
    ctx.event = {"requestURI": request.raw_path, "verb": attrs.verb,
                 "user": _user_info(user) if user is not None else {}, "sourceIPs": source_ips(request),
                 "userAgent": user_agent}
    if attrs.resource_request:
        ctx.event["objectRef"] = _object_ref(attrs, version)
    ctx.long_running = attrs.resource_request and (attrs.verb in _LONG_RUNNING_VERBS
                                                   or attrs.subresource in _LONG_RUNNING_SUBRESOURCES)


def begin(request: web.Request, user: User, attrs: Attributes, version: str = "") -> None:
    """An authenticated request (``attrs`` of the user before impersonation; ``version`` the path's API
    version): evaluate the policy and write ``RequestReceived``."""
    _evaluate(request, attrs, version, authenticated=True, user=user)
    _emit(request, "RequestReceived")


def unauthenticated(request: web.Request, attrs: Attributes, version: str = "") -> None:
    """A request that failed authentication: its one event is written at the end, as ``ResponseStarted``."""
    _evaluate(request, attrs, version, authenticated=False, user=None)
    ctx = _context(request)
    if ctx is not None:
        ctx.unauthenticated = True


def impersonating(request: web.Request, user: User) -> None:
    ctx = _context(request)
    if ctx is not None and ctx.decision is not None and ctx.decision.level >= Level.METADATA:
        ctx.event["impersonatedUser"] = _user_info(user)


def decided(request: web.Request, *, allowed: bool, reason: str = "") -> None:
    ctx = _context(request)
    if ctx is not None:
        ctx.annotations["authorization.k8s.io/decision"] = "allow" if allowed else "forbid"
        ctx.annotations["authorization.k8s.io/reason"] = reason


def request_object(request: web.Request, body: Any) -> None:
    """The decoded request body (object, patch or DeleteOptions), as the handler read it."""
    ctx = _context(request)
    if ctx is None or ctx.decision is None or ctx.decision.level < Level.METADATA:
        return
    ref = ctx.event.get("objectRef")
    meta = body.get("metadata") if isinstance(body, dict) else None
    if ref is not None and isinstance(meta, dict):
        for key in ("namespace", "name", "uid", "resourceVersion"):
            if not ref.get(key) and isinstance(meta.get(key), str) and meta[key]:
                ref[key] = meta[key]
    if ctx.decision.level >= Level.REQUEST:
        ctx.request_body = _without_managed_fields(body) if ctx.decision.omit_managed_fields else body


def _without_managed_fields(doc: Any) -> Any:
    if not isinstance(doc, dict):
        return doc
    copy = dict(doc)
    if isinstance(copy.get("metadata"), dict) and "managedFields" in copy["metadata"]:
        copy["metadata"] = {k: v for k, v in copy["metadata"].items() if k != "managedFields"}
    if isinstance(copy.get("items"), list):
        copy["items"] = [_without_managed_fields(item) for item in copy["items"]]
    return copy


def _emit(request: web.Request, stage: str) -> None:
    ctx = _context(request)
    state = state_of(request)
    if ctx is None or state.audit is None or ctx.decision is None or ctx.decision.level is Level.NONE:
        return
    if stage in ctx.decision.omit_stages:
        return
    event: dict[str, Any] = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": ctx.decision.level.wire,
                             "auditID": ctx.audit_id, "stage": stage, **ctx.event}
    if stage != "RequestReceived" and ctx.response_status is not None:
        event["responseStatus"] = ctx.response_status
    if ctx.request_body is not None:
        event["requestObject"] = ctx.request_body
    if stage == "ResponseComplete" and ctx.response_object is not None:
        event["responseObject"] = ctx.response_object
    event["requestReceivedTimestamp"] = clock.format_micro_time(ctx.received)
    event["stageTimestamp"] = clock.format_micro_time(ctx.received if stage == "RequestReceived" else clock.now())
    if stage != "RequestReceived" and ctx.annotations:
        event["annotations"] = dict(ctx.annotations)
    state.audit.log.write(event)


def _status_of(code: int, body: Any) -> dict[str, Any]:
    """responseStatus: the Status's bounded fields when the answer is one (LogResponseObject), else the code."""
    status: dict[str, Any] = {"metadata": {}}
    if isinstance(body, dict) and body.get("kind") == "Status":
        for key in ("status", "message", "reason", "details"):
            if body.get(key):
                status[key] = body[key]
    status["code"] = code
    return status


def _json_body(response: web.StreamResponse, *, only_status: bool) -> Any:
    """The answer's JSON document; with ``only_status``, only when it is a Status (the gateway writes
    ``kind`` first, as Go's encoder), so a Metadata-level event does not parse every object written."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return None
    if not response.content_type.endswith("json"):
        return None
    if only_status and not response.body.startswith(b'{"kind":"Status"'):
        return None
    try:
        return json.loads(response.body)
    except ValueError:
        return None


def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Headers about to go out: the ``Audit-Id`` header, and ``ResponseStarted`` of a long-running request."""
    ctx = _context(request)
    if ctx is None:
        return
    response.headers["Audit-Id"] = ctx.audit_id
    if ctx.long_running and not ctx.started and ctx.decision is not None:
        ctx.started = True
        ctx.response_status = _status_of(response.status, None)
        _emit(request, "ResponseStarted")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if state_of(request).audit is None:
        return await handler(request)
    ctx = AuditContext(audit_id=request.headers.get("Audit-ID", "").strip() or str(uuid.uuid4()), received=clock.now())
    request[AUDIT] = ctx
    body: Any = None
    code = 200
    try:
        try:
            response = await handler(request)
        except errors.ApiError as exc:
            code, body = exc.code, status_doc(exc)
            raise
        except web.HTTPException as exc:
            code = exc.status
            if code == 404:  # no route: the error middleware answers kube's NotFound Status
                body = status_doc(errors.resource_not_found())
            raise
        code = response.status
        if ctx.decision is not None and ctx.decision.level >= Level.METADATA:
            body = _json_body(response, only_status=ctx.decision.level < Level.REQUEST_RESPONSE)
            if ctx.decision.level >= Level.REQUEST_RESPONSE and body is not None:
                ctx.response_object = (_without_managed_fields(body) if ctx.decision.omit_managed_fields else body)
        return response
    except Exception:
        code = code if code != 200 else 500
        raise
    finally:
        if ctx.decision is not None:
            if ctx.response_status is None or not ctx.started or body is not None:
                ctx.response_status = _status_of(code, body)
            if ctx.unauthenticated:
                _emit(request, "ResponseStarted")
            else:
                if ctx.long_running and not ctx.started:
                    _emit(request, "ResponseStarted")
                _emit(request, "ResponseComplete")
