"""The agent's HTTP API (aiohttp): container logs, health, metrics; bearer token required.

``GET /pods/{ns}/{name}/log?container=&follow=&tailLines=&timestamps=&previous=``
streams a container's output (the gateway proxies ``pods/log`` here);
``GET /healthz``; ``GET /metrics`` (this agent's Prometheus registry);
``GET /stats/summary``: this node's and its containers' CPU and memory usage
(the kubelet's Summary API shape, ``agent/stats.py``; the gateway's metrics API reads it).
Every request needs ``Authorization: Bearer <agent token>``; without it: 401.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kubelite.api.core import Pod
from kubelite.listen import ListenError, start_site
from kubelite.api.errors import Status

from agent.metrics import AgentMetrics
from agent.plan import by_attempt
from agent.runtime.base import LABEL_CONTAINER, LABEL_NODE, LABEL_POD_UID

if TYPE_CHECKING:
    from agent.pods import PodManager
    from agent.stats import StatsCollector

log = logging.getLogger(__name__)

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

    async def _log(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        pod: Pod | None = self.pods.informer.get(f"{namespace}/{name}")
        if pod is None:
            return status_response(404, "NotFound", f'pods "{name}" not found on node {self.pods.node}')
        names = [c.name for c in pod.spec.containers]
        container = request.query.get("container") or (names[0] if len(names) == 1 else "")
        if not container:
            return status_response(400, "BadRequest", f"a container name must be specified for pod {name}, "
                                   f"choose one of: [{' '.join(names)}]")
        if container not in names:
            return status_response(400, "BadRequest", f"container {container} is not valid for pod {name}")
        try:
            tail = int(request.query["tailLines"]) if "tailLines" in request.query else None
        except ValueError:
            return status_response(400, "BadRequest", "tailLines must be an integer")
        instances = by_attempt(await self.pods.runtime.list_containers(
            {LABEL_NODE: self.pods.node, LABEL_POD_UID: pod.metadata.uid or "", LABEL_CONTAINER: container}))
        previous = _flag(request, "previous")
        chosen = instances[1] if previous and len(instances) > 1 else (instances[0] if instances and not previous else None)
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
