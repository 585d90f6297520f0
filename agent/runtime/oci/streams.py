"""``pods/exec`` for the oci runtime: ``runc exec`` as a child process, its pipes as the stream.

No TTY yet (``runc exec --tty`` needs a console socket to receive the pty's master): a TTY request
is refused with a clear error. ``close()`` kills the exec'd process (``runc exec`` forwards the
signal to it), as Kubernetes' runtimes end an exec when its stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib

from agent.runtime.base import ContainerRuntimeError

STDOUT, STDERR = 1, 2
READ_CHUNK = 64 << 10


class RuncExecStream:
    tty = False

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=16)
        self._pumps = [asyncio.create_task(self._pump(STDOUT)), asyncio.create_task(self._pump(STDERR))]
        self._open = 2

    async def _pump(self, number: int) -> None:
        source = self.process.stdout if number == STDOUT else self.process.stderr
        assert source is not None
        while chunk := await source.read(READ_CHUNK):
            await self._queue.put((number, chunk))  # a full queue stops reading: back-pressure
        await self._queue.put(None)

    async def read(self) -> tuple[int, bytes] | None:
        while self._open:
            item = await self._queue.get()
            if item is not None:
                return item
            self._open -= 1
        return None

    async def write(self, data: bytes) -> None:
        if self.process.stdin is None:
            return
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def close_stdin(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()

    async def resize(self, width: int, height: int) -> None:
        return None  # no TTY

    async def exit_code(self) -> int | None:
        return await self.process.wait()

    async def close(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        for pump in self._pumps:
            pump.cancel()


async def exec_stream(runc: str, root: str, container_id: str, command: list[str], *, stdin: bool,
                      tty: bool) -> RuncExecStream:
    if tty:
        raise ContainerRuntimeError("the oci runtime does not support a TTY for exec yet: run without -t")
    process = await asyncio.create_subprocess_exec(
        runc, "--root", root, "exec", container_id, *command,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    return RuncExecStream(process)
