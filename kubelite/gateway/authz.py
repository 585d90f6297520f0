"""Who is asking and may they: the gateway's authentication and authorization steps.

Authentication, in kube-apiserver's order: a verified x509 client certificate
(subject CN = user, each O = a group; the TLS layer asks for one and lets any through,
:mod:`kubelite.gateway.client_certs` verifies it against ``--client-ca-file`` here, so a
certificate from another CA or out of date is not believed: 401 unless a token authenticates), else an ``Authorization: Bearer`` token from ``--token-file``
(on a WebSocket upgrade without that header, the token may come as kube-apiserver's
``base64url.bearer.authorization.k8s.io.`` subprotocol: :func:`kubelite.gateway.auth.request_credentials`).
Every authenticated user is also in ``system:authenticated``. With neither and
authentication configured: 401.

Authorization: with ``--authorization-mode RBAC`` every request (resource or
non-resource path) goes through the Node authorizer (a node's reads of the Secrets, ConfigMaps,
claims and volumes its pods use: :mod:`kubelite.gateway.nodeauthz`) and then
:func:`kubelite.auth.rbac.authorize` on the informer-fed policy; 403 is worded as kube-apiserver's. Writes of Roles,
ClusterRoles and their bindings are also checked for escalation
(:func:`admit_write`). Without RBAC the old read-only group rule applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.api.resources import Resource
from kubelite.gateway import audit, nodeauthz
from kubelite.gateway.auth import User, request_credentials
from kubelite.gateway.requestinfo import RequestInfo
from kubelite.gateway.sa_auth import authenticate_token
from kubelite.gateway.proxy import VIA
from kubelite.gateway.state import GatewayState, state_of
from kubelite.gateway.tlssniff import plain_peer_uid
from kubelite.util.listen import is_loopback
from kubelite.auth.satokens import looks_like_jwt
from kubelite.auth.rbac import (
    AUTHENTICATED,
    SUPERUSER_GROUP,
    Attributes,
    Decision,
    Policy,
    authorize,
    cluster_role_rules,
    forbidden_message,
    uncovered,
    user_rules,
)

USER: web.RequestKey[User] = web.RequestKey("kubelite_user", User)
RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})


def peer_certificate(request: web.Request) -> bytes | None:
    """The client certificate the TLS handshake received (DER), verified or not; None without one."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return der if isinstance(der, bytes) and der else None


def authenticated(user: User) -> User:
    groups = user.groups if AUTHENTICATED in user.groups else (*user.groups, AUTHENTICATED)
    return User(user.name, user.uid, groups)


async def authenticate(request: web.Request) -> User | None:
    """The request's user; None when the gateway authenticates nobody (loopback without credentials)."""
    state = state_of(request)
    if state.plain_http_uid is not None:
        owner = local_owner(request, state.plain_http_uid)
        if owner is not None:
            return owner
    der = peer_certificate(request) if state.client_certs is not None else None
    if der is not None and state.client_certs is not None:
        cert_user = state.client_certs.user(der)  # None: not from the client CA, or out of date
        if cert_user is not None:
            return authenticated(cert_user)
    authorization = request_credentials(request.headers)  # the header, or a WebSocket's token subprotocol
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if state.sa_signer is not None and scheme.lower() == "bearer" and looks_like_jwt(token):
        return authenticated(await authenticate_token(state, state.sa_signer, token))
    if state.authenticator is not None:
        return authenticated(state.authenticator.authenticate(authorization))
    if state.client_ca or state.rbac is not None:  # credentials are required, and none was sent
        raise errors.unauthorized()
    # a signing key alone (kl up's plain-HTTP loopback) leaves anonymous callers unsecured, as before
    return None


def local_owner(request: web.Request, owner_uid: int) -> User | None:
    """The cluster's local owner on plain HTTP (kubelite.gateway.tlssniff): a loopback client whose
    socket ``owner_uid`` or root owns is ``kubelite:uid:<uid>`` in ``system:masters`` — that user can
    read the admin kubeconfig anyway. None for TLS and for other users' sockets.

    A browser runs as its user too, so a web page must not borrow this: the Host must be a loopback
    name (no DNS rebinding), an ``Origin``, when sent, this very origin (no cross-site request), and a
    ``Sec-Fetch-Site``, when sent, ``same-origin`` or ``none`` (a page elsewhere, even on another port of
    127.0.0.1, linking or embedding a GET sends no Origin), as ``kubectl proxy``'s ``--accept-hosts``
    guards its plain-HTTP port; else 403.
    """
    uid = plain_peer_uid(request.transport)
    if uid is None or uid not in (owner_uid, 0):
        return None
    if VIA.split(" ", 1)[1] in request.headers.get("Via", ""):
        # relayed by a gateway (nodes/proxy to a node endpoint someone pointed at this port): the
        # gateway's own uid is not the caller's
        return None
    host = request.headers.get("Host", "")
    origin = request.headers.get("Origin")
    hostname = host.rpartition(":")[0] if host.rpartition(":")[2].isdigit() else host
    if not is_loopback(hostname):
        raise errors.forbidden(f"plain HTTP is served to the local owner only for a loopback Host, not {host!r}: "
                               "use HTTPS with the kubeconfig's credentials")
    if origin is not None and origin != f"http://{host}":
        raise errors.forbidden(f"plain HTTP is not served to the web origin {origin!r}: use HTTPS with credentials")
    # a browser says where a request comes from even when it sends no Origin (a link, an <img>, a form GET):
    # only its own pages (the dashboard) and what the user typed or bookmarked may use the owner's rights
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise errors.forbidden(f"plain HTTP is not served to a {fetch_site} web request: use HTTPS with credentials")
    return authenticated(User(f"kubelite:uid:{uid}", groups=(SUPERUSER_GROUP,)))


def impersonated(request: web.Request, user: User) -> User:
    """The user named by ``Impersonate-User``/``Impersonate-Group`` (``kubectl --as/--as-group``), when the
    caller may ``impersonate`` those users and groups (kube's impersonation filter); else 403."""
    name = request.headers.get("Impersonate-User")
    groups = tuple(request.headers.getall("Impersonate-Group", ()))
    if not name:
        if groups:
            raise errors.bad_request("requested impersonation of groups without impersonating a user")
        return user
    state = state_of(request)
    if state.rbac is not None:
        for resource, wanted in (("users", name), *(("groups", g) for g in groups)):
            attrs = Attributes(user=user.name, groups=user.groups, verb="impersonate", resource=resource,
                               name=wanted)
            if not authorize(state.rbac.policy(), attrs).allowed:
                raise errors.forbidden(f'{resource} "{wanted}" is forbidden: User "{user.name}" cannot impersonate '
                                       f'resource "{resource}" in API group "" at the cluster scope',
                                       kind=resource, name=wanted)
    user = authenticated(User(name, groups=groups))
    audit.impersonating(request, user)
    return user


def attributes(user: User, info: RequestInfo | None, method: str, path: str) -> Attributes:
    if info is None:
        verb = "get" if method in ("GET", "HEAD") else method.lower()
        return Attributes(user=user.name, groups=user.groups, verb=verb, resource_request=False, path=path)
    namespace = info.namespace or ""
    if info.resource == "namespaces" and info.name and not namespace:
        namespace = info.name  # kube's RequestInfo: a namespace's own path is in that namespace
    return Attributes(user=user.name, groups=user.groups, verb=info.verb, namespace=namespace,
                      api_group=info.group, resource=info.resource, subresource=info.subresource or "",
                      name=info.name or "", path=path)


async def decide(state: GatewayState, attrs: Attributes) -> Decision:
    """``--authorization-mode Node,RBAC``, as kubeadm configures kube-apiserver: the Node authorizer
    (a node's reads of what its pods use, :mod:`kubelite.gateway.nodeauthz`), then RBAC. Needs RBAC on."""
    if state.rbac is None:
        return Decision(True, "the gateway authorizes every request (--authorization-mode AlwaysAllow)")
    by_graph = await nodeauthz.decide(state.store, attrs)
    if by_graph is not None:
        return by_graph
    return authorize(state.rbac.policy(), attrs)


async def check_request(request: web.Request, user: User, info: RequestInfo | None) -> None:
    """Raise 403 unless the user may make this request."""
    state = state_of(request)
    if state.rbac is None:
        try:
            if state.authenticator is not None:  # the read-only group of the token file
                if info is not None:
                    state.authenticator.authorize(user, verb=info.verb, resource=info.resource_label,
                                                  group=info.group, namespace=info.namespace)
                elif request.method not in ("GET", "HEAD"):
                    state.authenticator.authorize(user, verb=request.method.lower(), resource=request.path,
                                                  group="", namespace=None)
        except errors.ApiError as exc:
            audit.decided(request, allowed=False, reason=str(exc))
            raise
        audit.decided(request, allowed=True)
        return
    attrs = attributes(user, info, request.method, request.path)
    decision = await decide(state, attrs)
    audit.decided(request, allowed=decision.allowed, reason=decision.reason)
    if not decision.allowed:
        raise errors.forbidden(forbidden_message(attrs) + nodeauthz.denial_detail(attrs), kind=attrs.resource,
                               name=attrs.name, group=attrs.api_group)


def _rule_text(rule: Mapping[str, Any]) -> str:
    parts = []
    for key, label in (("apiGroups", "APIGroups"), ("resources", "Resources"), ("resourceNames", "ResourceNames"),
                       ("nonResourceURLs", "NonResourceURLs"), ("verbs", "Verbs")):
        if rule.get(key):
            parts.append(f"{label}:[{' '.join(repr(v).replace(chr(39), chr(34)) for v in rule[key])}]")
    return "{" + ", ".join(parts) + "}"


def escalation_error(policy: Policy, user: User, res: Resource, doc: dict[str, Any]) -> errors.ApiError | None:
    """403 when writing ``doc`` (a Role, ClusterRole or binding) would grant ``user`` rights they lack
    (kube's ``escalate``/``bind`` verbs exempt; ``pkg/registry/rbac``); None when allowed."""
    meta = doc.get("metadata") or {}
    namespace = meta.get("namespace") or "" if res.namespaced else ""
    name = meta.get("name") or ""
    base = Attributes(user=user.name, groups=user.groups, namespace=namespace, api_group=res.group,
                      resource=res.plural, name=name)
    if res.kind in ("Role", "ClusterRole"):
        if authorize(policy, Attributes(**{**base.__dict__, "verb": "escalate"})).allowed:
            return None
        requested = list(doc.get("rules") or [])
        if res.kind == "ClusterRole" and doc.get("aggregationRule"):
            requested = []  # its rules are written by aggregation, not by the user (kube skips the check)
    else:
        ref = doc.get("roleRef") or {}
        ref_res = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
        bind = Attributes(user=user.name, groups=user.groups, verb="bind", namespace=namespace,
                          api_group="rbac.authorization.k8s.io", resource=ref_res, name=ref.get("name") or "")
        if authorize(policy, bind).allowed:
            return None
        if ref.get("kind") == "ClusterRole":
            requested = cluster_role_rules(policy, ref.get("name") or "")
        else:
            role = policy.roles.get((namespace, ref.get("name") or ""))
            requested = list(role.get("rules") or []) if role else []
    missing = uncovered(user_rules(policy, user.name, user.groups, namespace), requested)
    if not missing:
        return None
    what = f'{res.plural}.{res.group} "{name}"'
    return errors.forbidden(
        f'{what} is forbidden: user "{user.name}" (groups={list(user.groups)}) is attempting to grant RBAC '
        f"permissions not currently held:\n" + "\n".join(_rule_text(r) for r in missing))


def admit_write(request: web.Request, res: Resource, obj: Any) -> None:
    """Before a create or update reaches etcd: refuse RBAC escalation (403)."""
    state = state_of(request)
    user = request.get(USER)
    if state.rbac is None or user is None or res.kind not in RBAC_KINDS:
        return
    if "system:masters" in user.groups:
        return
    problem = escalation_error(state.rbac.policy(), user, res, obj.to_dict())
    if problem is not None:
        raise problem
