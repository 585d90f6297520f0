"""The Docker Engine runtime: the Docker SDK's low-level API, off the event loop.

Blocking SDK calls run in this runtime's own thread pool (``asyncio``'s
default pool has only cpu+4 threads, and log followers would starve it);
long-lived streams (engine events, ``logs --follow``) get a dedicated thread
each, feeding an asyncio queue. Exits are seen through the engine's event
stream, filtered to this node's label, so there is no polling per container.
Inspections are cached while that stream is subscribed (exited ones always), and
dropped when an event or the agent's own start/stop/remove names the container
(:mod:`agent.runtime.docker_cache`); a listing whose state disagrees with the
cached one is inspected again. Transport
failures raise ``RuntimeUnavailable``; every event stream begins with a
``SUBSCRIBED`` item so the agent knows when to re-list. Containers get the
``json-file`` log driver with rotation (``LogLimits``), and the data root's
``statvfs`` and each container's writable layer + logs feed disk-pressure eviction.
Usage samples (``container_usage``) read the container's cgroup files on a local engine, else
one-shot stats calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions

from agent.runtime.cgroupusage import read_cgroup_usage
from agent.runtime.docker_cache import InspectCache
from agent.runtime import docker_streams
from agent.runtime.seccomp import load_profile
from agent.runtime.base import (
    LABEL_NODE,
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerUsage,
    ExecResult,
    FsStats,
    HostResources,
    ImagePullError,
    LogLimits,
    PortMapping,
    ProcessStream,
    SUBSCRIBED,
    RuntimeEvent,
    RuntimeUnavailable,
    RuntimeVersion,
    TerminalSize,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
PING_TIMEOUT = 5.0  # seconds; the kubelet checks its runtime's status every 5 s
_EVENT_ACTIONS = {"create", "start", "die", "oom", "destroy", "kill", "stop"}
_STATES = {"created": "created", "running": "running", "paused": "running", "restarting": "running",
           "removing": "exited", "exited": "exited", "dead": "exited"}



def log_config(limits: LogLimits) -> dict[str, Any]:
    """A container's HostConfig ``LogConfig``: json-file with rotation, as the kubelet caps container logs
    (``docker logs`` reads across the files)."""
    return {"Type": "json-file", "Config": {"max-size": str(limits.max_bytes), "max-file": str(limits.max_files)}}

class DockerRuntime:
    name = "docker"
    has_network = True
    runs_processes = True
    creates_before_sandbox_starts = True  # `container:<id>` is resolved at the joining container's start

    def __init__(
        self, *, node: str, base_url: str | None = None, workers: int = 16, log_limits: LogLimits | None = None,
    ) -> None:
        self.node = node
        self.base_url = base_url
        self.workers = workers
        self.log_limits = log_limits or LogLimits()
        self._api: docker.APIClient | None = None
        self._pinger: docker.APIClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        # Execs (probes) and health pings get threads of their own: docker cannot cancel an exec, so
        # one whose command hangs holds its thread until the command ends, and must not make container
        # lifecycle calls, or the ping that says whether the engine is alive, wait behind it.
        self._exec_pool: ThreadPoolExecutor | None = None
        self._ping_pool: ThreadPoolExecutor | None = None
        self._inspected = InspectCache()
        self._streams: set[Any] = set()

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Connect and ping; RuntimeUnavailable when the engine does not answer (callers may retry)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"docker-{self.node}")
            self._exec_pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"docker-exec-{self.node}")
            self._ping_pool = ThreadPoolExecutor(1, thread_name_prefix=f"docker-ping-{self.node}")

        def client(timeout: float, pool: int, version: str | None = None) -> docker.APIClient:
            kwargs: dict[str, Any] = {"base_url": self.base_url} if self.base_url else docker.utils.kwargs_from_env()
            if version:
                kwargs["version"] = version
            return docker.APIClient(timeout=timeout, max_pool_size=pool, **kwargs)

        def connect() -> tuple[docker.APIClient, docker.APIClient]:
            api = client(60, self.workers + 4)
            api.ping()
            # Health pings get their own connection and a short timeout: a hung engine must not
            # pile pings up on the shared pool (each would hold a thread for the 60 s timeout).
            return api, client(PING_TIMEOUT, 1, version=api.api_version)

        self._api, self._pinger = await self._call(connect)

    async def stop(self) -> None:
        for stream in list(self._streams):
            with contextlib.suppress(Exception):
                stream.close()
        if self._pinger is not None:
            pinger, self._pinger = self._pinger, None
            await self._call(pinger.close)
        if self._api is not None:
            api, self._api = self._api, None
            await self._call(api.close)
        for pool in (self._pool, self._exec_pool, self._ping_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._exec_pool = self._ping_pool = None

    @property
    def api(self) -> docker.APIClient:
        if self._api is None:
            raise ContainerRuntimeError("docker runtime not started")
        return self._api

    async def _call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._call_on(self._pool, func, *args, **kwargs)

    async def _call_on(self, pool: ThreadPoolExecutor | None, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, lambda: func(*args, **kwargs))
        except docker.errors.NotFound as exc:
            raise ContainerNotFound(_explain(exc)) from exc
        except docker.errors.APIError as exc:
            raise ContainerRuntimeError(_explain(exc)) from exc
        except docker.errors.DockerException as exc:
            if isinstance(exc.__context__, requests.exceptions.ConnectionError):
                raise RuntimeUnavailable(f"docker engine unreachable: {exc}") from exc
            raise ContainerRuntimeError(str(exc)) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError) as exc:
            # The SDK lets transport errors through raw: the engine is down or restarting.
            raise RuntimeUnavailable(f"docker engine unreachable: {exc}") from exc

    # -- engine facts --------------------------------------------------------

    def _local(self) -> bool:
        """Whether the engine is on this host (its unix socket): its clock, cgroups and disk are this host's."""
        return str(self.api.base_url).startswith("http+docker://")

    async def ping(self) -> None:
        await self._call_on(self._ping_pool, (self._pinger or self.api).ping)

    async def version(self) -> RuntimeVersion:
        info = await self._call(self.api.version)
        return RuntimeVersion(name="docker", version=info.get("Version", ""), api_version=info.get("ApiVersion", ""),
                              os=info.get("Os", ""), kernel=info.get("KernelVersion", ""), arch=info.get("Arch", ""))

    async def host_resources(self) -> HostResources:
        info = await self._call(self.api.info)
        return HostResources(cpu_millis=int(info.get("NCPU", 1)) * 1000, memory_bytes=int(info.get("MemTotal", 0)))

    async def image_present(self, image: str) -> bool:
        try:
            await self._call(self.api.inspect_image, image)
        except ContainerNotFound:
            return False
        return True

    async def pull_image(self, image: str) -> None:
        repository, tag = _split_image(image)
        try:
            await self._call(self.api.pull, repository, tag=tag)
        except ContainerRuntimeError as exc:
            raise ImagePullError(f"failed to pull image {image!r}: {exc}") from exc

    async def load_image(self, archive: Path) -> list[str]:
        """``docker load`` of a ``docker save`` tarball or an OCI archive → the names it loaded."""
        def load() -> list[str]:
            with open(archive, "rb") as data:
                names: list[str] = []
                for message in self.api.load_image(data):
                    if message.get("error"):
                        raise ImagePullError(f"{archive.name}: not a docker save or OCI archive ({message['error']})")
                    stream = str(message.get("stream") or "")
                    if stream.startswith("Loaded image: "):
                        names.append(stream.removeprefix("Loaded image: ").strip())
                if not names:
                    raise ImagePullError(f"{archive.name}: the archive names no image")
                return names

        try:
            return await self._call(load)
        except ImagePullError:
            raise
        except ContainerRuntimeError as exc:  # the engine refused the body (not a tar file...)
            raise ImagePullError(f"{archive.name}: not a docker save archive ({exc})") from exc

    # -- containers ----------------------------------------------------------

    async def create_container(self, spec: ContainerSpec) -> str:
        api = self.api
        bindings: dict[str, Any] = {}
        for port in spec.ports:
            bindings[f"{port.container_port}/{port.protocol.lower()}"] = (port.host_ip, port.host_port or None)
        security = await self._call(self._security, spec)  # reads the seccomp profile file: off the loop
        host_config = api.create_host_config(
            port_bindings=bindings or None,
            network_mode=f"container:{spec.network_of}" if spec.network_of else None,
            init=spec.init,
            cpu_period=CPU_PERIOD_US if spec.cpu_millis else None,
            cpu_quota=cpu_quota(spec.cpu_millis) if spec.cpu_millis else None,
            cpu_shares=cpu_shares(spec.cpu_request_millis) if spec.cpu_request_millis is not None else None,
            mem_limit=spec.memory_bytes or None,
            # memory+swap = memory: no swap, so a container over its limit is OOM-killed (as under the kubelet)
            memswap_limit=spec.memory_bytes or None,
            binds=[f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'}" for m in spec.mounts] or None,
            log_config=self._log_config(),
            dns=list(spec.dns) or None, dns_search=list(spec.dns_search) or None, dns_opt=list(spec.dns_options) or None,
            **security,
        )
        try:
            created = await self._call(
                api.create_container, spec.image, name=spec.name, labels=spec.labels,
                command=spec.args, entrypoint=spec.command, environment=spec.env or None,
                ports=[(p.container_port, p.protocol.lower()) for p in spec.ports] or None,
                host_config=host_config, detach=True, stdin_open=spec.stdin, tty=spec.tty, hostname=spec.hostname,
                user=await self._user(spec),
            )
        except ContainerNotFound as exc:
            if "no such image" not in str(exc).lower():
                raise  # e.g. the sandbox whose network it joins is gone: not an image problem
            raise ImagePullError(f"image {spec.image!r} is not present: {exc}") from exc
        container_id = str(created["Id"])
        self._inspected.expect(container_id, "create")  # nothing was read of it before: its event drops nothing
        return container_id

    def _security(self, spec: ContainerSpec) -> dict[str, Any]:
        """HostConfig for the container's ``SecuritySettings`` (``agent/security.py`` decided them): the
        capability set exactly (drop ALL, add the set), the same seccomp profile file the oci runtime
        applies (Docker takes the profile's text), unconfined when there is none."""
        security = spec.security
        options = ["no-new-privileges:true"] if security.no_new_privileges else []
        if security.seccomp_profile is not None and not security.privileged:
            text, _ = load_profile(security.seccomp_profile)
            options.append(f"seccomp={text}")
        elif not security.privileged:
            options.append("seccomp=unconfined")
        caps: dict[str, Any] = {} if security.privileged else {
            "cap_drop": ["ALL"], "cap_add": list(security.capabilities) or None}
        return dict(privileged=security.privileged, read_only=security.read_only_root or None,
                    group_add=[str(g) for g in security.supplemental_groups] or None, security_opt=options, **caps)

    async def _user(self, spec: ContainerSpec) -> str | None:
        """``uid[:gid]`` from runAsUser/runAsGroup; a group alone keeps the image's user."""
        security = spec.security
        if security.run_as_user is None and security.run_as_group is None:
            return None
        user = str(security.run_as_user) if security.run_as_user is not None else None
        if user is None:
            config = (await self._call(self.api.inspect_image, spec.image)).get("Config") or {}
            user = str(config.get("User") or "0").partition(":")[0] or "0"
        return user if security.run_as_group is None else f"{user}:{security.run_as_group}"

    def _log_config(self) -> dict[str, Any]:
        return log_config(self.log_limits)

    async def start_container(self, container_id: str) -> None:
        self._inspected.expect(container_id, "start")  # its event may come before the call's answer
        try:
            with self._changing(container_id):
                await self._call(self.api.start, container_id)
        except BaseException:
            self._inspected.unexpect(container_id, "start")
            raise

    async def stop_container(self, container_id: str, *, timeout: float) -> None:
        # Docker sends SIGTERM, then SIGKILL after `t` seconds; the HTTP call must outlive that.
        with self._changing(container_id):
            await self._call(self.api.stop, container_id, timeout=max(0, int(round(timeout))))

    async def remove_container(self, container_id: str) -> None:
        with self._changing(container_id):
            try:
                await self._call(self.api.remove_container, container_id, force=True)
            except ContainerRuntimeError as exc:
                if "already in progress" not in str(exc):  # a concurrent removal: the outcome is the same
                    raise

    @contextlib.contextmanager
    def _changing(self, container_id: str) -> Iterator[None]:
        """The agent changes the container: its cached inspection goes before (an inspect racing the
        call) and after (one that read it mid-call), not only when the event arrives later."""
        self._inspected.invalidate(container_id)
        try:
            yield
        finally:
            self._inspected.invalidate(container_id)

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        summaries = await self._call(self.api.containers, all=True, filters=filters)
        for summary in summaries:  # the listing's own state is newer than a cached one that disagrees
            cached = self._inspected.get(summary["Id"])
            if cached is not None and cached.state != _STATES.get(str(summary.get("State") or ""), "unknown"):
                self._inspected.invalidate(summary["Id"])
        infos = await asyncio.gather(*(self.inspect(s["Id"]) for s in summaries))
        return [info for info in infos if info is not None]

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        cached = self._inspected.get(container_id)
        if cached is not None:
            return cached
        ticket = self._inspected.begin()
        info: ContainerInfo | None = None
        try:
            info = self._inspected.with_oom_events(
                parse_inspect(await self._call(self.api.inspect_container, container_id)))
        except ContainerNotFound:
            return None
        finally:
            self._inspected.finish(ticket, container_id, info)
        return info

    async def exec(self, container_id: str, command: list[str], *, timeout: float) -> ExecResult:
        api = self.api

        def run() -> ExecResult:
            exec_id = api.exec_create(container_id, command, stdout=True, stderr=True)["Id"]
            output = api.exec_start(exec_id)
            code = api.exec_inspect(exec_id).get("ExitCode")
            return ExecResult(exit_code=-1 if code is None else int(code), output=output or b"")

        return await self._call_on(self._exec_pool, run)

    # -- streams -------------------------------------------------------------

    async def exec_stream(self, container_id: str, command: list[str], *, stdin: bool, tty: bool,
                          size: TerminalSize | None = None) -> ProcessStream:
        return await docker_streams.exec_stream(self, container_id, command, stdin=stdin, tty=tty, size=size)

    async def attach_stream(self, container_id: str, *, stdin: bool) -> ProcessStream:
        return await docker_streams.attach_stream(self, container_id, stdin=stdin)

    async def open_port(self, sandbox_id: str, port: int, *,
                        timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await docker_streams.open_port(self, sandbox_id, port, timeout=timeout)

    def logs(self, container_id: str, *, follow: bool, tail: int | None, timestamps: bool) -> AsyncIterator[bytes]:
        if follow:
            return self._follow_logs(container_id, tail=tail, timestamps=timestamps)

        def open_stream() -> Any:
            return self.api.logs(container_id, stream=True, follow=False, timestamps=timestamps,
                                 tail="all" if tail is None else tail)

        return self._stream(f"logs-{container_id[:12]}", open_stream, lambda chunk: chunk)

    async def _follow_logs(self, container_id: str, *, tail: int | None, timestamps: bool) -> AsyncIterator[bytes]:
        """``logs -f`` that survives log rotation.

        Docker 20.10's json-file follower can stop (or replay lines) when the file rotates
        faster than it reads. Lines are read with their timestamps; when the engine's stream
        ends while the container still runs, it is reopened from the last timestamp seen
        (``since``, whole seconds) and lines not newer than that are dropped, so the client
        sees one ordered stream. Timestamps are removed again unless the client asked for them.
        """
        last: tuple[str, int] | None = None
        pending = b""
        final = False  # the container stopped: one last plain read catches what the follower missed
        while True:
            since = _since(last)

            # Nothing sent yet: the client's tail applies; else everything since the last line sent.
            wanted_tail: int | str = ("all" if tail is None else tail) if last is None else "all"

            def open_stream(since: int | None = since, follow: bool = not final, tail: int | str = wanted_tail) -> Any:
                return self.api.logs(container_id, stream=True, follow=follow, timestamps=True, tail=tail,
                                     since=since)

            async with contextlib.aclosing(  # type: ignore[type-var]
                    self._stream(f"logs-{container_id[:12]}", open_stream, lambda chunk: chunk)) as stream:
                async for chunk in stream:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        stamp, _, text = line.partition(b" ")
                        key = _log_time(stamp)
                        if last is not None and key is not None and key <= last:
                            continue  # seen before the stream was reopened (or replayed at a rotation)
                        last = key or last
                        yield (line if timestamps else text) + b"\n"
            if final:
                if pending:  # an unfinished last line
                    yield pending if timestamps else pending.partition(b" ")[2]
                return
            # An unfinished line is dropped here: the next read (``since`` is inclusive) has it again.
            pending = b""
            info = await self.inspect(container_id)
            if info is None:
                return
            if info.state != "running":
                # The engine's follower can end at the container's exit before its last output
                # reached the log file: read once more, without following.
                final = True
                continue
            await asyncio.sleep(0.05)  # the container runs on: the engine gave up following; resume

    def events(self) -> AsyncIterator[RuntimeEvent]:
        def open_stream() -> Any:
            filters = {"type": ["container"], "label": [f"{LABEL_NODE}={self.node}"]}
            return self.api.events(decode=True, filters=filters)

        def convert(raw: dict[str, Any]) -> RuntimeEvent | None:
            action = str(raw.get("Action") or raw.get("status") or "").split(":")[0]
            if action not in _EVENT_ACTIONS:
                return None
            actor = raw.get("Actor") or {}
            container_id = actor.get("ID") or raw.get("id", "")
            self._inspected.event(container_id, action)  # in the reader thread: before the agent hears of it
            attributes = actor.get("Attributes") or {}
            labels = {k: v for k, v in attributes.items() if k.startswith("kubelite.")}
            return RuntimeEvent(container_id=container_id, action=action, labels=labels)

        def subscribed() -> RuntimeEvent:
            # Events are not replayed: what the cache holds may have changed during the gap.
            self._inspected.subscribed()
            return RuntimeEvent(container_id="", action=SUBSCRIBED, labels={})

        return self._stream(f"events-{self.node}", open_stream, convert, first=subscribed,
                            last=self._inspected.unsubscribed)

    async def _stream(
        self, name: str, open_stream: Callable[[], Any], convert: Callable[[Any], Any],
        first: Callable[[], Any] | None = None, last: Callable[[], None] | None = None,
    ) -> AsyncIterator[Any]:
        """Iterate a blocking SDK stream in a dedicated thread; closing the iterator closes the stream.
        ``first()``, when given, is yielded once the stream is open; ``last()`` runs once after it
        ended or broke (in the reader thread, before the consumer hears of it), if ``first`` ran."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stream = await self._call(open_stream)
        self._streams.add(stream)
        if first is not None:
            queue.put_nowait(("item", first()))

        def pump() -> None:
            try:
                for item in _iterate(stream):
                    converted = convert(item)
                    if converted is not None:
                        loop.call_soon_threadsafe(queue.put_nowait, ("item", converted))
                outcome: tuple[str, Any] = ("end", None)
            except Exception as exc:  # the stream broke (engine restarted, closed by us)
                outcome = ("error", exc)
            if last is not None:
                last()
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                loop.call_soon_threadsafe(queue.put_nowait, outcome)

        thread = threading.Thread(target=pump, name=name, daemon=True)
        thread.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "item":
                    yield value
                elif kind == "error":
                    raise ContainerRuntimeError(f"{name}: stream failed: {value}")
                else:
                    return
        finally:
            self._streams.discard(stream)
            with contextlib.suppress(Exception):
                stream.close()

    async def probe_network(self, info: ContainerInfo, kind: str, port: int, path: str) -> bool | None:
        return None  # containers are reachable on their bridge IP

    # -- disk ------------------------------------------------------------------

    async def filesystem_stats(self) -> dict[str, FsStats]:
        """statvfs of Docker's data root: it holds images (imagefs) and container logs and layers (nodefs).

        {} when the data root is not on this host (a remote engine): no disk signal then.
        """
        if not self._local():  # reached over TCP: not this host's disk
            return {}
        info = await self._call(self.api.info)
        root = info.get("DockerRootDir") or "/var/lib/docker"
        try:
            vfs = await asyncio.to_thread(os.statvfs, root)
        except OSError:
            return {}
        stats = FsStats(capacity_bytes=vfs.f_blocks * vfs.f_frsize, available_bytes=vfs.f_bavail * vfs.f_frsize)
        return {"nodefs.available": stats, "imagefs.available": stats}

    # -- usage -----------------------------------------------------------------

    async def container_usage(self, container_id: str, *, annotations: Mapping[str, str]) -> ContainerUsage | None:
        """The container's cgroup files when the engine is local (``cgroupusage``: microseconds), else one
        ``GET /containers/{id}/stats?stream=false&one-shot=true`` (answered at Docker's next 1 s collector
        tick; rates come from the agent's own samples)."""
        if self._local():  # a local engine: its cgroups are ours to read
            usage = await asyncio.to_thread(read_cgroup_usage, container_id)
            if usage is not None:
                return usage
        try:
            raw = await self._call(self.api.stats, container_id, stream=False, one_shot=True)
        except ContainerNotFound:
            return None
        return usage_from_stats(raw)

    async def disk_usage(self, container_id: str) -> int | None:
        """Writable layer (``SizeRw``) plus every file of the container's log; None when it is gone."""
        sized = await self._call(self.api.containers, all=True, size=True, filters={"id": container_id})
        if not sized:
            return None
        total = int(sized[0].get("SizeRw") or 0)
        try:
            raw = await self._call(self.api.inspect_container, container_id)
        except ContainerNotFound:
            return None
        log_path = raw.get("LogPath") or ""
        if log_path:
            for index in range(self.log_limits.max_files + 1):
                path = log_path if index == 0 else f"{log_path}.{index}"
                with contextlib.suppress(OSError):
                    total += os.stat(path).st_size
        return total


CPU_PERIOD_US = 100_000  # the kubelet's CFS period (100 ms)


def cpu_quota(limit_millis: int) -> int:
    """CFS quota in µs per period for a cpu limit (kubelet MilliCPUToQuota; at least 1 ms)."""
    return max(1000, limit_millis * CPU_PERIOD_US // 1000)


def cpu_shares(request_millis: int) -> int:
    """cpu.shares for a cpu request (kubelet MilliCPUToShares: 1024 per core, at least 2)."""
    return max(2, request_millis * 1024 // 1000)


def _log_time(stamp: bytes) -> tuple[str, int] | None:
    """``2026-11-30T19:50:00.123456789Z`` → ("2026-11-30T19:50:00", 123456789): comparable (Docker
    trims trailing zeros of the nanoseconds, so the text alone does not sort)."""
    text = stamp.decode(errors="replace").rstrip("Z")
    head, _, fraction = text.partition(".")
    if len(head) != 19 or "T" not in head:
        return None
    return head, int((fraction + "000000000")[:9] or 0) if fraction.isdigit() or not fraction else 0


def _since(last: tuple[str, int] | None) -> int | None:
    """Whole seconds of the last line seen (Docker's ``since`` is inclusive; newer lines are filtered)."""
    if last is None:
        return None
    return int(datetime.fromisoformat(last[0]).replace(tzinfo=UTC).timestamp())


def _iterate(stream: Any) -> Iterator[Any]:
    yield from stream


def _split_image(image: str) -> tuple[str, str]:
    if "@" in image:
        return image, ""
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return image, "latest"
    return name, tag


def _explain(exc: docker.errors.APIError | docker.errors.NotFound) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def _time(raw: str | None) -> datetime | None:
    """Docker's RFC 3339 with nanoseconds; its zero time means "never"."""
    if not raw or raw.startswith("0001-"):
        return None
    text = raw.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def usage_from_stats(raw: dict[str, Any]) -> ContainerUsage | None:
    """A Docker stats document as a usage sample; None for a container that is not running (no
    memory figures). Working set as the kubelet's cAdvisor computes it: usage minus inactive file
    pages (cgroup v1 ``total_inactive_file``, v2 ``inactive_file``), never below 0."""
    memory = raw.get("memory_stats") or {}
    cpu = (raw.get("cpu_stats") or {}).get("cpu_usage") or {}
    if "usage" not in memory or "total_usage" not in cpu:
        return None
    stats = memory.get("stats") or {}
    inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    usage = int(memory["usage"])
    return ContainerUsage(cpu_core_ns=int(cpu["total_usage"]),
                          memory_working_set_bytes=max(usage - int(inactive), 0))


def parse_inspect(raw: dict[str, Any]) -> ContainerInfo:
    state = raw.get("State") or {}
    config = raw.get("Config") or {}
    network = raw.get("NetworkSettings") or {}
    ip = network.get("IPAddress") or next(
        (n.get("IPAddress") for n in (network.get("Networks") or {}).values() if n.get("IPAddress")), None)
    host_ports: list[tuple[PortMapping, int]] = []
    for key, bindings in (network.get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for binding in bindings or []:
            if binding.get("HostIp", "") in ("", "127.0.0.1", "0.0.0.0"):
                mapping = PortMapping(int(port), None, proto.upper() or "TCP", binding.get("HostIp") or "127.0.0.1")
                host_ports.append((mapping, int(binding["HostPort"])))
                break
    status = _STATES.get(state.get("Status", ""), "unknown")
    mode = str((raw.get("HostConfig") or {}).get("NetworkMode") or "")
    return ContainerInfo(
        id=raw["Id"], name=str(raw.get("Name", "")).lstrip("/"), image=config.get("Image", ""),
        image_id=raw.get("Image", ""), labels=dict(config.get("Labels") or {}), state=status,  # type: ignore[arg-type]
        exit_code=state.get("ExitCode") if status == "exited" else None,
        started_at=_time(state.get("StartedAt")), finished_at=_time(state.get("FinishedAt")) if status == "exited" else None,
        created_at=_time(raw.get("Created")), oom_killed=bool(state.get("OOMKilled")), error=state.get("Error") or "",
        ip=ip or None, host_ports=tuple(host_ports),
        network_of=mode.removeprefix("container:") if mode.startswith("container:") else None,
    )
