"""``pods/exec`` for the oci runtime: ``runc exec`` as a child process, its pipes as the stream.

With a TTY, ``runc exec --tty`` in the foreground creates the pty inside the container and relays it
to its own stdio, which is a pty of ours (the runc docs' "terminals": pass-through is not possible
for a TTY, and a console socket needs ``--detach``, which loses the exit code); the stream reads and
writes our master, and a resize sets its size and sends runc ``SIGWINCH``. The initial size goes in
twice, because runc sizes its pty from ours only after the process has started (a command typed
ahead would see 0x0): as ``process.consoleSize`` of a ``--process`` spec (runc sizes the pty before
the process runs; ``runc exec`` has no flag for it) and on our pty before runc starts (runc's resize
after the start copies it, which must not undo the first). ``close()`` SIGKILLs the
exec'd process and its descendants, then runc (found through /proc, as the docker runtime does), as
Kubernetes' runtimes end an exec when its stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import struct
import termios
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agent.runtime.base import ContainerRuntimeError, TerminalSize
from agent.runtime.docker_streams import descendants

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
        await _kill_tree(self.process)
        for pump in self._pumps:
            pump.cancel()


class RuncTtyStream:
    """An exec with a TTY: one stream (all output is stdout), the pty master both ways."""

    tty = True

    def __init__(self, process: asyncio.subprocess.Process, master: int) -> None:
        self.process = process
        self.master = master

    async def read(self) -> tuple[int, bytes] | None:
        try:
            data = await asyncio.get_running_loop().run_in_executor(None, os.read, self.master, READ_CHUNK)
        except OSError:  # EIO: the terminal's last holder in the container closed it
            return None
        return (STDOUT, data) if data else None

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = await asyncio.get_running_loop().run_in_executor(None, os.write, self.master, view)
            view = view[written:]

    async def close_stdin(self) -> None:
        await self.write(b"\x04")  # a TTY has no separate stdin to close: EOF is ^D

    async def resize(self, width: int, height: int) -> None:
        set_size(self.master, (width, height))
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGWINCH)

    async def exit_code(self) -> int | None:
        return await self.process.wait()

    async def close(self) -> None:
        await _kill_tree(self.process)
        with contextlib.suppress(OSError):
            os.close(self.master)


async def _kill_tree(process: asyncio.subprocess.Process) -> None:
    """End an exec whose stream ended: the exec'd process and its descendants first (runc cannot forward
    a SIGKILL it receives itself, so killing only ``runc exec`` would leave them running), then runc."""
    if process.returncode is None:
        for victim in [*descendants(process.pid), process.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(victim, signal.SIGKILL)
        await process.wait()


def set_size(fd: int, size: TerminalSize) -> None:
    width, height = size
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def tty_exec_stream(runc: str, root: str, container_id: str, process: dict[str, Any],
                          size: TerminalSize | None) -> RuncTtyStream:
    """``runc exec --process SPEC`` (``spec.exec_process``: its ``terminal`` asks for the TTY), in the foreground on a pty of ours of
    ``size`` (see the module docstring); the spec is read from a memfd, so there is no file to remove."""
    master, slave = os.openpty()
    spec = os.memfd_create("runc-exec-process")
    try:
        os.write(spec, json.dumps(process).encode())
        if size is not None:
            set_size(master, size)
        process_path = f"/proc/self/fd/{spec}"  # runc opens it: a fresh read from the start
        started = await asyncio.create_subprocess_exec(
            runc, "--root", root, "exec", "--process", process_path, container_id,
            stdin=slave, stdout=slave, stderr=slave, pass_fds=(spec,))
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
        os.close(spec)
    return RuncTtyStream(started, master)


async def exec_stream(runc: str, root: str, container_id: str, command: list[str], *,
                      stdin: bool) -> RuncExecStream:
    """``runc exec`` without a terminal: its pipes are the stream."""
    process = await asyncio.create_subprocess_exec(
        runc, "--root", root, "exec", container_id, *command,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    return RuncExecStream(process)


class AttachStream:
    """``pods/attach``: the container's output from now on (its CRI log, followed) and, with stdin,
    writes into the FIFO the supervisor gave the container as stdin. ``close()`` only detaches."""

    tty = False

    def __init__(self, follower: AsyncIterator[tuple[int, bytes]], stdin: int | None) -> None:
        self.follower = follower
        self.stdin = stdin

    @classmethod
    async def open(cls, follower: AsyncIterator[tuple[int, bytes]], fifo: Path | None) -> AttachStream:
        fd = None
        if fifo is not None:  # the supervisor holds the FIFO open for reading: this open does not block
            fd = await asyncio.get_running_loop().run_in_executor(None, os.open, str(fifo), os.O_WRONLY)
        return cls(follower, fd)

    async def read(self) -> tuple[int, bytes] | None:
        try:
            return await anext(self.follower)
        except StopAsyncIteration:
            return None

    async def write(self, data: bytes) -> None:
        if self.stdin is not None:
            await asyncio.get_running_loop().run_in_executor(None, os.write, self.stdin, data)

    async def close_stdin(self) -> None:
        if self.stdin is not None:
            os.close(self.stdin)
            self.stdin = None

    async def resize(self, width: int, height: int) -> None:
        return None

    async def exit_code(self) -> int | None:
        return None  # attach does not own the process

    async def close(self) -> None:
        await self.close_stdin()
        await self.follower.aclose()  # type: ignore[attr-defined]


class TerminalAttach:
    """``pods/attach`` to a ``tty: true`` container: a connection to its supervisor's attach socket
    (what the terminal shows from now on; with ``stdin``, what is written is typed on it) and resizes
    through the supervisor's ``ctl`` FIFO. ``close()`` only detaches."""

    tty = True

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctl: int, *, stdin: bool) -> None:
        self.reader, self.writer, self.ctl, self.stdin = reader, writer, ctl, stdin

    @classmethod
    async def open(cls, directory: Path, *, stdin: bool) -> TerminalAttach:
        # Through the directory's fd: a bundle's path can pass the 108 bytes of a socket address.
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            reader, writer = await asyncio.open_unix_connection(f"/proc/self/fd/{fd}/attach.sock")
        except OSError as exc:
            raise ContainerRuntimeError(f"cannot attach to the container's terminal: {exc}") from exc
        finally:
            os.close(fd)
        # O_RDWR: never blocks, even if the supervisor has not opened its end yet
        ctl = os.open(directory / "ctl", os.O_RDWR | os.O_NONBLOCK)
        return cls(reader, writer, ctl, stdin=stdin)

    async def read(self) -> tuple[int, bytes] | None:
        data = await self.reader.read(READ_CHUNK)
        return (STDOUT, data) if data else None

    async def write(self, data: bytes) -> None:
        if self.stdin and not self.writer.is_closing():
            self.writer.write(data)
            await self.writer.drain()

    async def close_stdin(self) -> None:
        self.stdin = False  # the terminal stays: other clients and the process keep it

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(OSError):
            os.write(self.ctl, f"{width} {height}\n".encode())

    async def exit_code(self) -> int | None:
        return None  # attach does not own the process

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
        with contextlib.suppress(OSError):
            os.close(self.ctl)
