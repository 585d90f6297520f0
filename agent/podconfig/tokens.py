"""ServiceAccount tokens for ``serviceAccountToken`` projections: the kubelet's token manager
(``pkg/kubelet/token/token_manager.go``) and the TokenRequest it makes.

The agent never holds the signing key: it asks the gateway, ``POST /api/v1/namespaces/NS/
serviceaccounts/SA/token`` with ``boundObjectRef`` the pod (name and uid), the projection's
audience and ``expirationSeconds`` (default 3600), authenticated as its node
(``system:node:<name>`` by a client certificate; the gateway allows a node tokens only for pods
bound to it). A token is reused until 80 % of its lifetime has passed or it is 24 h old (each
less a random jitter of up to 10 s), then fetched again; when the refetch fails, the old token
is kept while it is valid. The volume manager re-writes the file at the pod's next sync, so it
changes at most one resync period (30 s) after that point.

HTTP client: aiohttp, through the node's one connection (:mod:`agent.apiclient`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import aiohttp

from agent.apiclient import GatewayConnection

from kubelite.util.clock import now as clock_now
from kubelite.util.clock import parse_time

DEFAULT_EXPIRATION = 3600  # seconds: the projection's default (pkg/apis/core/v1 defaults)
MAX_TTL = timedelta(hours=24)
MAX_JITTER = 10.0  # seconds


class TokenError(Exception):
    """No token could be obtained (the message says why, as the kubelet's "failed to fetch token")."""


@dataclass(frozen=True)
class TokenKey:
    namespace: str
    account: str
    pod: str
    pod_uid: str
    audience: str  # "" = the API's own audiences
    seconds: int


@dataclass(frozen=True)
class Issued:
    token: str
    expires: datetime
    seconds: int  # the lifetime the gateway granted


class TokenRequester(Protocol):
    async def request(self, key: TokenKey) -> Issued: ...


def requires_refresh(issued: Issued, now: datetime, jitter: float) -> bool:
    """The kubelet's rule: older than 24 h, or within 20 % of its lifetime of expiring (less jitter s)."""
    issued_at = issued.expires - timedelta(seconds=issued.seconds)
    slack = timedelta(seconds=jitter)
    if now > issued_at + MAX_TTL - slack:
        return True
    return now > issued.expires - timedelta(seconds=issued.seconds * 20 // 100) - slack


class TokenManager:
    """Cached tokens per (pod, account, audience, lifetime); ``get`` fetches or refreshes."""

    def __init__(self, requester: TokenRequester, *, clock: Callable[[], datetime] = clock_now,
                 jitter: Callable[[], float] = lambda: random.random() * MAX_JITTER) -> None:  # noqa: S311 - jitter
        self.requester = requester
        self.clock = clock
        self.jitter = jitter
        self._cache: dict[TokenKey, Issued] = {}
        self.requests = 0  # TokenRequests made (for tests and metrics)

    async def get(self, key: TokenKey) -> str:
        cached = self._cache.get(key)
        now = self.clock()
        if cached is not None and not requires_refresh(cached, now, self.jitter()):
            return cached.token
        try:
            self.requests += 1
            fresh = await self.requester.request(key)
        except TokenError:
            if cached is not None and now < cached.expires:
                return cached.token  # the kubelet keeps a still-valid token when the refresh fails
            raise
        self._cache[key] = fresh
        return fresh.token

    def forget(self, pod_uid: str) -> None:
        """Drop the tokens of a pod that is gone."""
        for key in [k for k in self._cache if k.pod_uid == pod_uid]:
            del self._cache[key]


def _parse_time(text: str) -> datetime:
    return parse_time(text)


class GatewayTokenRequester:
    """TokenRequests to the gateway, as this node (:class:`agent.apiclient.GatewayConnection`)."""

    def __init__(self, connection: GatewayConnection) -> None:
        self.connection = connection

    async def request(self, key: TokenKey) -> Issued:
        path = f"/api/v1/namespaces/{key.namespace}/serviceaccounts/{key.account}/token"
        spec: dict[str, object] = {"expirationSeconds": key.seconds,
                                   "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": key.pod,
                                                      "uid": key.pod_uid}}
        if key.audience:
            spec["audiences"] = [key.audience]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        try:
            response = await self.connection.request("POST", path, body=body)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TokenError(f"failed to fetch token: {type(exc).__name__}: {exc}") from None
        doc = response.doc
        if response.status != 201 or not isinstance(doc, dict):
            message = doc.get("message") if isinstance(doc, dict) else None
            raise TokenError(f"failed to fetch token: {message or f'HTTP {response.status}'}")
        status, granted = doc.get("status") or {}, (doc.get("spec") or {}).get("expirationSeconds", key.seconds)
        try:
            return Issued(str(status["token"]), _parse_time(str(status["expirationTimestamp"])), int(granted))
        except (KeyError, ValueError, TypeError):
            raise TokenError("failed to fetch token: the TokenRequest's answer has no token") from None
