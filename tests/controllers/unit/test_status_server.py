"""The controller-manager's status endpoints (controllers/http.py, h11 on asyncio streams), through a real
HTTP client: answers, keep-alive, bad methods and paths, a port in use, and a stop with open connections."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import aiohttp
import pytest

from controllers.http import StatusServer
from kubelite.util.listen import ListenError


class _State:
    def __init__(self) -> None:
        self.ok, self.ready = True, False

    async def health(self) -> dict[str, Any]:
        return {"ok": self.ok}

    async def readiness(self) -> dict[str, Any]:
        if self.ready is None:
            raise RuntimeError("broken callback")
        return {"ready": self.ready, "leader": "m-1"}


async def test_endpoints_answer_and_keep_the_connection() -> None:
    state = _State()
    server = StatusServer("127.0.0.1:0", health=state.health, readiness=state.readiness,
                          metrics=lambda: b"# HELP x y\nx 1.0\n")
    await server.start()
    try:
        connector = aiohttp.TCPConnector(limit=1)  # every request on one connection while it stays open
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.get(server.url + "/healthz") as r:
                assert r.status == 200 and json.loads(await r.text()) == {"ok": True}
                assert r.headers["Content-Type"].startswith("application/json")
            async with http.get(server.url + "/readyz?verbose=1") as r:
                assert r.status == 503 and (await r.json())["leader"] == "m-1"
            state.ok, state.ready = False, True
            async with http.get(server.url + "/healthz") as r:
                assert r.status == 503
            async with http.get(server.url + "/readyz") as r:
                assert r.status == 200
            async with http.get(server.url + "/metrics") as r:
                assert r.status == 200 and await r.text() == "# HELP x y\nx 1.0\n"
                assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
            async with http.get(server.url + "/nope") as r:
                assert r.status == 404
            async with http.post(server.url + "/healthz", data=b"x" * 10) as r:
                assert r.status == 405
            async with http.head(server.url + "/metrics") as r:
                assert r.status == 200 and await r.read() == b""
            state.ready = None  # type: ignore[assignment]
            async with http.get(server.url + "/readyz") as r:
                assert r.status == 500
            assert len(server._writers) == 1  # one keep-alive connection served all of them
            await asyncio.wait_for(server.stop(), 10)  # closes the open connection too
            assert not server._writers
    finally:
        await server.stop()


async def test_a_port_in_use_is_a_listen_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        state = _State()
        server = StatusServer(f"127.0.0.1:{port}", health=state.health, readiness=state.readiness,
                              metrics=lambda: b"")
        with pytest.raises(ListenError, match=f"controller-manager cannot listen on 127.0.0.1:{port}: "
                                              "address already in use"):
            await server.start()


async def test_garbage_is_answered_400_and_closed() -> None:
    state = _State()
    server = StatusServer("127.0.0.1:0", health=state.health, readiness=state.readiness, metrics=lambda: b"")
    await server.start()
    try:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)  # read to EOF: the server closed it
        assert answer.startswith(b"HTTP/1.1 400 ")
        writer.close()
    finally:
        await server.stop()
