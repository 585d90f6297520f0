"""The gateway process: aiohttp app, middlewares (errors, metrics, auth), routes, lifecycle.

``Gateway(config)`` does no I/O; ``await start()`` connects to etcd, ensures
the system namespaces and listens; ``await stop()`` ends watch streams and
undoes the rest in reverse order. Stateless: any number may run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import math
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from kubelite.api import errors
from kubelite.api.resources import APISERVICES, CUSTOMRESOURCEDEFINITIONS, NAMESPACES
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.etcd.compaction import DEFAULT_INTERVAL, Compactor
from kubelite.etcd.client import EtcdClient, EtcdConfig, connect
from kubelite.etcd.ops import prefix_end, range_
from kubelite.etcd.metrics import observe_etcd_requests
from kubelite.gateway import (
    audit,
    delete,
    discovery,
    hpa_v1,
    logs,
    metrics_api,
    metrics_group,
    protobuf,
    proxy,
    read,
    reviews,
    sa_auth,
    streaming,
    subresources,
    ui,
    watchstream,
    write,
)
from kubelite.gateway.audit_log import AuditBackend, AuditLog, AuditLogOptions
from kubelite.gateway.audit_policy import DEFAULT_POLICY, PolicyError, load_policy_file
from kubelite.gateway.auth import ANONYMOUS, READONLY_GROUP, UNSECURED, TokenAuthenticator, TokenFileError
from kubelite.gateway.authz import USER, attributes, authenticate, check_request, impersonated
from kubelite.gateway.bodies import MAX_BODY_BYTES
from kubelite.gateway.catalog import SERVED, Served
from kubelite.gateway.apiservices import LocalAPIServices, builtin_group_versions
from kubelite.gateway.client_certs import ClientCertVerifier, request_client_certificates
from kubelite.gateway.kubernetes_service import KubernetesService
from kubelite.gateway.common import INFO, Target, resolve
from kubelite.gateway.crds import CrdRegistry, delete_custom_resources_of
from kubelite.gateway.options import dry_run
from kubelite.gateway.metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from kubelite.gateway.openapi import V2_PROTOBUF, V2_PROTOBUF_ACCEPT, build_docs, custom_documents
from kubelite.gateway.rbac_cache import RbacCache
from kubelite.gateway.requestinfo import RequestInfo, parse_request_info
from kubelite.gateway.respond import as_protobuf, error_response, json_response, prefers_protobuf
from kubelite.gateway.state import STATE, GatewayState, WatchSettings, state_of
from kubelite.gateway.tlssniff import SniffingSite
from kubelite.gateway.watchhub import WatchHubs
from kubelite.util.listen import is_loopback, start_site
from kubelite.auth.rbac_bootstrap import ensure_default_policy
from kubelite.auth.satokens import DEFAULT_ISSUER, TokenSigner
from kubelite.registry.service_alloc import ServiceAllocator, ServiceRanges
from kubelite.storage.store import Store
from kubelite.registry.strategy import Admission

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
Handler = Callable[[web.Request, Target], Awaitable[web.StreamResponse]]

HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("get", None): read.get_object,
    ("get", "status"): read.get_object,
    ("list", None): read.list_objects,
    ("watch", None): watchstream.watch_objects,
    ("create", None): write.create,
    ("update", None): write.update,
    ("update", "status"): write.update,
    ("update", "finalize"): write.update,  # namespaces: only spec.finalizers changes
    ("get", "approval"): read.get_object,  # certificatesigningrequests: only status.conditions changes
    ("update", "approval"): write.update,
    ("patch", "approval"): write.patch,
    ("patch", None): write.patch,
    ("patch", "status"): write.patch,
    ("delete", None): delete.delete,
    ("deletecollection", None): delete.delete_collection,
    ("get", "scale"): subresources.get_scale,
    ("update", "scale"): subresources.write_scale,
    ("patch", "scale"): subresources.write_scale,
    ("create", "eviction"): subresources.evict,
    ("create", "binding"): subresources.bind,
    ("get", "log"): logs.pod_log,
    ("create", "exec"): streaming.connect_pod,
    ("create", "attach"): streaming.connect_pod,
    ("create", "portforward"): streaming.connect_pod,
    ("create", "token"): sa_auth.token_request,
    **{(verb, "proxy"): proxy.proxy for verb in ("get", "create", "update", "patch", "delete")},
}


@dataclass(frozen=True)
class GatewayConfig:
    etcd: EtcdConfig = field(default_factory=EtcdConfig)
    host: str = "127.0.0.1"
    port: int = 8080
    token_file: Path | None = None
    readonly_group: str = READONLY_GROUP
    agent_secret_file: Path | None = None  # the agent secret: each node's agent gets HMAC(secret, node)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    service_account_key_file: Path | None = None  # signs TokenRequest tokens and verifies them (EC P-256 PEM)
    service_account_issuer: str = DEFAULT_ISSUER
    client_ca_file: Path | None = None  # x509 client certificates signed by this CA authenticate (needs TLS)
    authorization_mode: str = "AlwaysAllow"  # or "RBAC" (kube-apiserver's --authorization-mode)
    watch: WatchSettings = field(default_factory=WatchSettings)
    compaction_interval: float = DEFAULT_INTERVAL  # seconds; 0: this gateway does not compact etcd
    # Slow clients (slowloris): a request's headers must be complete this many seconds after the
    # connection opened or its previous response (kube-apiserver's ReadHeaderTimeout, 32 s) — an idle
    # keep-alive connection is closed after as long — and its body must arrive within the other.
    request_header_timeout: float = 32.0
    request_body_timeout: float = 60.0
    admission: Admission = field(default_factory=Admission)  # DefaultTolerationSeconds flags
    service_ranges: ServiceRanges = field(default_factory=ServiceRanges)  # --service-cluster-ip-range, node ports
    advertise_address: str | None = None  # the kubernetes Service's endpoint (served too); default: the listen host
    audit: AuditLogOptions = field(default_factory=AuditLogOptions)  # --audit-log-path, --audit-policy-file
    node_restriction: bool = True  # NodeRestriction admission (--disable-admission-plugins NodeRestriction: off)
    # With TLS: plain HTTP on the same port from loopback clients whose socket this Unix user (or root)
    # owns, as a cluster admin (kubelite.gateway.tlssniff; kl up passes its own uid)
    plain_http_uid: int | None = None

    @property
    def extra_listen_host(self) -> str | None:
        """The advertise address when the listen host does not cover it: the gateway serves there too
        (the kubernetes Service's endpoint must answer; e.g. the Docker bridge for pods)."""
        address = self.advertise_address
        if not address or address == self.host or self.host in ("0.0.0.0", "::", ""):
            return None
        return address

    def check(self) -> None:
        """Refuse an unauthenticated gateway on a non-loopback address."""
        if self.plain_http_uid is not None and self.tls_cert is None:
            raise ValueError("--plain-http-uid needs --tls-cert/--tls-key: without TLS every client speaks plain HTTP")
        for host in (self.host, self.extra_listen_host):
            if host and self.token_file is None and self.client_ca_file is None and not is_loopback(host):
                raise ValueError(f"refusing to listen on {host} without --token-file: anyone who can reach it "
                                 "could change the cluster; listen on 127.0.0.1 or give a token file")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.client_ca_file is not None and self.tls_cert is None:
            raise ValueError("--client-ca-file needs --tls-cert/--tls-key: client certificates come with TLS")
        if self.authorization_mode not in ("AlwaysAllow", "RBAC"):
            raise ValueError(f"--authorization-mode must be AlwaysAllow or RBAC, not {self.authorization_mode!r}")
        if (self.authorization_mode == "RBAC" and self.token_file is None and self.client_ca_file is None
                and self.service_account_key_file is None):
            raise ValueError("--authorization-mode RBAC needs an authenticator: --token-file or --client-ca-file")
        self.audit.check()
        for flag, value in (("--request-header-timeout", self.request_header_timeout),
                            ("--request-body-timeout", self.request_body_timeout)):
            if not 0 < value < math.inf:
                raise ValueError(f"{flag} must be a positive number of seconds, not {value}")


@contextlib.contextmanager
def _file_flag(flag: str) -> Iterator[None]:
    """A flag's file that cannot be read (missing, a directory, no permission) is the user's
    mistake: TokenFileError, one line naming the flag, not an OSError traceback."""
    try:
        yield
    except OSError as exc:  # ssl.SSLError too: a file that is not a certificate or key, or a mismatch
        what = f"{flag} {exc.filename}" if exc.filename else flag
        reason = ("not a PEM certificate and its matching private key" if isinstance(exc, ssl.SSLError)
                  else exc.strerror or str(exc))
        raise TokenFileError(f"{what}: {reason}") from None


def _advertised(host: str) -> str:
    """The listen host as an endpoint address (an IP; a wildcard or a name → 127.0.0.1)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1"
    return "127.0.0.1" if ip.is_unspecified else str(ip)


def _request_labels(request: web.Request) -> tuple[str, str]:
    info = request.get(INFO)
    if info is not None:
        return info.verb, info.resource_label
    path = request.path
    if path in OPEN_PATHS:
        return request.method.lower(), "health"
    for prefix, label in (("/openapi", "openapi"), ("/metrics", "metrics"), ("/api", "discovery"),
                          ("/version", "discovery")):
        if path.startswith(prefix):
            return request.method.lower(), label
    return request.method.lower(), "other"


@web.middleware
async def errors_and_metrics(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    # perf_counter, not kubelite.util.clock: a latency histogram wants the finest interval clock (as
    # prometheus_client times with), and a fake clock would stop request latencies, not steer them.
    started = time.perf_counter()
    info = parse_request_info(request.method, request.path, request.query)
    if info is not None:
        request[INFO] = info
    code = 500
    try:
        response = await handler(request)
        if prefers_protobuf(request.headers.get("Accept", "")):
            response = as_protobuf(response)
        code = response.status
        return response
    except errors.ApiError as exc:
        code = exc.code
        return error_response(exc)
    except web.HTTPException as exc:
        code = exc.status
        if exc.status == 404:
            return error_response(errors.resource_not_found())
        if exc.status == 405:
            return error_response(errors.method_not_allowed(f"method {request.method} is not allowed on {request.path}"))
        if exc.status == 413:
            return error_response(errors.too_large(f"the request body is larger than {MAX_BODY_BYTES} bytes"))
        if exc.status >= 400:  # any other error aiohttp raises is a Status too, never a text page
            return error_response(errors.ApiError(errors.Status(code=exc.status, reason=None, message=exc.text or exc.reason)))
        raise
    except asyncio.CancelledError:
        code = 499
        raise
    except Exception as exc:
        log.exception("request %s %s failed", request.method, request.path)
        return error_response(errors.internal(f"{type(exc).__name__}: {exc}"))
    finally:
        verb, resource = _request_labels(request)
        elapsed = time.perf_counter() - started
        state_of(request).metrics.observe(verb, resource, code, elapsed)
        if info is not None:
            state_of(request).metrics.observe_api(
                info, apply=request.headers.get("Content-Type", "").startswith("application/apply-patch"),
                code=code, seconds=elapsed)


@web.middleware
async def authentication(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    info = request.get(INFO)  # None for an odd path no route serves: authorized as kube sees it all the same
    info = info or parse_request_info(request.method, request.path, request.query, for_authorization=True)
    version = info.version if info is not None else ""
    if request.path in OPEN_PATHS or ui.is_ui_path(request.path):  # /ui/: static files
        audit.begin(request, ANONYMOUS, attributes(ANONYMOUS, info, request.method, request.path), version)
        audit.decided(request, allowed=True)
        return await handler(request)
    try:
        user = await authenticate(request)  # kubelite.gateway.authz: certificate, then token; 401 when required
    except errors.ApiError as exc:
        if exc.code == 401:
            audit.unauthenticated(request, attributes(ANONYMOUS, info, request.method, request.path), version)
        raise
    audited = user if user is not None else UNSECURED
    audit.begin(request, audited, attributes(audited, info, request.method, request.path), version)
    if user is not None:
        user = impersonated(request, user)
        request[USER] = user
        await check_request(request, user, info)
    else:
        audit.decided(request, allowed=True)
    return await handler(request)


async def handle_resource(request: web.Request) -> web.StreamResponse:
    info = request.get(INFO)
    if info is None:
        raise web.HTTPNotFound()
    if info.group == metrics_group.GROUP:  # served from the agents' samples, not etcd
        return await metrics_api.handle(request, info)
    if reviews.serves(info):  # access and token reviews: computed, never stored
        return await reviews.handle(request, info)
    if hpa_v1.serves(info):  # a view of the stored autoscaling/v2 objects
        return await hpa_v1.handle(request, info)
    crds = state_of(request).crds
    try:
        target = resolve(request)
    except errors.ApiError as exc:  # perhaps a CRD another gateway just stored: read them, then decide
        if exc.code != 404 or crds is None:
            raise
        await crds.refresh()
        target = resolve(request)
    if info.name == "":  # `.../deployments/`: an object path without a name, as kube-apiserver sees it
        raise errors.bad_request("name must be provided")
    if info.subresource is None and info.verb not in target.served.verbs:
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    handler = HANDLERS.get((info.verb, info.subresource))
    if handler is None:
        what = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        raise errors.method_not_allowed(f"{info.verb} is not supported on {what}")
    if target.served.resource is CUSTOMRESOURCEDEFINITIONS and crds is not None and info.verb not in _READS:
        return await _crd_write(request, target, handler, crds)
    if target.served.resource is APISERVICES and info.verb not in _READS:
        response = await handler(request, target)
        await _reconcile_apiservices(request)  # a deleted local one is back before the answer, as its cause
        return response
    return await handler(request, target)


_READS = frozenset({"get", "list", "watch"})


async def _crd_write(request: web.Request, target: Target, handler: Handler, crds: CrdRegistry) -> web.StreamResponse:
    """A CRD write: a delete first deletes the CRD's custom resources (kube's CRD finalizer does it
    before the CRD goes); afterwards this gateway serves what the CRDs now say, before answering."""
    if target.info.verb in ("delete", "deletecollection") and not dry_run(request.query):
        await delete_custom_resources_of(request, target)
    response = await handler(request, target)
    await crds.refresh()
    await _reconcile_apiservices(request)  # the CRD's APIServices within its request, not after its answer
    return response


async def _reconcile_apiservices(request: web.Request) -> None:
    apiservices = state_of(request).apiservices
    if apiservices is None:
        return
    try:
        await apiservices.reconcile()
    except errors.ApiError as exc:  # the request's own write is done; the reconciler's next round retries
        log.warning("local APIServices not reconciled after a write: %s", exc)


# -- discovery, OpenAPI, health, metrics ---------------------------------------------

def _discovery_response(request: web.Request, document: dict[str, object] | None, *,
                        core: bool | None = None) -> web.Response:
    aggregated = discovery.wants_aggregated(request.headers.get("Accept", "")) if core is not None else None
    if aggregated is not None and core is not None:
        version = "apidiscovery.k8s.io/v2beta1" if "v2beta1" in aggregated else "apidiscovery.k8s.io/v2"
        doc = discovery.aggregated_discovery(core=core, api_version=version, custom=_custom(request))
        response = json_response(doc, content_type=aggregated)
        response.headers["Etag"] = discovery.etag(doc)
        return response
    if document is None:
        raise web.HTTPNotFound()
    return json_response(document)


def _custom(request: web.Request) -> list[Served]:
    crds = state_of(request).crds
    return crds.served() if crds is not None else []


async def version(request: web.Request) -> web.Response:
    # the first call may ask git for the checkout's commit (then cached): off the event loop
    return json_response(await asyncio.to_thread(discovery.version_info))


async def core_api(request: web.Request) -> web.Response:
    return _discovery_response(request, discovery.api_versions(request.host), core=True)


async def core_v1(request: web.Request) -> web.Response:
    return _discovery_response(request, discovery.api_resource_list("", "v1"))


async def api_groups(request: web.Request) -> web.Response:
    return _discovery_response(request, discovery.api_group_list(_custom(request)), core=False)


async def api_group(request: web.Request) -> web.Response:
    return _discovery_response(request, discovery.api_group(request.match_info["group"], _custom(request)))


async def group_version(request: web.Request) -> web.Response:
    return _discovery_response(request, discovery.api_resource_list(
        request.match_info["group"], request.match_info["version"], _custom(request)))


async def openapi_v3_root(request: web.Request) -> web.Response:
    custom = custom_documents(_custom(request))
    if not custom:
        return web.Response(body=state_of(request).openapi.root, content_type="application/json")
    root = json.loads(state_of(request).openapi.root)
    root["paths"].update({p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"} for p, (_, h) in custom.items()})
    return json_response(root)


async def openapi_v3_document(request: web.Request) -> web.Response:
    path = request.match_info["path"].strip("/")
    found = state_of(request).openapi.by_path.get(path) or custom_documents(_custom(request)).get(path)
    if found is None:
        raise web.HTTPNotFound()
    body, digest = found
    headers = {"Etag": f'"{digest}"'}
    if request.query.get("hash") == digest:
        headers["Cache-Control"] = "public, immutable"
    return web.Response(body=body, content_type="application/json", headers=headers)


async def openapi_v2(request: web.Request) -> web.Response:
    docs = state_of(request).openapi
    if request.headers.get("Accept", "").split(",")[0].strip() in (V2_PROTOBUF_ACCEPT, V2_PROTOBUF):
        return web.Response(body=docs.v2_protobuf, headers={"Content-Type": V2_PROTOBUF})
    return web.Response(body=docs.v2_json, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    state = state_of(request)
    prefix = NAMESPACES.prefix()
    try:
        await range_(state.client, prefix, range_end=prefix_end(prefix), count_only=True, what="readyz")
    except errors.ApiError as exc:
        return web.Response(status=500, text=f"[-]etcd failed: {exc}\nreadyz check failed\n")
    if not state.bootstrapped:
        return web.Response(status=500, text="[-]poststarthook/bootstrap-controller failed: not finished\n"
                                             "readyz check failed\n")
    return web.Response(text="ok")


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=state_of(request).metrics.render())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


DISCOVERY_ROUTES = (
    ("/version", version), ("/api", core_api), ("/api/v1", core_v1), ("/apis", api_groups),
    ("/apis/{group}", api_group), ("/apis/{group}/{version}", group_version),
)


def build_app(state: GatewayState) -> web.Application:
    app = web.Application(middlewares=[errors_and_metrics, audit.audit_middleware, authentication],
                          client_max_size=MAX_BODY_BYTES + 1)
    app[STATE] = state

    async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
        audit.on_response_prepare(request, response)

    app.on_response_prepare.append(on_response_prepare)
    r = app.router
    r.add_get("/healthz", healthz)
    r.add_get("/livez", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/metrics", metrics)
    r.add_get("/openapi/v2", openapi_v2)
    r.add_get("/.well-known/openid-configuration", sa_auth.openid_configuration)
    r.add_get("/openid/v1/jwks", sa_auth.jwks)
    r.add_get("/openapi/v3", openapi_v3_root)
    r.add_get("/openapi/v3/{path:.+}", openapi_v3_document)
    # kube-apiserver serves discovery with and without a trailing slash (some clients ask for /version/)
    for path, discovery_handler in DISCOVERY_ROUTES:
        r.add_get(path, discovery_handler)
        r.add_get(f"{path}/", discovery_handler)
    r.add_route("*", "/api/{tail:.+}", handle_resource)
    r.add_route("*", "/apis/{tail:.+}", handle_resource)
    ui.register(r)  # the dashboard's static files at /ui/

    async def on_shutdown(app: web.Application) -> None:
        watchstream.close_all(app[STATE])

    app.on_shutdown.append(on_shutdown)
    return app


class Gateway:
    """One gateway process's server: start() / stop(), ``url`` once started."""

    def __init__(self, config: GatewayConfig, *, client: EtcdClient | None = None) -> None:
        config.check()
        self.config = config
        self._given_client = client
        self._client: EtcdClient | None = None
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.compactor: Compactor | None = None
        self.kubernetes_service: KubernetesService | None = None
        self.apiservices: LocalAPIServices | None = None
        self.state: GatewayState | None = None
        self.port: int | None = None
        self._rbac: RbacCache | None = None
        self._audit_log: AuditLog | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.config.tls_cert else "http"
        return f"{scheme}://{self.config.host}:{self.port}"

    def _site(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> web.BaseSite | None:
        """With TLS, a site that also tells plain HTTP apart on the same port (Go's 400 for it, or the
        local owner's requests with ``plain_http_uid``); None: aiohttp's own TCP site."""
        if ssl_context is None:
            return None
        assert self._runner is not None
        return SniffingSite(self._runner, host, port, ssl_context=ssl_context,
                            plain_loopback=self.config.plain_http_uid is not None,
                            first_byte_timeout=self.config.request_header_timeout)

    async def start(self) -> None:
        """Connect, start the watch hubs, listen, compact; a failure part way stops what was started."""
        try:
            await self._start()
        except BaseException:
            with contextlib.suppress(Exception):
                await self.stop()
            raise

    async def _start(self) -> None:
        config = self.config
        authenticator = None
        if config.token_file is not None:
            with _file_flag("--token-file"):
                authenticator = TokenAuthenticator.from_file(config.token_file, readonly_group=config.readonly_group)
        agent_secret = None
        if config.agent_secret_file is not None:
            with _file_flag("--agent-secret-file"):
                agent_secret = config.agent_secret_file.read_text().strip()
        sa_signer = None
        if config.service_account_key_file is not None:
            with _file_flag("--service-account-signing-key-file"):
                try:
                    sa_signer = TokenSigner.from_file(config.service_account_key_file,
                                                      issuer=config.service_account_issuer)
                except ValueError as exc:
                    raise TokenFileError(f"--service-account-signing-key-file: {exc}") from None
        audit_backend = self._audit_backend()
        ssl_context = None  # every file is read before etcd is touched: a user's mistake fails fast
        client_certs = None
        if config.tls_cert and config.tls_key:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            with _file_flag("--tls-cert/--tls-key"):  # missing files or a key that does not match
                ssl_context.load_cert_chain(config.tls_cert, config.tls_key)
            if config.client_ca_file is not None:
                # a client may come with a token instead; a certificate that is sent is verified against this CA
                # by the gateway (kubelite.gateway.client_certs), so one from another CA gets 401, as from kube
                with _file_flag("--client-ca-file"):
                    ssl_context.load_verify_locations(cafile=str(config.client_ca_file))
                    try:
                        client_certs = ClientCertVerifier.from_file(str(config.client_ca_file))
                    except ValueError as exc:
                        raise TokenFileError(f"--client-ca-file {config.client_ca_file}: {exc}") from None
                request_client_certificates(ssl_context)
        self._client = self._given_client or await connect(config.etcd)
        metrics = GatewayMetrics()
        observe_etcd_requests(self._client, metrics.registry)
        store = Store(self._client, admission=config.admission, services=ServiceAllocator(config.service_ranges))
        await ensure_system_namespaces(store)
        rbac = None
        if config.authorization_mode == "RBAC":
            await ensure_default_policy(store, readonly_group=config.readonly_group or None)
            rbac = RbacCache(store)
            self._rbac = rbac
            await rbac.start()
        await asyncio.to_thread(protobuf.codec)  # ~0.4 s of descriptor building, not on the first protobuf request
        self._http = aiohttp.ClientSession()
        self.state = GatewayState(
            client=self._client, store=store, metrics=metrics, openapi=build_docs(), http=self._http,
            hubs=WatchHubs(self._client),
            authenticator=authenticator, agent_secret=agent_secret, watch=config.watch,
            body_read_timeout=config.request_body_timeout, rbac=rbac, client_ca=config.client_ca_file is not None,
            client_certs=client_certs,
            sa_signer=sa_signer, audit=audit_backend, node_restriction=config.node_restriction,
            plain_http_uid=config.plain_http_uid,
        )
        await self.state.hubs.start(served.resource for served in SERVED)
        self.state.crds = CrdRegistry(store)
        await self.state.crds.start()
        # aiohttp's keep-alive timer runs from the connection's start and after each response and closes
        # the connection when no whole request (line and headers) has arrived by then (aiohttp >= 3.14.5):
        # that is the header-read timeout.
        # After an early answer (413, 408) to a body still coming, drain it for at most 2 s (aiohttp: 10 s).
        self._runner = web.AppRunner(build_app(self.state), access_log=None, shutdown_timeout=5.0,
                                     keepalive_timeout=config.request_header_timeout, lingering_time=2.0)
        await self._runner.setup()
        site = await start_site(self._runner, config.host, config.port, what="gateway", flag="--listen",
                                site=self._site(config.host, config.port, ssl_context), ssl_context=ssl_context)
        if isinstance(site, SniffingSite):
            self.port = site.port
        else:
            server = site._server  # noqa: SLF001 - the only way to learn the port chosen for port 0
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1] if sockets else config.port
        if config.extra_listen_host is not None:  # the same server (TLS, auth) on the advertised address
            await start_site(self._runner, config.extra_listen_host, self.port, what="gateway",
                             flag="--advertise-address", site=self._site(config.extra_listen_host, self.port,
                                                                         ssl_context),
                             ssl_context=ssl_context)
        self.compactor = Compactor(self._client, interval=config.compaction_interval,
                                   registry=self.state.metrics.registry)
        await self.compactor.start()
        self.kubernetes_service = KubernetesService(
            self._client, store, address=config.advertise_address or _advertised(config.host), port=self.port,
            ranges=config.service_ranges)
        await self.kubernetes_service.start()
        crds = self.state.crds
        self.apiservices = LocalAPIServices(store, builtin=builtin_group_versions())
        crds.on_change = self.apiservices.changed
        await self.apiservices.start()
        self.state.apiservices = self.apiservices
        self.state.bootstrapped = True
        log.info("gateway listening", extra={"event": "listening", "url": self.url})

    def build_documents(self) -> None:
        """Build the OpenAPI documents now, not in the first request that reads them (kubectl's first
        apply paid ~0.15 s of the control plane's CPU for them; issue 12). The processes call this once
        started, before they settle their heap; a gateway in a test builds them when first read."""
        assert self.state is not None
        _ = self.state.openapi.root

    def _audit_backend(self) -> AuditBackend | None:
        """The audit policy (the default when only a path is given) and the opened log; a bad policy file
        or a log path that cannot be written fails the start with one line."""
        options = self.config.audit
        if options.path is None:
            return None
        policy = DEFAULT_POLICY
        if options.policy_file is not None:
            with _file_flag("--audit-policy-file"):
                try:
                    policy, warnings = load_policy_file(options.policy_file)
                except PolicyError as exc:
                    raise TokenFileError(f"--audit-policy-file {options.policy_file}: {exc}") from None
            for warning in warnings:
                log.warning("audit policy %s: %s (ignored, as kube-apiserver's lenient decoding)",
                            options.policy_file, warning)
        self._audit_log = AuditLog(options)
        with _file_flag("--audit-log-path"):
            self._audit_log.start()
        return AuditBackend(policy, self._audit_log)

    async def stop(self) -> None:
        problems: list[BaseException] = []
        for step in (self._stop_apiservices, self._stop_kubernetes_service, self._stop_compactor, self._stop_runner,
                     self._stop_hubs, self._stop_rbac, self._close_http, self._close_client, self._stop_audit_log):
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - every step runs; failures are reported together
                log.exception("gateway stop step %s failed", step.__name__)
                problems.append(exc)
        if problems:
            raise RuntimeError(f"gateway stop: {len(problems)} step(s) failed: {problems}")

    async def _stop_apiservices(self) -> None:
        if self.apiservices is not None:
            await self.apiservices.stop()
            self.apiservices = None
            if self.state is not None:
                self.state.apiservices = None

    async def _stop_kubernetes_service(self) -> None:
        if self.kubernetes_service is not None:
            await self.kubernetes_service.stop()
            self.kubernetes_service = None

    async def _stop_compactor(self) -> None:
        if self.compactor is not None:
            await self.compactor.stop()

    async def _stop_runner(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _stop_hubs(self) -> None:
        if self.state is not None:
            if self.state.crds is not None:
                await self.state.crds.stop()
            await self.state.hubs.stop()

    async def _stop_rbac(self) -> None:
        if self._rbac is not None:
            await self._rbac.stop()
            self._rbac = None

    async def _close_http(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _stop_audit_log(self) -> None:
        if self._audit_log is not None:
            await asyncio.to_thread(self._audit_log.stop)  # the writer thread drains the queue
            self._audit_log = None

    async def _close_client(self) -> None:
        if self._client is not None and self._given_client is None:
            await self._client.close()
        self._client = None
