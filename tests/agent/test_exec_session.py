"""The exec session's start (agent/streaming/exec.py): an exec with a TTY starts on the client's
terminal size, the input typed before it is kept in order, and a client that leaves first starts
nothing. A real WebSocket (aiohttp server and client) in front of a recording stand-in for the
runtime's process; the runtimes' side is in test_streaming_docker.py (docker and oci)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from kubelite.node.remotecommand import RESIZE, STDIN, V5, exec_options, frame

from agent.runtime.base import TerminalSize
from agent.runtime.docker_streams import sized_at_start
from agent.streaming import exec as session
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(60)


class Recorded:
    """A process stand-in: what the session did to it, in order; it ends when the session closes it."""

    tty = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.closed = asyncio.Event()

    async def read(self) -> tuple[int, bytes] | None:
        await self.closed.wait()
        return None

    async def write(self, data: bytes) -> None:
        self.calls.append(("stdin", data))

    async def close_stdin(self) -> None:
        self.calls.append(("close", None))

    async def resize(self, width: int, height: int) -> None:
        self.calls.append(("resize", (width, height)))

    async def exit_code(self) -> int | None:
        return 0

    async def close(self) -> None:
        self.closed.set()


@dataclass
class Session:
    process: Recorded = field(default_factory=Recorded)
    opened: list[TerminalSize | None] = field(default_factory=list)  # the sizes the process was opened with
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # the server's side returned
    ws: aiohttp.ClientWebSocketResponse = field(init=False)  # the client's side


Serve = Callable[[str], Awaitable[Session]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``serve(query)`` → a session on an exec endpoint with that query (one at a time)."""
    current: list[Session] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        options = exec_options(request.query)
        ws = web.WebSocketResponse(protocols=(V5,))
        await ws.prepare(request)
        it = current[-1]

        async def open_process(size: TerminalSize | None) -> Recorded:
            it.opened.append(size)
            return it.process

        try:
            await session.open_and_run(ws, open_process, options, sized_start=options.tty)
        finally:
            it.ended.set()
        return ws

    app = web.Application()
    app.router.add_get("/exec", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as http:
        async def connect(query: str) -> Session:
            current.append(it := Session())
            it.ws = await http.ws_connect(f"http://127.0.0.1:{port}/exec?command=sh&stdin=true&stdout=true&{query}",
                                          protocols=(V5,))
            return it
        try:
            yield connect
        finally:
            await runner.cleanup()


def resize(width: int, height: int) -> bytes:
    return frame(RESIZE, json.dumps({"Width": width, "Height": height}).encode())


async def test_a_tty_exec_starts_at_the_first_resize_and_gets_the_input_typed_before_it(serve: Serve) -> None:
    it = await serve("tty=true")
    for message in (frame(STDIN, b"stty "), frame(STDIN, b"size\n"), resize(100, 30), frame(STDIN, b"exit\n"),
                    resize(120, 40)):
        await it.ws.send_bytes(message)
    await wait_for(lambda: len(it.process.calls) == 4, message="four calls on the process")
    assert it.opened == [(100, 30)]
    # the input in the order typed; the first size is the start's, not applied again
    assert it.process.calls == [("stdin", b"stty "), ("stdin", b"size\n"), ("stdin", b"exit\n"),
                                ("resize", (120, 40))]
    await it.ws.close()
    await wait_for(it.ended.is_set, message="the session ended with the client")
    assert it.process.closed.is_set()


async def test_without_a_resize_the_tty_exec_starts_after_the_wait(serve: Serve,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "INITIAL_SIZE_WAIT", 0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    it = await serve("tty=true")
    await it.ws.send_bytes(frame(STDIN, b"true\n"))
    await wait_for(lambda: it.process.calls, message="the input reached the process")
    assert it.opened == [None] and loop.time() - started >= 0.5
    assert it.process.calls == [("stdin", b"true\n")]
    await it.ws.close()


async def test_a_client_that_leaves_before_the_size_starts_nothing(serve: Serve) -> None:
    it = await serve("tty=true")
    await it.ws.send_bytes(frame(STDIN, b"rm -rf /data\n"))
    await it.ws.close()
    await wait_for(it.ended.is_set, message="the server's side ended")
    assert it.opened == [] and it.process.calls == []


async def test_without_a_tty_the_process_starts_at_once(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "INITIAL_SIZE_WAIT", 30)
    it = await serve("tty=false")
    await wait_for(lambda: it.opened == [None], 10, message="opened without waiting for a size")
    await it.ws.close()


def test_docker_engines_take_the_initial_size_at_start_from_api_1_42() -> None:
    assert [sized_at_start(v) for v in ("1.41", "1.42", "1.43", "1.9", "2.0", "x")] == \
        [False, True, True, False, True, False]
