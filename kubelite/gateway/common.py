"""Helpers the verb handlers share: resolving the target, scope checks, Table negotiation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.gateway.catalog import Served, lookup
from kubelite.gateway.requestinfo import RequestInfo
from kubelite.gateway.state import state_of

INFO: web.RequestKey[RequestInfo] = web.RequestKey("kubelite_request_info", RequestInfo)


@dataclass(frozen=True)
class Target:
    """The resource a request addresses, checked against what the gateway serves."""

    served: Served
    info: RequestInfo

    @property
    def namespace(self) -> str | None:
        return self.info.namespace

    @property
    def name(self) -> str:
        return self.info.name or ""


def not_served(info: RequestInfo) -> errors.ApiError:
    """kube-apiserver's answer for a resource (or subresource, or scope) it does not serve."""
    return errors.resource_not_found()


def resolve(request: web.Request) -> Target:
    info = request[INFO]
    served = lookup(info.group, info.version, info.resource)
    crds = state_of(request).crds
    if served is None and crds is not None:
        served = crds.lookup(info.group, info.version, info.resource)
    if served is None:
        raise not_served(info)
    res = served.resource
    if not res.namespaced and info.namespace:
        raise not_served(info)
    if info.subresource and served.subresource(info.subresource) is None:
        raise not_served(info)
    if res.namespaced and info.name and not info.namespace:
        raise not_served(info)
    return Target(served, info)


def wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        media = part.replace(" ", "")
        if "as=Table" in media and "g=meta.k8s.io" in media:
            return True
        if media.startswith("application/json") and "as=" not in media:
            return False  # the client prefers plain JSON
    return False


def include_object(request: web.Request) -> str:
    value = request.query.get("includeObject", "Metadata") or "Metadata"
    if value not in ("None", "Metadata", "Object"):
        raise errors.bad_request(f"invalid includeObject {value!r}: must be None, Metadata or Object")
    return value


def list_kind(served: Served) -> str:
    return f"{served.resource.kind}List"


def list_doc(served: Served, items: list[dict[str, Any]], resource_version: str,
             continue_token: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {"kind": list_kind(served), "apiVersion": served.resource.api_version, "metadata": metadata,
            "items": items}
