"""The manager's HTTP endpoints: /healthz, /readyz (leading? who leads?) and /metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from kubelite.util.listen import ListenError, split_host_port, start_site

Status = Callable[[], Awaitable[dict[str, Any]]]


class StatusServer:
    def __init__(self, listen: str, *, health: Status, readiness: Status, metrics: Callable[[], bytes]) -> None:
        self.host, self.port = split_host_port(listen, flag="--listen", default_host="127.0.0.1")
        self._health, self._readiness, self._metrics = health, readiness, metrics
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        try:
            await start_site(self._runner, self.host, self.port, what="controller-manager", flag="--listen")
        except ListenError:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _healthz(self, _request: web.Request) -> web.Response:
        doc = await self._health()
        return web.json_response(doc, status=200 if doc.get("ok") else 503)

    async def _readyz(self, _request: web.Request) -> web.Response:
        doc = await self._readiness()
        return web.json_response(doc, status=200 if doc.get("ready") else 503)

    async def _metrics_handler(self, _request: web.Request) -> web.Response:
        response = web.Response(body=self._metrics())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response
