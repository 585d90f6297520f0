"""The agent's HTTP API (aiohttp): container logs, exec/attach/port-forward, health, metrics; bearer token required.

``GET /pods/{ns}/{name}/log?container=&follow=&tailLines=&timestamps=&previous=``
streams a container's output (the gateway proxies ``pods/log`` here);
``GET /pods/{ns}/{name}/exec|attach|portforward`` with a WebSocket upgrade serves those
subresources (agent/streaming/; the gateway proxies the client's socket here);
``GET /healthz``; ``GET /metrics`` (this agent's Prometheus registry);
``GET /stats/summary``: this node's and its containers' CPU and memory usage
(the kubelet's Summary API shape, ``agent/stats.py``; the gateway's metrics API reads it).
Every request needs ``Authorization: Bearer <agent token>``; without it: 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kubelite.api.core import ContainerStatus
from kubelite.util.listen import ListenError, start_site
from kubelite.api.errors import Status

from kubelite.node.remotecommand import (
    EXEC_PROTOCOLS,
    PORTFORWARD_PROTOCOLS,
    SPDY_TUNNEL,
    StreamOptionError,
    exec_options,
    forward_ports,
)

from agent.images import load_upload
from agent.metrics import AgentMetrics
from agent.runtime.base import ContainerInfo, ContainerRuntimeError, ProcessStream, TerminalSize
from agent.streaming.exec import open_and_run
from agent.streaming.portforward import SpdyPortForward, serve_channels
from agent.streaming.target import Refused, container_name, find_pod, instances, running_target, sandbox_target

if TYPE_CHECKING:
    from agent.pods import PodManager
    from agent.stats import StatsCollector

log = logging.getLogger(__name__)

PORT_CONNECT_TIMEOUT = 5.0  # seconds to connect to a pod's port
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status_response(code: int, reason: str, message: str) -> web.Response:
    status = Status(code=code, reason=reason, message=message)
    return web.json_response(status.to_dict(), status=code)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


class AgentApi:
    def __init__(
        self, *, host: str, port: int, token: str, pods: PodManager, metrics: AgentMetrics,
        healthy: Callable[[], bool], stats: StatsCollector | None = None,
    ) -> None:
        self.stats = stats
        self.host = host
        self.port = port
        self.token = token
        self.pods = pods
        self.metrics = metrics
        self.healthy = healthy
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/pods/{namespace}/{name}/log", self._log)
        app.router.add_get("/stats/summary", self._summary)
        app.router.add_get("/pods/{namespace}/{name}/exec", self._exec)
        app.router.add_get("/pods/{namespace}/{name}/attach", self._attach)
        app.router.add_get("/pods/{namespace}/{name}/portforward", self._portforward)
        app.router.add_post("/images/load", self._load_image)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            site = await start_site(self._runner, self.host, self.port, what="agent", flag="--listen")
        except ListenError:
            await self.stop()
            raise
        server = site._server  # noqa: SLF001 - the only way to learn the port bound for port 0
        if server is not None and server.sockets:  # type: ignore[attr-defined]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), self.token.encode()):
            return status_response(401, "Unauthorized", "Unauthorized: the agent token is required "
                                   "(Authorization: Bearer <token>)")
        return await handler(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        if not self.healthy():
            return web.Response(status=503, text="node lease lost\n")
        return web.Response(text="ok\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _summary(self, request: web.Request) -> web.Response:
        if self.stats is None:
            return status_response(404, "NotFound", "this agent collects no stats")
        return web.json_response(self.stats.summary())

    async def _load_image(self, request: web.Request) -> web.Response:
        """The body is a ``docker save`` tarball or an OCI archive (``kl images load``; ``?name=`` its file
        name, for messages): load it into this node's runtime → ``{"images": [names]}``; a bad archive →
        400 Status with the reason."""
        try:
            names = await load_upload(self.pods.runtime, request.content.iter_chunked(1 << 20),
                                      name=request.query.get("name", "archive.tar"))
        except ContainerRuntimeError as exc:
            return status_response(400, "BadRequest", str(exc))
        return web.json_response({"images": names})

    async def _log(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        try:
            pod = find_pod(self.pods, namespace, name)
            container = container_name(pod, request.query.get("container"))
        except Refused as exc:
            return exc.response
        try:
            tail = int(request.query["tailLines"]) if "tailLines" in request.query else None
        except ValueError:
            return status_response(400, "BadRequest", "tailLines must be an integer")
        found = await instances(self.pods, pod, container)
        previous = _flag(request, "previous")
        statuses = (pod.status.container_statuses if pod.status else None) or []
        chosen = log_instance(found, next((s for s in statuses if s.name == container), None), previous=previous)
        if chosen is None:
            what = "previous terminated container" if previous else "container"
            return status_response(400, "BadRequest", f'{what} "{container}" in pod "{name}" not found '
                                   "(it may be waiting to start)")
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        stream = self.pods.runtime.logs(chosen.id, follow=_flag(request, "follow"), tail=tail,
                                        timestamps=_flag(request, "timestamps"))
        try:
            async for chunk in stream:
                await response.write(chunk)
        except (ConnectionResetError, ConnectionError):
            log.debug("log client of %s/%s went away", namespace, name)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        return await self._remotecommand(request, attach=False)

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        return await self._remotecommand(request, attach=True)

    async def _remotecommand(self, request: web.Request, *, attach: bool) -> web.StreamResponse:
        what = "pods/attach" if attach else "pods/exec"
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        try:
            options = exec_options(request.query, attach=attach)
            target = await running_target(self.pods, namespace, name, options.container, what=what)
            ws, _ = _websocket(request, EXEC_PROTOCOLS, what)
        except StreamOptionError as exc:
            return status_response(400, "BadRequest", str(exc))
        except Refused as exc:
            return exc.response
        await ws.prepare(request)
        runtime = self.pods.runtime
        container_id = target.container.id

        def open_process(size: TerminalSize | None) -> Awaitable[ProcessStream]:
            if attach:  # the container's terminal exists already: resizes apply as they come
                return runtime.attach_stream(container_id, stdin=options.stdin)
            return runtime.exec_stream(container_id, list(options.command), stdin=options.stdin, tty=options.tty,
                                       size=size)

        await open_and_run(ws, open_process, options, sized_start=options.tty and not attach)
        return ws

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        try:
            target = await sandbox_target(self.pods, namespace, name)
            ws, protocol = _websocket(request, PORTFORWARD_PROTOCOLS, "pods/portforward")
            ports = forward_ports(request.query.getall("ports", ()))
            if protocol != SPDY_TUNNEL and not ports:
                raise StreamOptionError("at least one port must be given (the ports parameter)")
        except StreamOptionError as exc:
            return status_response(400, "BadRequest", str(exc))
        except Refused as exc:
            return exc.response
        await ws.prepare(request)
        runtime, sandbox = self.pods.runtime, target.container.id

        async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await runtime.open_port(sandbox, port, timeout=PORT_CONNECT_TIMEOUT)

        pod = f"{namespace}/{name}"
        if protocol == SPDY_TUNNEL:
            await SpdyPortForward(ws, connect, pod).run()
        else:
            await serve_channels(ws, ports, connect, pod)
        return ws


def log_instance(instances: list[ContainerInfo], status: ContainerStatus | None, *,
                 previous: bool) -> ContainerInfo | None:
    """The instance whose log ``pods/log`` reads (instances newest attempt first), as the kubelet's
    ``validateContainerLogStatus``: the newest one; with ``previous``, the one the status reports as
    ``lastState.terminated`` — during CrashLoopBackOff that is the newest, so both show the last
    crash, as in Kubernetes. Without a reported lastState, the attempt before the newest."""
    if not previous:
        return instances[0] if instances else None
    last = status.last_state.terminated if status and status.last_state else None
    if last is not None and last.container_id:
        wanted = last.container_id.partition("://")[2] or last.container_id
        found = next((c for c in instances if c.id == wanted), None)
        if found is not None:
            return found
    return instances[1] if len(instances) > 1 else None


def _websocket(request: web.Request, protocols: tuple[str, ...], what: str) -> tuple[web.WebSocketResponse, str]:
    """A WebSocket response and the subprotocol the client and ``protocols`` share; Refused (400) when the
    request cannot be one (not an upgrade, a SPDY upgrade, or no common subprotocol)."""
    ws = web.WebSocketResponse(protocols=protocols, compress=False, max_msg_size=16 << 20)
    ready = ws.can_prepare(request)
    if not ready.ok or ready.protocol is None:
        raise Refused(400, "BadRequest", f"{what} needs a WebSocket upgrade with one of the subprotocols "
                      f"{', '.join(protocols)} (SPDY upgrades are not served: use kubectl 1.30 or newer)")
    return ws, ready.protocol
