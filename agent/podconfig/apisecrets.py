"""Secrets read through the gateway, as the node (``--write-through-api``): the kubelet's
``Get``-strategy secret manager (``pkg/kubelet/secret``, ``ConfigMapAndSecretChangeDetectionStrategy:
Get``): a pod's Secrets are fetched before its volumes and containers are made, and a fetched Secret is
reused for ``ttl`` seconds (the kubelet's default TTL is one minute), so an update reaches the pod's
files and new containers at its next sync after that.

Why: the Node authorizer lets a node read only the Secrets its own pods use
(:mod:`kubelite.gateway.nodeauthz`), and a node's etcd role does not cover ``/registry/secrets/`` —
so a node holding no more than its own credentials learns no other pod's Secret, and it needs no
at-rest encryption key.

Lookups stay synchronous for the pure resolvers (:mod:`agent.podconfig.env`): :meth:`prefetch` fills the
cache, :meth:`lookup` reads it. A fetch that fails (the gateway unreachable) keeps what was fetched
before; a Secret that is gone (404) or refused (403) reads as missing, as the kubelet reports it
(``secret "x" not found``), and is fetched again at the next sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp

from kubelite.util.clock import monotonic as clock_monotonic

from agent.apiclient import GatewayConnection

log = logging.getLogger(__name__)

DEFAULT_TTL = 60.0  # seconds a fetched Secret is reused (the kubelet's default object TTL)
_ENVELOPE = ("apiVersion", "kind", "metadata")


class ApiSecrets:
    def __init__(self, api: GatewayConnection, *, ttl: float = DEFAULT_TTL,
                 monotonic: Callable[[], float] = clock_monotonic) -> None:
        self.api = api
        self.ttl = ttl
        self._monotonic = monotonic
        # (namespace, name) -> (monotonic fetch time, the Secret's fields without the envelope, or None)
        self._cache: dict[tuple[str, str], tuple[float, Mapping[str, Any] | None]] = {}

    def lookup(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The Secret's fields (``data``, ``type``...) as last fetched; None when missing or never fetched."""
        entry = self._cache.get((namespace, name))
        return entry[1] if entry is not None else None

    async def prefetch(self, namespace: str, names: Iterable[str]) -> None:
        """Fetch each Secret not fetched within ``ttl``; never raises for a Secret that cannot be had."""
        now = self._monotonic()
        for key in [k for k, (at, _) in self._cache.items() if now - at > 10 * self.ttl]:
            del self._cache[key]  # bounded: Secrets no pod has asked for in ten TTLs
        for name in names:
            entry = self._cache.get((namespace, name))
            if entry is not None and now - entry[0] < self.ttl:
                continue
            try:
                answer = await self.api.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("secret %s/%s: the gateway did not answer (%s); keeping what was fetched before",
                            namespace, name, exc)
                continue
            doc = answer.doc if isinstance(answer.doc, dict) else {}
            if answer.status == 200:
                self._cache[namespace, name] = (now, {k: v for k, v in doc.items() if k not in _ENVELOPE})
            elif answer.status in (403, 404):
                if answer.status == 403:
                    log.warning("secret %s/%s: %s", namespace, name, doc.get("message") or "forbidden")
                # missing reads as missing, and is asked again next time: a pod applied together with
                # its Secret starts as soon as the Secret is there, not a TTL later
                self._cache[namespace, name] = (float("-inf"), None)
            else:
                log.warning("secret %s/%s: HTTP %s from the gateway", namespace, name, answer.status)
