"""``pods/exec`` and ``pods/attach`` on the agent: the channel protocol over a WebSocket ↔ a process.

Channels and statuses are ``kubelite.node.remotecommand``'s. Two pumps run until either side ends:
- process → client: stdout/stderr chunks as channel 1/2 messages (``send_bytes`` waits for the
  socket to drain: a slow client slows the process down); at the end one error-channel Status
  (exit code), then a normal close;
- client → process: stdin (``write`` waits for the process to read), resize, v5's close-stdin.
The client hanging up ends the stream and ``ProcessStream.close()`` leaves no exec process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

from aiohttp import WSMsgType, web

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

from agent.runtime.base import ContainerRuntimeError, ProcessStream

log = logging.getLogger(__name__)


async def run_session(ws: web.WebSocketResponse, stream: ProcessStream, options: ExecOptions) -> None:
    """Pump both ways until the process ends (Status sent, socket closed) or the client leaves."""
    outgoing = asyncio.create_task(_to_client(ws, stream, options), name="exec-out")
    incoming = asyncio.create_task(_from_client(ws, stream, options), name="exec-in")
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


async def _from_client(ws: web.WebSocketResponse, stream: ProcessStream, options: ExecOptions) -> None:
    async for message in ws:
        data = message_bytes(message.data) if message.type in (WSMsgType.BINARY, WSMsgType.TEXT) \
            else None
        if not data:
            continue  # pings are answered by aiohttp
        channel, payload = data[0], data[1:]
        if channel == STDIN and options.stdin:
            await stream.write(payload)
        elif channel == RESIZE:
            size = parse_resize(payload)
            if size is not None:
                await stream.resize(*size)
        elif channel == CLOSE and ws.ws_protocol == V5 and payload[:1] == bytes((STDIN,)):
            await stream.close_stdin()


async def open_and_run(ws: web.WebSocketResponse, opening: Awaitable[ProcessStream], options: ExecOptions) -> None:
    """Run a session on a prepared socket once the process is open. A failure to open it goes to the
    client on the error channel (kubectl prints it), as the kubelet reports errors after the upgrade."""
    try:
        stream = await opening
    except ContainerRuntimeError as exc:
        await ws.send_bytes(frame(ERROR, status_bytes(failure_status(f"error executing command: {exc}"))))
        await ws.close()
        return
    await run_session(ws, stream, options)
