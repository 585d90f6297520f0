"""The manager's HTTP endpoints: /healthz, /readyz (leading? who leads?) and /metrics.

Served with **h11** (PyPI ``h11``: a maintained sans-I/O HTTP/1.1 parser, the one under httpx and
uvicorn) on asyncio's streams, not with aiohttp's server: importing aiohttp costs ~10 MB of RSS,
which the controller-manager would carry for three GET endpoints (issue 12's idle footprint; its
HPA client imports aiohttp when an HPA first asks for metrics). Keep-alive connections are served
one request after another and closed after ``IDLE_SECONDS`` without one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import h11
from prometheus_client import CONTENT_TYPE_LATEST

from kubelite.util.listen import ListenError, split_host_port

Status = Callable[[], Awaitable[dict[str, Any]]]
IDLE_SECONDS = 75.0  # aiohttp's keep-alive default, which this server replaced
_READ = 65536
log = logging.getLogger(__name__)


class StatusServer:
    def __init__(self, listen: str, *, health: Status, readiness: Status, metrics: Callable[[], bytes]) -> None:
        self.host, self.port = split_host_port(listen, flag="--listen", default_host="127.0.0.1")
        self._health, self._readiness, self._metrics = health, readiness, metrics
        self._server: asyncio.Server | None = None
        self._writers: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}  # open connections and their tasks

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except (OSError, OverflowError) as exc:  # OverflowError: a port above 65535
            raise ListenError(what="controller-manager", host=self.host, port=self.port, flag="--listen",
                              cause=exc) from None
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):  # keep-alive connections would outlive the listener
                writer.close()
            await asyncio.gather(*self._writers.values(), return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _answer(self, method: bytes, target: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request."""
        path = target.split(b"?", 1)[0]
        if path not in (b"/healthz", b"/readyz", b"/metrics"):
            return 404, "text/plain; charset=utf-8", b"404: Not Found"
        if method not in (b"GET", b"HEAD"):
            return 405, "text/plain; charset=utf-8", b"405: Method Not Allowed"
        if path == b"/metrics":
            return 200, CONTENT_TYPE_LATEST.split(";")[0] + "; charset=utf-8", self._metrics()
        doc = await (self._health() if path == b"/healthz" else self._readiness())
        ok = doc.get("ok") if path == b"/healthz" else doc.get("ready")
        return 200 if ok else 503, "application/json; charset=utf-8", json.dumps(doc).encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # asyncio.start_server runs each connection as a task
        self._writers[writer] = task
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await asyncio.wait_for(reader.read(_READ), IDLE_SECONDS))
                elif isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.EndOfMessage) and request is not None:
                    await self._respond(conn, writer, request)
                    if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                        break  # the client asked to close (or HTTP/1.0)
                    conn.start_next_cycle()
                    request = None
                elif isinstance(event, h11.ConnectionClosed):
                    break
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                writer.write(_send(conn, exc.error_status_hint, "text/plain; charset=utf-8", b"bad request", b"GET"))
        except (TimeoutError, ConnectionError):
            pass  # an idle keep-alive connection, or the client went away
        finally:
            self._writers.pop(writer, None)
            writer.close()

    async def _respond(self, conn: h11.Connection, writer: asyncio.StreamWriter, request: h11.Request) -> None:
        try:
            status, content_type, body = await self._answer(request.method, request.target)
        except Exception:  # a failing status callback is a 500, as aiohttp answered
            log.exception("status endpoint %s failed", request.target.decode(errors="replace"))
            status, content_type, body = 500, "text/plain; charset=utf-8", b"500: Internal Server Error"
        writer.write(_send(conn, status, content_type, body, request.method))
        await writer.drain()


def _send(conn: h11.Connection, status: int, content_type: str, body: bytes, method: bytes) -> bytes:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    data = conn.send(h11.Response(status_code=status, headers=headers)) or b""
    if method != b"HEAD":
        data += conn.send(h11.Data(data=body)) or b""
    return data + (conn.send(h11.EndOfMessage()) or b"")
