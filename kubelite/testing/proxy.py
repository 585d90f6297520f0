"""Proxies the tests control, to cut a component off and reconnect it without touching the other side.

:class:`Splice` is the shared part: it pipes each accepted connection to a new upstream
connection and can abort them all. :class:`TcpProxy` (one listener on 127.0.0.1 per
upstream address) stands for a host losing its network; ``tests.agent.unixproxy.UnixProxy``
for the Docker Engine going away. ``cut()`` aborts every open connection and stops
listening (new connections are refused); ``heal()`` listens again on the same addresses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from kubelite.etcd.server import free_port
from kubelite.util.supervise import cancel_and_wait

Opener = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class Splice:
    """Open connections piped to their upstream; ``abort_all()`` drops every one at once.

    Subclasses listen in ``start()`` and stop listening (then ``abort_all()``) in ``cut()``."""

    def __init__(self) -> None:
        self._transports: set[asyncio.BaseTransport] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def splice(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, open_upstream: Opener) -> None:
        """Connect upstream and pipe both ways; an upstream that refuses aborts the client."""
        try:
            up_reader, up_writer = await open_upstream()
        except OSError:
            writer.transport.abort()
            return
        for w in (writer, up_writer):
            self._transports.add(w.transport)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._transports.discard(dst.transport)
            dst.transport.abort()

    def abort_all(self) -> None:
        for transport in list(self._transports):
            transport.abort()  # type: ignore[attr-defined]  # stream transports all abort()
        self._transports.clear()

    async def cancel_pipes(self) -> None:
        for task in list(self._pipes):
            await cancel_and_wait(task)

    async def start(self) -> None:
        raise NotImplementedError

    async def cut(self) -> None:
        raise NotImplementedError

    async def heal(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()
        await self.cancel_pipes()


class TcpProxy(Splice):
    def __init__(self, upstreams: tuple[str, ...]) -> None:
        super().__init__()
        self.upstreams = upstreams
        self.ports = [free_port() for _ in upstreams]
        self._servers: list[asyncio.base_events.Server] = []

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(f"127.0.0.1:{port}" for port in self.ports)

    async def start(self) -> None:
        for port, upstream in zip(self.ports, self.upstreams):
            host, upstream_port = upstream.rsplit(":", 1)

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             host: str = host, port: int = int(upstream_port)) -> None:
                await self.splice(reader, writer, lambda: asyncio.open_connection(host, port))

            self._servers.append(await asyncio.start_server(handle, "127.0.0.1", port, reuse_address=True))

    async def cut(self) -> None:
        for server in self._servers:
            server.close()
        self._servers = []
        self.abort_all()
