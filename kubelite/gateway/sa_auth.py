"""ServiceAccount tokens in the gateway: TokenRequest (``serviceaccounts/token``), their
authentication, and the OIDC discovery documents (kube-apiserver's
``--service-account-signing-key-file``/``--service-account-issuer``; signing is
:mod:`kubelite.auth.satokens`).

A token authenticates as ``system:serviceaccount:<ns>:<name>`` in ``system:serviceaccounts``
and ``system:serviceaccounts:<ns>`` while its signature, issuer, audience and expiry hold, its
ServiceAccount still exists with the same uid and, for a pod-bound token, that pod still
exists with the same uid and is not being deleted; otherwise 401.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.api.resources import PODS, SERVICEACCOUNTS
from kubelite.gateway.auth import User
from kubelite.gateway import noderestriction
from kubelite.gateway.bodies import read_decoded
from kubelite.gateway.common import Target
from kubelite.gateway.respond import json_response
from kubelite.gateway.state import GatewayState, state_of
from kubelite.auth.satokens import DEFAULT_EXPIRATION, MAX_EXPIRATION, MIN_EXPIRATION, Binding, InvalidToken, TokenSigner
from kubelite.util import clock


async def _uid_of(state: GatewayState, res: Any, name: str, namespace: str) -> tuple[str, bool] | None:
    """(uid, being deleted) of an object, None when absent."""
    try:
        obj = await state.store.get(res, name, namespace)
    except errors.ApiError as exc:
        if exc.code == 404:
            return None
        raise
    return str(obj.metadata.uid or ""), obj.metadata.deletion_timestamp is not None


async def authenticate_token(state: GatewayState, signer: TokenSigner, token: str) -> User:
    try:
        claims = signer.verify(token)
    except InvalidToken:
        raise errors.unauthorized() from None
    private = claims["kubernetes.io"]
    namespace = str(private.get("namespace") or "")
    account = private["serviceaccount"]
    found = await _uid_of(state, SERVICEACCOUNTS, str(account.get("name") or ""), namespace)
    if found is None or found[0] != account.get("uid"):
        raise errors.unauthorized()
    pod = private.get("pod")
    if isinstance(pod, dict):
        bound = await _uid_of(state, PODS, str(pod.get("name") or ""), namespace)
        if bound is None or bound[0] != pod.get("uid") or bound[1]:
            raise errors.unauthorized()
    return User(str(claims["sub"]), str(account.get("uid") or ""),
                ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"))


async def _pod(state: GatewayState, name: str, namespace: str) -> Any:
    try:
        return await state.store.get(PODS, name, namespace)
    except errors.ApiError as exc:
        if exc.code == 404:
            return None
        raise


def _invalid(field: str, value: Any, message: str) -> errors.ApiError:
    return errors.invalid("TokenRequest", "", [errors.StatusCause(
        reason="FieldValueInvalid", message=f"Invalid value: {value!r}: {message}", field=field)],
        group="authentication.k8s.io")


async def token_request(request: web.Request, target: Target) -> web.StreamResponse:
    """POST .../serviceaccounts/NAME/token: a TokenRequest answered with its token (201)."""
    state = state_of(request)
    signer = state.sa_signer
    if signer is None:
        # kube-apiserver registers serviceaccounts/token only with a signing key: 404 as for any unserved path
        raise errors.resource_not_found()
    body, _ = await read_decoded(request, request.headers.get("Content-Type", "application/json"))
    spec = (body.get("spec") if isinstance(body, dict) else None) or {}
    if not isinstance(spec, dict):
        raise errors.bad_request("spec must be an object")
    seconds = spec.get("expirationSeconds", DEFAULT_EXPIRATION)
    if not isinstance(seconds, int) or seconds < MIN_EXPIRATION:
        raise _invalid("spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes")
    seconds = min(seconds, MAX_EXPIRATION)
    audiences = spec.get("audiences") or None
    namespace, name = target.namespace or "", target.name or ""
    account = await state.store.get(SERVICEACCOUNTS, name, namespace)  # 404 as kube-apiserver
    bound, found_pod = None, None
    ref = spec.get("boundObjectRef")
    if isinstance(ref, dict):
        if ref.get("kind") != "Pod":
            raise _invalid("spec.boundObjectRef.kind", ref.get("kind"), "kubelite binds tokens to Pods only")
        found_pod = await _pod(state, str(ref.get("name") or ""), namespace)
        if found_pod is None or (ref.get("uid") and ref["uid"] != found_pod.metadata.uid):
            raise errors.not_found("pods", str(ref.get("name") or ""))
        bound = Binding("Pod", str(ref.get("name")), str(found_pod.metadata.uid or ""))
    noderestriction.admit_token_request(request, name, ref, bound, found_pod)
    token, expires = signer.issue(namespace=namespace, name=name, uid=str(account.metadata.uid or ""),
                                  audiences=audiences, seconds=seconds, now=state.clock(), bound=bound)
    result_spec = {**spec, "audiences": list(audiences or signer.audiences), "expirationSeconds": seconds}
    if bound is not None:
        result_spec["boundObjectRef"] = {**spec["boundObjectRef"], "uid": bound.uid}
    return json_response({
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
        "spec": result_spec,
        "status": {"token": token, "expirationTimestamp": clock.format_time(expires)},
    }, status=201)


async def openid_configuration(request: web.Request) -> web.Response:
    signer = state_of(request).sa_signer
    if signer is None:
        raise web.HTTPNotFound()
    return json_response(signer.openid_configuration())


async def jwks(request: web.Request) -> web.Response:
    signer = state_of(request).sa_signer
    if signer is None:
        raise web.HTTPNotFound()
    return json_response(signer.jwks(), content_type="application/jwk-set+json")
