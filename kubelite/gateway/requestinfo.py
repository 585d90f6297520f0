"""What an API request asks for, from its method and path alone (kube's RequestInfo).

``/apis/apps/v1/namespaces/default/deployments/web/scale`` → verb ``get``,
group ``apps``, version ``v1``, namespace ``default``, resource
``deployments``, name ``web``, subresource ``scale``. Pure, so the odd paths
(``/api/v1/namespaces/default`` is a namespace, ``/api/v1/watch/...``) are
unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_NAMESPACE_SUBRESOURCES = ("status", "finalize")
# Connect subresources open a stream into a pod: ``create`` whatever the method, so a GET (the
# WebSocket upgrade) needs the same permission as kubectl's POST (kube-apiserver 1.30+ checks the
# create verb for websocket upgrades of pods/exec, pods/attach and pods/portforward).
_CONNECT_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
_READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class RequestInfo:
    verb: str
    group: str
    version: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    proxy_path: str = ""  # ``.../pods/web:8080/proxy/<this>``: the path handed to the pod or service

    @property
    def is_read_only(self) -> bool:
        return self.verb in _READ_VERBS

    @property
    def resource_label(self) -> str:
        """For metrics: ``pods`` or ``pods/log``."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def is_truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def parse_request_info(method: str, path: str, query: Mapping[str, str], *,
                       for_authorization: bool = False) -> RequestInfo | None:
    """None when the path is not a resource path (discovery, health, unknown prefixes).

    ``for_authorization``: the attributes kube-apiserver authorizes a path by, which no route may
    serve: parts past the subresource are ignored and a trailing slash is dropped
    (``.../pods/web/status/x`` is ``get pods/status web``), so such a request is denied as the
    resource it names (403), not let through as a non-resource path and then found missing (404)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch_path = bool(rest) and rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    if not rest:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        # /namespaces/<ns>/<resource>... unless it is the namespace's own subresource
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:
            namespace = None
    proxy_path = ""
    if len(rest) > 3 and rest[2] == "proxy":  # /pods/<name[:port]>/proxy/<path...>: kube's proxy subresource
        proxy_path = "/" + "/".join(rest[3:]) + ("/" if path.endswith("/") else "")
        rest = rest[:3]
    elif len(rest) == 3 and rest[2] == "proxy":
        proxy_path = "/" if path.endswith("/") else ""
    elif len(rest) > 3:
        if not for_authorization:
            return None
        rest = rest[:3]
    if (path.endswith("/") and len(rest) > 1 and not (len(rest) == 3 and rest[2] == "proxy")
            and not for_authorization):
        return None  # `.../pods/web/`: no route of kube-apiserver matches (404)
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ("" if path.endswith("/") else None)
    subresource = rest[2] if len(rest) > 2 else None
    verb = _verb(method, has_name=name is not None, watch=watch_path or is_truthy(query.get("watch")))
    if subresource in _CONNECT_SUBRESOURCES and method.upper() in ("GET", "POST"):
        verb = "create"
    return RequestInfo(verb, group, version, resource, namespace, name, subresource, proxy_path)


def _verb(method: str, *, has_name: bool, watch: bool) -> str:
    method = method.upper()
    if method in ("GET", "HEAD"):
        if watch:
            return "watch"
        return "get" if has_name else "list"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
