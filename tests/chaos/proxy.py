"""A TCP proxy the test controls: one listener on 127.0.0.1 per upstream address.

``cut()`` aborts every open connection and closes the listeners (new connections are
refused), as if the host lost its network; ``heal()`` listens again on the same ports.
"""

from __future__ import annotations

import asyncio
import contextlib

from kubelite.etcd_server import free_port


class TcpProxy:
    def __init__(self, upstreams: tuple[str, ...]) -> None:
        self.upstreams = upstreams
        self.ports = [free_port() for _ in upstreams]
        self._servers: list[asyncio.base_events.Server] = []
        self._transports: set[asyncio.Transport] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(f"127.0.0.1:{port}" for port in self.ports)

    async def start(self) -> None:
        for port, upstream in zip(self.ports, self.upstreams):
            host, upstream_port = upstream.rsplit(":", 1)

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             host: str = host, port: int = int(upstream_port)) -> None:
                await self._connect(reader, writer, host, port)

            self._servers.append(await asyncio.start_server(handle, "127.0.0.1", port, reuse_address=True))

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.transport.abort()
            return
        for w in (writer, up_writer):
            self._transports.add(w.transport)  # type: ignore[arg-type]  # a TCP stream's transport
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

    async def cut(self) -> None:
        for server in self._servers:
            server.close()
        self._servers = []
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    async def heal(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()
        for task in list(self._pipes):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
