"""Docker's streaming endpoints for the agent: exec, attach, and TCP into a pod's network namespace.

The Docker SDK creates, inspects and resizes execs (``exec_create``/``exec_inspect``/``exec_resize``,
in the runtime's thread pool), but its ``exec_start(socket=True)`` hands back a blocking socket taken
from under ``http.client``'s buffered reader, which may already hold the first output bytes. So the
stream itself is Docker's hijacked connection opened here with asyncio: ``POST /exec/{id}/start`` (or
``/containers/{id}/attach``) with ``Upgrade: tcp``, the response head read with ``readuntil``, then
the raw stream (TTY) or Docker's multiplexed frames (8-byte header: stream 1|2, size) on the same
asyncio ``StreamReader``/``StreamWriter``: reads and ``drain()`` give back-pressure both ways.

An exec's process does not die when its connection closes (Docker keeps it running). Kubernetes'
runtimes kill it when the stream ends; so does ``close()`` here: it SIGKILLs the exec's process and
its descendants (found through /proc: the engine is local, same PID namespace) while Docker still
reports it running. With a remote engine that is not possible, and the limit is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from agent.runtime.base import ContainerNotFound, ContainerRuntimeError, TerminalSize
from kubelite.util import clock

if TYPE_CHECKING:
    from agent.runtime.docker import DockerRuntime

log = logging.getLogger(__name__)

STDOUT, STDERR = 1, 2
READ_CHUNK = 256 << 10
_CLONE_NEWNET = 0x40000000
_EXIT_WAIT = 5.0  # seconds for Docker to report an exec ended once its stream closed
_START_WAIT = 10.0  # seconds for an exec whose stream closed to start (then it is killed) or end
CONSOLE_SIZE_API = (1, 42)  # the first Engine API whose exec start takes ConsoleSize


def engine_address(base_url: str | None) -> tuple[str, str | int]:
    """("unix", path) or (host, port) of the engine from a Docker base URL (DOCKER_HOST style)."""
    url = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if url.startswith(("unix://", "http+unix://")):
        return "unix", "/" + url.split("://", 1)[1].lstrip("/")
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if parts.scheme not in ("tcp", "http") or not parts.hostname:
        raise ContainerRuntimeError(f"exec/attach streams need a unix socket or plain tcp engine address, not {url}")
    return parts.hostname, parts.port or 2375


async def hijack(runtime: DockerRuntime, path: str, *, query: dict[str, Any] | None = None,
                 body: dict[str, Any] | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """POST ``path`` with ``Upgrade: tcp``; (reader, writer) positioned after the response head."""
    host, where = engine_address(runtime.base_url)
    if host == "unix":
        reader, writer = await asyncio.open_unix_connection(str(where), limit=READ_CHUNK)
    else:
        reader, writer = await asyncio.open_connection(host, int(where), limit=READ_CHUNK)
    try:
        payload = json.dumps(body or {}).encode()
        target = f"/v{runtime.api.api_version}{path}" + (f"?{urlencode(query)}" if query else "")
        writer.write(f"POST {target} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()
                     + payload)
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *lines = head.split("\r\n")
        code = int(status_line.split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        if code not in (101, 200):
            length = int(headers.get("content-length") or 0)
            raw = await reader.readexactly(length) if length else b""
            with contextlib.suppress(ValueError):
                raw = json.loads(raw).get("message", raw).encode() if raw.startswith(b"{") else raw
            message = raw.decode(errors="replace").strip() or status_line
            raise (ContainerNotFound if code == 404 else ContainerRuntimeError)(message)
        return reader, writer
    except BaseException:
        writer.close()
        raise


class DockerProcessStream:
    """One exec's (or attach's) stdio on a hijacked connection; see ``ProcessStream``."""

    def __init__(self, runtime: DockerRuntime, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 multiplexed: bool, tty: bool, exec_id: str | None = None, container_id: str = "") -> None:
        self.runtime = runtime
        self.tty = tty
        self.exec_id = exec_id
        self.container_id = container_id
        self._reader = reader
        self._writer = writer
        self._multiplexed = multiplexed
        self._closed = False

    async def read(self) -> tuple[int, bytes] | None:
        try:
            if not self._multiplexed:
                data = await self._reader.read(READ_CHUNK)
                return (STDOUT, data) if data else None
            header = await self._reader.readexactly(8)
            size = int.from_bytes(header[4:8], "big")
            data = await self._reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return (STDERR if header[0] == 2 else STDOUT), data

    async def write(self, data: bytes) -> None:
        """Stdin for the process; dropped once it has ended (its exit status is still to be sent)."""
        if data and not self._writer.is_closing():
            with contextlib.suppress(ConnectionError):
                self._writer.write(data)
                await self._writer.drain()

    async def close_stdin(self) -> None:
        if not self._writer.is_closing() and self._writer.can_write_eof():
            with contextlib.suppress(OSError):
                self._writer.write_eof()

    async def resize(self, width: int, height: int) -> None:
        api = self.runtime.api
        with contextlib.suppress(ContainerRuntimeError):  # the process may have just ended
            if self.exec_id is not None:
                await self.runtime._call(api.exec_resize, self.exec_id, height=height, width=width)
            else:
                await self.runtime._call(api.resize, self.container_id, height=height, width=width)

    async def exit_code(self) -> int | None:
        """The exec's exit code once Docker reports it ended (it may lag the stream's end a little)."""
        if self.exec_id is None:
            return None
        deadline = clock.Deadline(_EXIT_WAIT)
        delay = 0.005
        while True:
            info = await self.runtime._call(self.runtime.api.exec_inspect, self.exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            if deadline.expired():
                return None
            await asyncio.sleep(delay)  # Docker posts the exit right after closing the stream
            delay = min(delay * 2, 0.1)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        if self.exec_id is not None:
            await self._kill_leftover()

    async def _kill_leftover(self) -> None:
        """Kill the exec's process tree when the stream closes before it ended.

        dockerd answers the start's upgrade (101) before it starts the process, so a client that hangs
        up at once can close the stream while the exec is not running yet (Pid 0, no exit code): it
        would then start afterwards and outlive everything. So this waits (bounded) until the exec is
        either running — then it is killed — or over."""
        deadline = clock.Deadline(_START_WAIT)
        delay = 0.005
        while True:
            try:
                info = await self.runtime._call(self.runtime.api.exec_inspect, self.exec_id)
            except ContainerRuntimeError:
                return
            pid = int(info.get("Pid") or 0)
            if info.get("Running") and pid > 0:
                break
            if info.get("ExitCode") is not None or deadline.expired():
                return  # over (or never started: the engine gave up on it)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        if not Path(f"/proc/{pid}").exists():
            log.warning("exec %s (pid %d) outlives its stream: the engine is not local, it cannot be killed",
                        self.exec_id, pid)
            return
        for victim in [pid, *descendants(pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(victim, signal.SIGKILL)
        await self.exit_code()  # wait (bounded) until Docker saw it end


def descendants(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc/*/stat parent links; one pass, then a tree walk)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])  # field 4; the name (field 2) may hold spaces
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = list(children.get(pid, []))
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(children.get(child, []))
    return found


def sized_at_start(api_version: str) -> bool:
    """Whether the engine takes an exec's initial terminal size at start (``ConsoleSize``, API 1.42)."""
    try:
        return tuple(int(part) for part in api_version.split(".")) >= CONSOLE_SIZE_API
    except ValueError:
        return False


async def exec_stream(runtime: DockerRuntime, container_id: str, command: list[str], *, stdin: bool,
                      tty: bool, size: TerminalSize | None = None) -> DockerProcessStream:
    """An exec's stream. With a TTY and ``size`` the process starts on a terminal of that size where the
    engine can (``ConsoleSize``); an older engine sizes it as soon as it runs (its resize waits for the
    start) and the stream is returned only then, so no input reaches the process before its size."""
    created = await runtime._call(runtime.api.exec_create, container_id, command, stdout=True, stderr=True,
                                  stdin=stdin, tty=tty)
    exec_id = str(created["Id"])
    body: dict[str, Any] = {"Detach": False, "Tty": tty}
    late_size = size if tty else None
    if late_size is not None and sized_at_start(runtime.api.api_version):
        body["ConsoleSize"] = [late_size[1], late_size[0]]  # [height, width]
        late_size = None
    reader, writer = await hijack(runtime, f"/exec/{exec_id}/start", body=body)
    # Without a TTY Docker multiplexes stdout and stderr (older API versions say raw-stream all the same)
    stream = DockerProcessStream(runtime, reader, writer, multiplexed=not tty, tty=tty, exec_id=exec_id,
                                 container_id=container_id)
    if late_size is not None:
        await stream.resize(*late_size)
    return stream


async def attach_stream(runtime: DockerRuntime, container_id: str, *, stdin: bool) -> DockerProcessStream:
    raw = await runtime._call(runtime.api.inspect_container, container_id)
    config = raw.get("Config") or {}
    tty = bool(config.get("Tty"))
    query = {"stream": 1, "stdout": 1, "stderr": 1, "stdin": int(stdin and bool(config.get("OpenStdin")))}
    reader, writer = await hijack(runtime, f"/containers/{container_id}/attach", query=query)
    return DockerProcessStream(runtime, reader, writer, multiplexed=not tty, tty=tty, container_id=container_id)


async def open_port(runtime: DockerRuntime, sandbox_id: str, port: int, *,
                    timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """TCP to ``localhost:port`` inside the sandbox's network namespace (what the kubelet's port-forward
    reaches), through a socket made in that namespace; the pod IP when the namespace is not reachable
    (a remote engine)."""
    raw = await runtime._call(runtime.api.inspect_container, sandbox_id)
    pid = int((raw.get("State") or {}).get("Pid") or 0)
    netns = Path(f"/proc/{pid}/ns/net")
    loop = asyncio.get_running_loop()
    if pid > 0 and netns.exists():
        sock = await socket_in_netns(netns)
        try:
            sock.setblocking(False)
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), timeout)
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock, limit=READ_CHUNK)
    networks = ((raw.get("NetworkSettings") or {}).get("Networks") or {}).values()
    ip = next((n.get("IPAddress") for n in networks if n.get("IPAddress")), None)
    if not ip:
        raise ContainerRuntimeError(f"sandbox {sandbox_id[:12]} has no network namespace or IP to connect to")
    return await asyncio.wait_for(asyncio.open_connection(ip, port, limit=READ_CHUNK), timeout)


async def socket_in_netns(netns: Path) -> socket.socket:
    """A TCP socket created inside ``netns`` (a socket keeps the namespace it was made in).

    setns(2) changes only the calling thread's namespace, so a short-lived thread of its own does it
    and returns to its original namespace; a thread that could not return dies with the namespace
    instead of going back to a pool.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()

    def work() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            with open(f"/proc/self/task/{threading.get_native_id()}/ns/net") as own, open(netns) as target:
                if libc.setns(target.fileno(), _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns({netns}): {os.strerror(ctypes.get_errno())}")
                try:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                finally:
                    if libc.setns(own.fileno(), _CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "could not return to the agent's network namespace")
            loop.call_soon_threadsafe(_settle, done, sock, None)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(_settle, done, None, exc)

    threading.Thread(target=work, name="netns-socket", daemon=True).start()
    return await done


def _settle(future: asyncio.Future[socket.socket], sock: socket.socket | None, exc: BaseException | None) -> None:
    if future.done():  # the caller gave up (cancelled): nobody will use the socket
        if sock is not None:
            sock.close()
    elif exc is not None:
        future.set_exception(exc)
    else:
        assert sock is not None
        future.set_result(sock)
