"""What every handler needs, as one typed application state (aiohttp AppKey)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from kubelite.etcd.client import EtcdClient
from kubelite.gateway.audit_log import AuditBackend
from kubelite.gateway.auth import TokenAuthenticator
from kubelite.gateway.client_certs import ClientCertVerifier
from kubelite.gateway.locks import KeyedLocks
from kubelite.gateway.metrics import GatewayMetrics
from kubelite.gateway.openapi import OpenAPIDocs
from kubelite.gateway.rbac_cache import RbacCache
from kubelite.auth.satokens import TokenSigner
from kubelite.client.events import EventLeases
from kubelite.gateway.watchhub import Subscription, WatchHubs
from kubelite.storage.store import Store
from kubelite.util.clock import now as clock_now

if TYPE_CHECKING:  # crds imports the handlers' modules, which import this one
    from kubelite.gateway.apiservices import LocalAPIServices
    from kubelite.gateway.crds import CrdRegistry


@dataclass(frozen=True)
class WatchSettings:
    bookmark_interval: float = 60.0
    default_timeout: float = 1800.0
    max_timeout: float = 3600.0


@dataclass
class GatewayState:
    client: EtcdClient
    store: Store
    metrics: GatewayMetrics
    openapi: OpenAPIDocs
    http: aiohttp.ClientSession
    hubs: WatchHubs
    authenticator: TokenAuthenticator | None = None
    agent_secret: str | None = None  # per-node agent tokens derive from it (kubelite.node.agent_auth)
    watch: WatchSettings = field(default_factory=WatchSettings)
    clock: Callable[[], datetime] = field(default=clock_now)
    open_watches: set[Subscription] = field(default_factory=set)
    write_locks: KeyedLocks = field(default_factory=KeyedLocks)
    rbac: RbacCache | None = None  # --authorization-mode RBAC
    sa_signer: TokenSigner | None = None  # --service-account-signing-key-file: TokenRequest and SA tokens
    client_ca: bool = False  # --client-ca-file: client certificates authenticate
    client_certs: ClientCertVerifier | None = None  # --client-ca-file: verifies presented certificates
    body_read_timeout: float = 60.0  # seconds for a whole request body (--request-body-timeout)
    bootstrapped: bool = False  # the default kubernetes Service written (kube's bootstrap-controller post-start hook)
    crds: CrdRegistry | None = None  # the custom resources served (started with the gateway)
    apiservices: LocalAPIServices | None = None  # the local APIServices' reconciler (started with the gateway)
    audit: AuditBackend | None = None  # --audit-log-path: the policy and the log (kubelite.gateway.audit)
    node_restriction: bool = True  # the NodeRestriction admission plugin (kubelite.gateway.noderestriction)
    plain_http_uid: int | None = None  # plain HTTP beside TLS for this Unix user's loopback clients (tlssniff)
    event_leases: EventLeases | None = None  # the leases created Events expire on (kube's --event-ttl); made on use


def event_leases_of(state: GatewayState) -> EventLeases:
    """The gateway's :class:`EventLeases` (one per gateway process)."""
    if state.event_leases is None:
        state.event_leases = EventLeases(state.store)
    return state.event_leases


STATE: web.AppKey[GatewayState] = web.AppKey("kubelite_gateway_state", GatewayState)


def state_of(request: web.Request) -> GatewayState:
    return request.app[STATE]
