"""``pods/portforward`` on the agent: TCP connections to the pod's ports, over a WebSocket.

Two protocols, picked by the WebSocket subprotocol:
- ``SPDY/3.1+portforward.k8s.io`` (kubectl ≥ 1.31): a SPDY connection tunnelled in binary messages.
  Per forwarded connection the client opens an ``error`` and a ``data`` stream with the same
  ``requestid`` and a ``port`` header; both get a SYN_REPLY; the data stream is piped to a new
  connection to the pod's port; the error stream carries a message if that fails and is closed
  (FIN) when the connection ends — client-go waits for that to finish a connection. Any number
  of connections share one socket (one per local connection of ``kubectl port-forward``).
- ``v4.channel.k8s.io`` (the Python client, the kubelet's websocket port-forward): one connection
  per port of the ``ports`` query, data on channel 2i, errors on 2i+1, each channel opened with the
  port number; the socket is closed once every port's connection has ended.
Connections reach ``localhost:port`` inside the pod's network namespace (``ContainerRuntime.open_port``).
Every write awaits the other side's drain, so a slow reader slows the sender (back-pressure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from kubelite.node.remotecommand import frame, message_bytes, port_prefix

from agent.streaming import spdy

log = logging.getLogger(__name__)

Connector = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
CHUNK = 256 << 10
_EOF = b""


def connect_error(port: int, pod: str, exc: BaseException) -> str:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.errno:
        reason = os.strerror(exc.errno).lower()  # "connection refused", as the kubelet's dialer says it
    if isinstance(exc, asyncio.TimeoutError):
        reason = "timed out"
    return f"error forwarding port {port} to pod {pod}: failed to connect to localhost:{port} inside the pod: {reason}"


async def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


# -- v4.channel.k8s.io ------------------------------------------------------------


async def serve_channels(ws: web.WebSocketResponse, ports: list[int], connect: Connector, pod: str) -> None:
    writers: dict[int, asyncio.Future[asyncio.StreamWriter | None]] = {}
    loop = asyncio.get_running_loop()

    async def forward(index: int, port: int) -> None:
        opened = writers[index]
        try:
            reader, writer = await connect(port)
        except (OSError, asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001 - told to the client
            opened.set_result(None)
            await ws.send_bytes(frame(2 * index + 1, connect_error(port, pod, exc).encode()))
            return
        opened.set_result(writer)
        try:
            while data := await reader.read(CHUNK):
                await ws.send_bytes(frame(2 * index, data))
        except ConnectionError:
            pass
        finally:
            await _close(writer)

    for index, port in enumerate(ports):
        await ws.send_bytes(frame(2 * index, port_prefix(port)))
        await ws.send_bytes(frame(2 * index + 1, port_prefix(port)))
        writers[index] = loop.create_future()
    forwards = [asyncio.create_task(forward(i, p), name=f"portforward-{p}") for i, p in enumerate(ports)]
    all_done = asyncio.gather(*forwards, return_exceptions=True)

    async def from_client() -> None:
        async for message in ws:
            data = message_bytes(message.data) \
                if message.type in (WSMsgType.BINARY, WSMsgType.TEXT) else None
            if not data or len(data) < 2:
                continue
            channel, payload = data[0], data[1:]
            if channel % 2 or channel // 2 not in writers:
                continue  # the client writes data channels only
            writer = await writers[channel // 2]
            if writer is not None and not writer.is_closing():
                writer.write(payload)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()

    reading = asyncio.create_task(from_client(), name="portforward-in")
    try:
        await asyncio.wait((reading, all_done), return_when=asyncio.FIRST_COMPLETED)
    finally:
        reading.cancel()
        for task in forwards:
            task.cancel()
        await asyncio.gather(reading, all_done, return_exceptions=True)
        with contextlib.suppress(Exception):
            await ws.close()


# -- SPDY/3.1 tunnelled ---------------------------------------------------------------


@dataclass
class _Pair:
    """One forwarded connection: its error and data streams (SPDY stream ids) and the pod connection."""

    port: int
    error_id: int | None = None
    data_id: int | None = None
    inbound: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(maxsize=16))
    task: asyncio.Task[None] | None = None
    done: bool = False  # the pod connection ended: what the client still sends is dropped


class SpdyPortForward:
    """The server end of kubectl's port-forward connection (the kubelet's role)."""

    def __init__(self, ws: web.WebSocketResponse, connect: Connector, pod: str) -> None:
        self.ws = ws
        self.connect = connect
        self.pod = pod
        self.codec = spdy.SpdyCodec()
        self._send_lock = asyncio.Lock()
        self._pairs: dict[str, _Pair] = {}  # requestid → pair
        self._by_stream: dict[int, _Pair] = {}

    async def send(self, *frames: spdy.Frame) -> None:
        async with self._send_lock:  # header compression is one ordered context: encode and send together
            await self.ws.send_bytes(b"".join(self.codec.encode(f) for f in frames))

    async def run(self) -> None:
        try:
            async for message in self.ws:
                if message.type != WSMsgType.BINARY:
                    continue
                for received in self.codec.feed(message.data):
                    if not await self._handle(received):
                        return
        except spdy.SpdyError as exc:
            log.info("port-forward to %s: %s", self.pod, exc)
        except ConnectionError:
            pass  # the client went away while a frame was being sent
        finally:
            tasks = [p.task for p in self._pairs.values() if p.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _handle(self, received: spdy.Frame) -> bool:
        if isinstance(received, spdy.SynStream):
            await self._new_stream(received)
        elif isinstance(received, spdy.Data):
            pair = self._by_stream.get(received.stream_id)
            if pair is not None and received.stream_id == pair.data_id and not pair.done:
                if received.data:
                    await pair.inbound.put(received.data)  # waits while the pod is slow to read
                if received.fin:
                    await pair.inbound.put(_EOF)
        elif isinstance(received, spdy.RstStream):
            pair = self._by_stream.get(received.stream_id)
            if pair is not None and pair.task is not None and received.stream_id == pair.data_id:
                pair.task.cancel()
        elif isinstance(received, spdy.Ping):
            await self.send(received)  # the client pings every 10 s; an answer keeps it alive
        elif isinstance(received, spdy.GoAway):
            return False
        return True  # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (no flow control, as spdystream)

    async def _new_stream(self, syn: spdy.SynStream) -> None:
        kind, request_id = syn.headers.get("streamtype", ""), syn.headers.get("requestid", "")
        try:
            port = int(syn.headers.get("port", ""))
        except ValueError:
            port = 0
        if kind not in ("error", "data") or not 0 < port < 65536:
            await self.send(spdy.RstStream(syn.stream_id, spdy.RST_PROTOCOL_ERROR))
            return
        await self.send(spdy.SynReply(syn.stream_id))
        pair = self._pairs.setdefault(request_id, _Pair(port))
        setattr(pair, f"{kind}_id", syn.stream_id)
        self._by_stream[syn.stream_id] = pair
        if pair.error_id is not None and pair.data_id is not None and pair.task is None:
            pair.task = asyncio.create_task(self._forward(request_id, pair), name=f"portforward-{port}")

    async def _forward(self, request_id: str, pair: _Pair) -> None:
        assert pair.error_id is not None and pair.data_id is not None
        error_message = b""
        writer: asyncio.StreamWriter | None = None
        inbound: asyncio.Task[None] | None = None
        try:
            try:
                reader, writer = await self.connect(pair.port)
            except (OSError, asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001 - told to the client
                error_message = connect_error(pair.port, self.pod, exc).encode()
                return
            inbound = asyncio.create_task(self._to_pod(pair, writer))
            while data := await reader.read(CHUNK):
                await self.send(spdy.Data(pair.data_id, data))
        except ConnectionError:
            pass
        finally:
            if inbound is not None:
                inbound.cancel()
                await asyncio.gather(inbound, return_exceptions=True)
            await _close(writer)
            pair.done = True
            while not pair.inbound.empty():  # frees a reader loop blocked on a full queue
                pair.inbound.get_nowait()
            self._pairs.pop(request_id, None)
            self._by_stream.pop(pair.data_id, None)
            self._by_stream.pop(pair.error_id, None)
            if not self.ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.send(spdy.Data(pair.data_id, b"", fin=True),
                                    spdy.Data(pair.error_id, error_message, fin=True))

    async def _to_pod(self, pair: _Pair, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while (data := await pair.inbound.get()) != _EOF:
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()  # the client's side is done; the pod may still answer
