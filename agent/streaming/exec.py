"""``pods/exec`` and ``pods/attach`` on the agent: the channel protocol over a WebSocket ↔ a process.

Channels and statuses are ``kubelite.node.remotecommand``'s. Two pumps run until either side ends:
- process → client: stdout/stderr chunks as channel 1/2 messages (``send_bytes`` waits for the
  socket to drain: a slow client slows the process down); at the end one error-channel Status
  (exit code), then a normal close;
- client → process: stdin (``write`` waits for the process to read), resize, v5's close-stdin.
The client hanging up ends the stream and ``ProcessStream.close()`` leaves no exec process behind.

An exec with a TTY starts on a terminal of the client's size: the client's first resize message is
awaited (at most ``INITIAL_SIZE_WAIT``) before the process starts, and the runtime sizes the terminal
before the process runs. kubectl (and the dashboard) send their terminal's size first thing; a process
started on a 0x0 terminal and sized a moment later answers input typed ahead (``stty size``, the first
screen of ``vi``/``top``) as if it had no size — the race Docker closed with ``ConsoleSize`` at exec
start (Engine API 1.42) and podman with its initial exec size. Messages that come before the size
(typed-ahead stdin) are kept and handed on in order once the process runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from aiohttp import WSMessage, WSMsgType, web

from kubelite.node.remotecommand import (
    CLOSE,
    ERROR,
    RESIZE,
    STDERR,
    STDIN,
    STDOUT,
    V5,
    ExecOptions,
    exit_status,
    failure_status,
    frame,
    message_bytes,
    parse_resize,
    status_bytes,
    success_status,
)

from agent.runtime.base import ContainerRuntimeError, ProcessStream, TerminalSize

log = logging.getLogger(__name__)

INITIAL_SIZE_WAIT = 1.0
"""Seconds an exec with a TTY waits for the client's first resize before starting without one (a
client that sends none, such as the Python client unless told to, starts that much later)."""

_ENDED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


async def run_session(ws: web.WebSocketResponse, stream: ProcessStream, options: ExecOptions,
                      early: Iterable[bytes] = ()) -> None:
    """Pump both ways until the process ends (Status sent, socket closed) or the client leaves.
    ``early``: client messages (channel byte first) read before the process started, handled first."""
    outgoing = asyncio.create_task(_to_client(ws, stream, options), name="exec-out")
    incoming = asyncio.create_task(_from_client(ws, stream, options, early), name="exec-in")
    try:
        await asyncio.wait((outgoing, incoming), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (outgoing, incoming):
            task.cancel()
        await asyncio.gather(outgoing, incoming, return_exceptions=True)
        await stream.close()
        with contextlib.suppress(Exception):
            await ws.close()


async def _to_client(ws: web.WebSocketResponse, stream: ProcessStream, options: ExecOptions) -> None:
    while (item := await stream.read()) is not None:
        channel, data = item
        wanted = options.stdout if channel == STDOUT else options.stderr
        if channel == STDERR and stream.tty:
            wanted = options.stdout  # a terminal has one output
            channel = STDOUT
        if wanted and data:
            await ws.send_bytes(frame(channel, data))
    code = await stream.exit_code()
    status = success_status() if code is None else exit_status(code, options.command)
    await ws.send_bytes(frame(ERROR, status_bytes(status)))


def _data(message: WSMessage) -> bytes | None:
    """A data message's bytes (channel byte first); None for control messages (aiohttp answers pings)."""
    return message_bytes(message.data) if message.type in (WSMsgType.BINARY, WSMsgType.TEXT) else None


async def _client_messages(ws: web.WebSocketResponse, early: Iterable[bytes]) -> AsyncIterator[bytes]:
    for data in early:
        yield data
    async for message in ws:
        if received := _data(message):
            yield received


async def _from_client(ws: web.WebSocketResponse, stream: ProcessStream, options: ExecOptions,
                       early: Iterable[bytes]) -> None:
    async for data in _client_messages(ws, early):
        channel, payload = data[0], data[1:]
        if channel == STDIN and options.stdin:
            await stream.write(payload)
        elif channel == RESIZE:
            size = parse_resize(payload)
            if size is not None:
                await stream.resize(*size)
        elif channel == CLOSE and ws.ws_protocol == V5 and payload[:1] == bytes((STDIN,)):
            await stream.close_stdin()


async def first_resize(ws: web.WebSocketResponse, wait: float) -> tuple[TerminalSize | None, list[bytes]] | None:
    """Read client messages until the first valid resize or ``wait`` seconds: (its size or None, the
    other messages read meanwhile, in order); None when the client left first."""
    early: list[bytes] = []
    try:
        async with asyncio.timeout(wait):
            while True:
                message = await ws.receive()
                if message.type in _ENDED:
                    return None
                data = _data(message)
                if not data:
                    continue
                if data[0] == RESIZE and (size := parse_resize(data[1:])) is not None:
                    return size, early
                early.append(data)
    except TimeoutError:
        pass
    return None, early


async def open_and_run(ws: web.WebSocketResponse,
                       open_process: Callable[[TerminalSize | None], Awaitable[ProcessStream]],
                       options: ExecOptions, *, sized_start: bool) -> None:
    """Run a session on a prepared socket once the process is open: ``open_process(size)`` opens it
    (``size``: the terminal's initial (width, height), None when unknown). ``sized_start`` (an exec
    with a TTY): the client's first resize is awaited first (see the module docstring). A failure to
    open goes to the client on the error channel (kubectl prints it), as the kubelet reports errors
    after the upgrade."""
    size, early = None, list[bytes]()
    if sized_start:
        found = await first_resize(ws, INITIAL_SIZE_WAIT)
        if found is None:  # the client hung up before the process started: start nothing
            await ws.close()
            return
        size, early = found
    try:
        stream = await open_process(size)
    except ContainerRuntimeError as exc:
        await ws.send_bytes(frame(ERROR, status_bytes(failure_status(f"error executing command: {exc}"))))
        await ws.close()
        return
    await run_session(ws, stream, options, early)
