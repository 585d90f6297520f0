"""The review APIs: who am I, may I, may they, whose token is this — computed per request, never stored.

- ``authorization.k8s.io/v1`` SelfSubjectAccessReview (``kubectl auth can-i``),
  SelfSubjectRulesReview (``kubectl auth can-i --list``: every rule that applies to the caller in
  a namespace, as kube's ``RulesFor``), SubjectAccessReview (for another user; RBAC guards
  ``create subjectaccessreviews``) and LocalSubjectAccessReview (the same, in one namespace);
- ``authentication.k8s.io/v1`` SelfSubjectReview (``kubectl auth whoami``) and TokenReview.

Decisions come from the same RBAC policy as requests (:mod:`kubelite.auth.rbac`). Without
``--authorization-mode RBAC`` everything is allowed, as the gateway does. Without any
authenticator (plain HTTP on loopback) the caller is ``system:unsecured`` in
``system:masters``, as kube-apiserver's old insecure port treated its callers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.gateway import review_group
from kubelite.gateway.auth import UNSECURED, User
from kubelite.gateway.authz import USER, authenticated, decide
from kubelite.gateway.bodies import read_decoded
from kubelite.gateway.requestinfo import RequestInfo
from kubelite.gateway.respond import json_response
from kubelite.gateway.sa_auth import authenticate_token
from kubelite.gateway.state import state_of
from kubelite.auth.rbac import SUPERUSER_GROUP, Attributes, rules_for
from kubelite.auth.satokens import looks_like_jwt

# (group, plural) → (kind, namespaced)
KINDS = {(group, plural): (kind, namespaced) for group, plural, kind, namespaced in review_group.RESOURCES}
# kube's privileged-group authorizer's RulesFor (system:masters), and AlwaysAllow's
_ALL_RESOURCES = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
_ALL_PATHS = [{"verbs": ["*"], "nonResourceURLs": ["*"]}]


def serves(info: RequestInfo) -> bool:
    return info.version == review_group.VERSION and (info.group, info.resource) in KINDS


def _attributes(user: User, spec: dict[str, Any]) -> Attributes:
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return Attributes(user=user.name, groups=user.groups, verb=resource.get("verb") or "",
                          namespace=resource.get("namespace") or "", api_group=resource.get("group") or "",
                          resource=resource.get("resource") or "", subresource=resource.get("subresource") or "",
                          name=resource.get("name") or "")
    other = spec.get("nonResourceAttributes")
    if isinstance(other, dict):
        return Attributes(user=user.name, groups=user.groups, verb=other.get("verb") or "", resource_request=False,
                          path=other.get("path") or "")
    raise errors.invalid("SubjectAccessReview", "", [errors.StatusCause(
        reason="FieldValueRequired", message="Required value: exactly one of nonResourceAttributes or "
                                             "resourceAttributes must be specified", field="spec.resourceAttributes")])


async def _decide(request: web.Request, user: User, spec: dict[str, Any]) -> dict[str, Any]:
    attrs = _attributes(user, spec)
    rbac = state_of(request).rbac
    if rbac is None:
        return {"allowed": True, "reason": "the gateway authorizes every request (--authorization-mode AlwaysAllow)"}
    decision = await decide(state_of(request), attrs)  # Node, then RBAC: as the request itself would be
    return {"allowed": True, "reason": decision.reason} if decision.allowed else {"allowed": False}


def _user_info(user: User) -> dict[str, Any]:
    info: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    return info


def _rules_review(request: web.Request, user: User, spec: dict[str, Any]) -> dict[str, Any]:
    """kube's SelfSubjectRulesReview status: the resource and non-resource rules of every binding that
    applies to the user in ``spec.namespace`` (cluster-wide ones first), unmerged."""
    rbac = state_of(request).rbac
    if rbac is None or SUPERUSER_GROUP in user.groups:
        resource_rules, path_rules = list(_ALL_RESOURCES), list(_ALL_PATHS)
        if rbac is None:
            return {"resourceRules": resource_rules, "nonResourceRules": path_rules, "incomplete": False}
    else:
        resource_rules, path_rules = [], []
    namespace = spec.get("namespace") if isinstance(spec.get("namespace"), str) else ""
    for _, rule in rules_for(rbac.policy(), user.name, user.groups, namespace or ""):
        if rule.get("resources"):
            entry = {"verbs": list(rule.get("verbs") or []), "apiGroups": list(rule.get("apiGroups") or []),
                     "resources": list(rule.get("resources") or [])}
            if rule.get("resourceNames"):
                entry["resourceNames"] = list(rule["resourceNames"])
            resource_rules.append(entry)
        if rule.get("nonResourceURLs"):
            path_rules.append({"verbs": list(rule.get("verbs") or []),
                               "nonResourceURLs": list(rule["nonResourceURLs"])})
    return {"resourceRules": resource_rules, "nonResourceRules": path_rules, "incomplete": False}


def _local_review_checks(info: RequestInfo, meta: dict[str, Any], spec: dict[str, Any]) -> None:
    """LocalSubjectAccessReview: its namespace is the path's (kube's validation and REST storage)."""
    namespace = info.namespace or ""
    if meta.get("namespace") not in (None, "", namespace):
        raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
    causes = []
    if spec.get("nonResourceAttributes") is not None:
        causes.append(errors.StatusCause(reason="FieldValueForbidden", field="spec.nonResourceAttributes",
                                         message="Forbidden: disallowed on this kind of request"))
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict) and (resource.get("namespace") or "") != namespace:
        causes.append(errors.StatusCause(reason="FieldValueInvalid", field="spec.resourceAttributes.namespace",
                                         message=f"Invalid value: {resource.get('namespace') or ''!r}: must match "
                                                 f"metadata.namespace"))
    if causes:
        raise errors.invalid("LocalSubjectAccessReview", "", causes)


async def handle(request: web.Request, info: RequestInfo) -> web.StreamResponse:
    kind, namespaced = KINDS[(info.group, info.resource)]
    if namespaced != (info.namespace is not None):
        raise errors.resource_not_found()  # kube serves each at one scope only
    if info.verb != "create" or info.name is not None:
        raise errors.method_not_allowed(f"{info.verb} is not supported on {info.resource}: only create")
    body, _ = await read_decoded(request, request.headers.get("Content-Type", "application/json"))
    if not isinstance(body, dict):
        raise errors.bad_request(f"the body of a {kind} must be an object")
    caller = request.get(USER) or UNSECURED
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    if kind == "LocalSubjectAccessReview":
        _local_review_checks(info, meta, spec)
        meta = {**meta, "namespace": info.namespace}
    if kind == "SelfSubjectAccessReview":
        status = await _decide(request, caller, spec)
    elif kind == "SelfSubjectRulesReview":
        status = _rules_review(request, caller, spec)
    elif kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
        subject = User(spec.get("user") or "", spec.get("uid") or "", tuple(spec.get("groups") or ()))
        if not subject.name and not subject.groups:
            raise errors.invalid(kind, "", [errors.StatusCause(
                reason="FieldValueRequired", message="Required value: at least one of user or group must be "
                                                     "specified", field="spec.user")])
        status = await _decide(request, subject, spec)
    elif kind == "SelfSubjectReview":
        status = {"userInfo": _user_info(caller)}
    else:  # TokenReview
        status = await _token_review(request, spec)
    return json_response({"kind": kind, "apiVersion": f"{info.group}/v1", "metadata": {**meta,
                          "creationTimestamp": None}, "spec": spec, "status": status}, status=201)


async def _token_review(request: web.Request, spec: dict[str, Any]) -> dict[str, Any]:
    """Whose token is this: ServiceAccount tokens (signature, audience, expiry, account and pod still
    there) and ``--token-file`` tokens."""
    token = spec.get("token")
    state = state_of(request)
    if not isinstance(token, str) or not token:
        return {"authenticated": False}
    try:
        if state.sa_signer is not None and looks_like_jwt(token):
            user = await authenticate_token(state, state.sa_signer, token)
        elif state.authenticator is not None:
            user = state.authenticator.authenticate(f"Bearer {token}")
        else:
            return {"authenticated": False}
    except errors.ApiError:
        return {"authenticated": False, "error": "invalid bearer token"}
    return {"authenticated": True, "user": _user_info(authenticated(user)), "audiences": spec.get("audiences") or []}
