"""A unix-socket proxy the test controls, between the agent and the Docker Engine's socket.

``cut()`` aborts every open connection (the event stream included) and stops listening, as if
the engine went away; ``heal()`` listens again on the same path, as if it came back. The real
engine is never touched (other users share it). The piping is :class:`kubelite.testing.Splice`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from kubelite.testing import Splice


class UnixProxy(Splice):
    def __init__(self, path: str, upstream: str = "/var/run/docker.sock") -> None:
        super().__init__()
        self.path = path
        self.upstream = upstream
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._handle, self.path)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.splice(reader, writer, lambda: asyncio.open_unix_connection(self.upstream))

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # new connections are refused, as with a stopped engine
        self.abort_all()
