"""The Docker-free runtime: pods in Linux namespaces through ``runc`` (or ``crun``) and CNI.

What each protocol call does (``agent/runtime/base.py``):

- a pod's **sandbox** (container ``POD``) runs no process: it is a network namespace set up by the
  CNI plugins (``cni.py``); it is "running" while that namespace exists, its IP is the pod IP,
  stopping or removing it runs CNI DEL;
- an app **container** is a directory ``<root>/nodes/<node>/containers/<id>/`` holding
  ``meta.json`` (name, image, labels, times), the OCI ``config.json`` (``spec.py``), an overlayfs
  ``rootfs`` (the image's unpacked rootfs as lower layer, ``upper``/``work`` beside it), and what the
  per-container supervisor writes (``supervisor.py``: ``container.log``, ``started.json``,
  ``exit.json``). The supervisor (``runc create``/``start``, then it reaps the process) runs in its own session, so containers survive the
  agent; a restarted agent lists the same directories (rediscovery) and the agent removes orphans
  through ``remove_container`` like with Docker;
- **events**: the runtime emits ``create``/``start``/``die``/``destroy`` for what it does, and each
  events() stream looks for new ``exit.json`` files every ``poll`` seconds (the kubelet's PLEG
  relists every second too; a stat per running container);
- **exec**: ``runc exec``; logs: the CRI log file (``crilog.py``); port-forward: a socket
  made in the pod's network namespace (localhost inside it).

Blocking calls (runc, CNI plugins, skopeo/umoci, mount) run in this runtime's own thread pool.
Needs root, a cgroup hierarchy, runc/crun, the CNI plugins and umoci/skopeo: ``preflight()`` says
which is missing in one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from agent.runtime.base import (
    LABEL_CONTAINER,
    LABEL_POD_NAME,
    SANDBOX_NAME,
    SUBSCRIBED,
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerState,
    ContainerUsage,
    ExecResult,
    FsStats,
    HostResources,
    ImagePullError,
    LogLimits,
    PortMapping,
    ProcessStream,
    RuntimeEvent,
    RuntimeVersion,
    TerminalSize,
    SecuritySettings,
    ALL_CAPABILITIES,
)
from agent.runtime.cgroupusage import read_cgroup_usage
from agent.runtime.oci import cni, crilog
from agent.runtime.oci.images import ImageStore
from agent.runtime.oci.spec import exec_process, runtime_spec
from agent.runtime.seccomp import load_profile, oci_seccomp

log = logging.getLogger(__name__)
T = TypeVar("T")
CGROUP_PARENT = "kubelite-oci"
DEFAULT_ROOT = Path("/var/lib/kubelite/oci")


def preflight(runc: str) -> str | None:
    """What this host lacks for the oci runtime, in one line; None when nothing."""
    if os.geteuid() != 0:
        return "the oci runtime needs root (namespaces, mounts, cgroups, iptables)"
    if shutil.which(runc) is None:
        return f"the oci runtime needs {runc!r} (apt-get install runc, or --oci-runtime crun)"
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "the oci runtime needs a cgroup hierarchy mounted at /sys/fs/cgroup (v1 with memory, or v2)"
    for tool, package in (("umoci", "umoci"), ("skopeo", "skopeo"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            return f"the oci runtime needs {tool} (apt-get install {package})"
    if not Path(cni.CniConfig.plugin_dir, "bridge").exists():
        return f"the oci runtime needs the CNI plugins in {cni.CniConfig.plugin_dir} (apt-get install containernetworking-plugins)"
    return None


def _time(raw: Any) -> datetime | None:
    if not raw:
        return None
    text = str(raw).rstrip("Z")
    head, _, fraction = text.partition(".")
    return datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}").replace(tzinfo=UTC)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603


class OciRuntime:
    name = "oci"
    has_network = True
    runs_processes = True
    creates_before_sandbox_starts = False  # the create binds the sandbox's hosts/resolv.conf, written at its start

    def __init__(
        self, *, node: str, root: Path = DEFAULT_ROOT, runc: str = "runc", network: cni.CniConfig | None = None,
        images: ImageStore | None = None, poll: float = 0.5, workers: int = 16, log_limits: LogLimits | None = None,
    ) -> None:
        self.log_limits = log_limits or LogLimits()
        self.node = node
        self.root = root
        self.runc = runc
        self.network = network or cni.CniConfig(ipam_dir=str(root / "cni" / "ipam"))
        self.images = images or ImageStore(root / "images")
        self.poll = poll
        self.containers_dir = root / "nodes" / node / "containers"
        self.runc_root = str(root / "runc")  # runc's own state (shared by nodes: container ids are random)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"oci-{node}")
        self._subscribers: set[asyncio.Queue[RuntimeEvent]] = set()

    # -- lifecycle / engine facts ---------------------------------------------

    async def start(self) -> None:
        self.containers_dir.mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _call(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: func(*args))

    async def ping(self) -> None:
        if not self.containers_dir.is_dir():
            raise ContainerRuntimeError(f"{self.containers_dir} is missing")

    async def version(self) -> RuntimeVersion:
        out = (await self._call(_run, [self.runc, "--version"])).stdout.split("\n", 1)[0]
        uname = os.uname()
        return RuntimeVersion(name=Path(self.runc).name, version=out.rsplit(" ", 1)[-1], api_version="oci",
                              os=uname.sysname.lower(), kernel=uname.release, arch=uname.machine)

    async def host_resources(self) -> HostResources:
        memory = 0
        with contextlib.suppress(OSError, ValueError):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    memory = int(line.split()[1]) * 1024
        return HostResources(cpu_millis=(os.cpu_count() or 1) * 1000, memory_bytes=memory)

    # -- images ------------------------------------------------------------------

    async def image_present(self, image: str) -> bool:
        return await self._call(self.images.present, image)

    async def pull_image(self, image: str) -> None:
        await self._call(self.images.pull, image)

    async def load_image(self, archive: Path) -> list[str]:
        """Load a ``docker save`` tarball or an OCI archive into the node's store → image names."""
        return await self._call(self.images.load_archive, archive)

    # -- records -------------------------------------------------------------------

    def _dir(self, container_id: str) -> Path:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise ContainerNotFound(f"no such container: {container_id!r}")
        return self.containers_dir / container_id

    def _meta(self, container_id: str) -> dict[str, Any]:
        meta = _read_json(self._dir(container_id) / "meta.json")
        if meta is None:
            raise ContainerNotFound(f"no such container: {container_id}")
        return meta

    def _emit(self, container_id: str, action: str, labels: dict[str, str]) -> None:
        for queue in list(self._subscribers):
            queue.put_nowait(RuntimeEvent(container_id=container_id, action=action, labels=labels))

    def _info(self, container_id: str) -> ContainerInfo | None:
        directory = self.containers_dir / container_id
        meta = _read_json(directory / "meta.json")
        if meta is None:
            return None
        started = _read_json(directory / "started.json")
        exited = _read_json(directory / "exit.json")
        state: ContainerState = "created"
        ip = None
        host_ports: tuple[tuple[PortMapping, int], ...] = ()
        if exited is not None:
            state = "exited"
        elif started is not None:
            state = "running"
            if meta.get("sandbox"):
                if not (cni.NETNS_DIR / meta["netns"]).exists():  # the host rebooted: the namespace is gone
                    state, exited = "exited", {"exit_code": 255}
            elif not _alive(int(started.get("pid", 0))):  # supervisor gone without a record (killed -9)
                state, exited = "exited", {"exit_code": 255}
        if meta.get("sandbox") and state == "running":
            record = _read_json(directory / "cni.json") or {}
            ip = record.get("ip")
            host_ports = tuple((PortMapping(int(p[0]), int(p[1]), p[2], p[3]), int(p[1])) for p in meta.get("ports", [])
                               if p[1])
        return ContainerInfo(
            id=container_id, name=meta["name"], image=meta["image"], image_id=meta.get("image_id", ""),
            labels=dict(meta["labels"]), state=state,
            exit_code=int(exited["exit_code"]) if exited is not None else None,
            started_at=_time((started or {}).get("started_at")), finished_at=_time((exited or {}).get("finished_at")),
            created_at=_time(meta.get("created_at")), error=(exited or {}).get("error", ""), ip=ip,
            oom_killed=bool((exited or {}).get("oom_killed")),
            host_ports=host_ports, network_of=meta.get("network_of"),
        )

    # -- containers ----------------------------------------------------------------

    async def create_container(self, spec: ContainerSpec) -> str:
        return await self._call(self._create, spec)

    def _create(self, spec: ContainerSpec) -> str:
        container_id = secrets.token_hex(16)
        directory = self.containers_dir / container_id
        sandbox = spec.labels.get(LABEL_CONTAINER) == SANDBOX_NAME and spec.network_of is None
        meta: dict[str, Any] = {"name": spec.name, "image": spec.image, "labels": spec.labels, "created_at": crilog.rfc3339_nano(),
                                "sandbox": sandbox, "network_of": spec.network_of, "stdin": spec.stdin, "tty": spec.tty}
        if sandbox:
            meta["netns"] = f"kl-{container_id[:12]}"
            meta["ports"] = [[p.container_port, p.host_port or 0, p.protocol, p.host_ip] for p in spec.ports]
            # the pod's hostname and resolv.conf (ClusterFirst: the cluster DNS), as Docker's --dns* flags
            meta["hostname"] = spec.hostname
            meta["dns"] = {"servers": list(spec.dns), "search": list(spec.dns_search), "options": list(spec.dns_options)}
            directory.mkdir(parents=True)
            _write_json(directory / "meta.json", meta)
            self._emit(container_id, "create", spec.labels)
            return container_id
        image = self.images.unpacked(spec.image)
        spec = dataclasses.replace(spec, security=_host_capabilities(spec.security))
        netns = None
        owner: dict[str, Any] | None = None
        if spec.network_of:
            owner = _read_json(self.containers_dir / spec.network_of / "meta.json")
            if owner is None or not owner.get("sandbox"):
                raise ContainerRuntimeError(f"sandbox {spec.network_of} of container {spec.name} is gone")
            netns = cni.netns_path(owner["netns"])
        meta["image_id"] = image.image_id
        directory.mkdir(parents=True)
        try:
            for sub in ("upper", "work", "rootfs"):
                (directory / sub).mkdir()
            config = runtime_spec(self.images.template(image), spec, rootfs=str(directory / "rootfs"),
                                  netns_path=netns, cgroups_path=f"/{CGROUP_PARENT}/{container_id}",
                                  image_entrypoint=image.entrypoint, seccomp=_seccomp(spec))
            if spec.network_of:  # the pod's /etc/hosts and /etc/resolv.conf and hostname, shared by its containers
                sandbox_dir = self.containers_dir / spec.network_of
                if owner and owner.get("hostname"):
                    config["hostname"] = owner["hostname"]
                config["mounts"] += [{"destination": f"/etc/{name}", "type": "bind", "source": str(sandbox_dir / name),
                                      "options": ["rbind", "ro"]}
                                     for name in ("hosts", "resolv.conf") if (sandbox_dir / name).exists()]
            _write_json(directory / "config.json", config)
            mounted = _run(["mount", "-t", "overlay", "overlay", "-o",
                            f"lowerdir={image.bundle / 'rootfs'},upperdir={directory / 'upper'},"
                            f"workdir={directory / 'work'}", str(directory / "rootfs")])
            if mounted.returncode != 0:
                raise ContainerRuntimeError(f"cannot mount the container's root filesystem: {mounted.stderr.strip()}")
            _write_json(directory / "meta.json", meta)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        self._emit(container_id, "create", spec.labels)
        return container_id

    async def start_container(self, container_id: str) -> None:
        meta = self._meta(container_id)
        directory = self._dir(container_id)
        if (directory / "started.json").exists():
            raise ContainerRuntimeError(f"container {container_id} was started already")
        if meta.get("sandbox"):
            # Ports without a hostPort get an ephemeral one, as the docker runtime publishes them (the
            # agent reports them in the kubelite.io/host-ports annotation; `kl up --demo` prints them).
            meta["ports"] = [[p[0], p[1] or _free_port(p[3]), p[2], p[3]] for p in meta.get("ports", [])]
            _write_json(directory / "meta.json", meta)
            ports = tuple(PortMapping(int(p[0]), int(p[1]), p[2], p[3]) for p in meta["ports"])
            record = await self._call(cni.add, self.network, meta["netns"], container_id, ports)
            _write_json(directory / "cni.json", record)
            await self._call(_write_pod_files, directory,
                             meta.get("hostname") or meta["labels"].get(LABEL_POD_NAME, meta["name"]), record.get("ip"),
                             meta.get("dns") or {})
            _write_json(directory / "started.json", {"pid": 0, "started_at": crilog.rfc3339_nano()})
        else:
            await self._call(self._spawn_supervisor, directory, container_id,
                             [o for o in ("stdin", "tty") if meta.get(o)])
        self._emit(container_id, "start", meta["labels"])

    def _spawn_supervisor(self, directory: Path, container_id: str, options: list[str]) -> None:
        # setsid --fork: the supervisor leads its own session and is not our child, so it outlives
        # the agent and leaves no zombie behind (it is reparented to init).
        # Its stdio is not ours (a pipe held by it would block us): errors go to supervisor.log.
        with open(directory / "supervisor.log", "ab") as errors:
            code = subprocess.call(  # noqa: S603
                ["setsid", "--fork", sys.executable, "-m", "agent.runtime.oci.supervisor", str(directory),  # noqa: S607
                 self.runc, self.runc_root, container_id, str(self.log_limits.max_bytes),
                 str(self.log_limits.max_files), *options],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors, timeout=30)
        if code != 0:
            raise ContainerRuntimeError(f"cannot start the supervisor of {container_id} (setsid exited {code})")
        for _ in range(600):  # it writes started.json once `runc create` and `runc start` returned
            if (directory / "started.json").exists():
                exited = _read_json(directory / "exit.json") or {}
                if exited.get("error"):
                    # The spec could not be run (no such executable, a device the host lacks...):
                    # CreateContainerError, not a crash of the container.
                    raise ContainerRuntimeError(str(exited["error"]))
                return
            _sleep(0.05)
        raise ContainerRuntimeError(f"the supervisor of {container_id} did not start within 30 s")

    async def stop_container(self, container_id: str, *, timeout: float) -> None:
        meta = self._meta(container_id)
        info = await self.inspect(container_id)
        if info is None or info.state != "running":
            return
        if meta.get("sandbox"):
            await self._call(self._stop_sandbox, container_id, meta)
        else:
            await self._call(self._kill, container_id, "TERM")
            if not await self._wait_exit(container_id, timeout):
                await self._call(self._kill, container_id, "KILL")
                await self._wait_exit(container_id, 10)
        self._emit(container_id, "die", meta["labels"])

    def _stop_sandbox(self, container_id: str, meta: dict[str, Any]) -> None:
        directory = self._dir(container_id)
        cni.delete(self.network, meta["netns"], container_id, _read_json(directory / "cni.json"))
        if not (directory / "exit.json").exists():
            _write_json(directory / "exit.json", {"exit_code": 0, "finished_at": crilog.rfc3339_nano()})

    def _kill(self, container_id: str, signal: str) -> None:
        _run([self.runc, "--root", self.runc_root, "kill", "--all", container_id, signal])

    async def _wait_exit(self, container_id: str, timeout: float) -> bool:
        exit_file = self._dir(container_id) / "exit.json"
        deadline = asyncio.get_running_loop().time() + timeout
        while not exit_file.exists():
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def remove_container(self, container_id: str) -> None:
        meta = self._meta(container_id)
        info = await self.inspect(container_id)
        if info is not None and info.state == "running":
            await self.stop_container(container_id, timeout=0)
        await self._call(self._remove, container_id, meta)
        self._emit(container_id, "destroy", meta["labels"])

    def _remove(self, container_id: str, meta: dict[str, Any]) -> None:
        directory = self._dir(container_id)
        if meta.get("sandbox"):
            if (directory / "cni.json").exists() or (cni.NETNS_DIR / meta["netns"]).exists():
                cni.delete(self.network, meta["netns"], container_id, _read_json(directory / "cni.json"))
        else:
            _run([self.runc, "--root", self.runc_root, "delete", "--force", container_id])
            if os.path.ismount(directory / "rootfs"):
                unmounted = _run(["umount", str(directory / "rootfs")])
                if unmounted.returncode != 0:
                    raise ContainerRuntimeError(f"cannot unmount {directory / 'rootfs'}: {unmounted.stderr.strip()}")
        shutil.rmtree(directory, ignore_errors=True)

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        def scan() -> list[ContainerInfo]:
            found = []
            for entry in os.scandir(self.containers_dir) if self.containers_dir.is_dir() else []:
                info = self._info(entry.name)
                if info is not None and all(info.labels.get(k) == v for k, v in labels.items()):
                    found.append(info)
            return found

        return await self._call(scan)

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        if not container_id or "/" in container_id:
            return None
        return await self._call(self._info, container_id)

    # -- processes -------------------------------------------------------------------

    async def exec(self, container_id: str, command: list[str], *, timeout: float) -> ExecResult:
        process = await asyncio.create_subprocess_exec(
            self.runc, "--root", self.runc_root, "exec", container_id, *command,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        return ExecResult(exit_code=process.returncode if process.returncode is not None else -1, output=output)

    async def exec_stream(self, container_id: str, command: list[str], *, stdin: bool, tty: bool,
                          size: TerminalSize | None = None) -> ProcessStream:
        from agent.runtime.oci.streams import exec_stream, tty_exec_stream

        if not tty:
            return await exec_stream(self.runc, self.runc_root, container_id, command, stdin=stdin)
        config = await self._call(_read_json, self._dir(container_id) / "config.json")
        if config is None:
            raise ContainerNotFound(f"container {container_id} is gone (no config.json)")
        return await tty_exec_stream(self.runc, self.runc_root, container_id, exec_process(config, command, size),
                                     size)

    async def attach_stream(self, container_id: str, *, stdin: bool) -> ProcessStream:
        from agent.runtime.oci.streams import AttachStream, TerminalAttach

        directory = self._dir(container_id)
        meta = self._meta(container_id)
        if stdin and not meta.get("stdin"):
            raise ContainerRuntimeError("the container was not created with stdin: true")
        if meta.get("tty"):  # the supervisor's attach socket: the terminal both ways, from now on
            return await TerminalAttach.open(directory, stdin=stdin)
        follower = self._logs(container_id, follow=True, tail=0, timestamps=False, streams=True)
        await anext(follower)  # positioned at the log's end now, before any input is written
        return await AttachStream.open(follower, directory / "stdin" if stdin else None)

    async def open_port(self, sandbox_id: str, port: int, *,
                        timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """TCP to ``localhost:port`` inside the pod's network namespace, as the kubelet's port-forward:
        a socket made in the namespace (``docker_streams.socket_in_netns``: setns in a thread of its own)."""
        from agent.runtime.docker_streams import socket_in_netns

        meta = self._meta(sandbox_id)
        netns = cni.NETNS_DIR / str(meta.get("netns", ""))
        if not meta.get("sandbox") or not netns.exists():
            raise ContainerNotFound(f"sandbox {sandbox_id} has no network namespace")
        sock = await socket_in_netns(netns)
        try:
            sock.setblocking(False)
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), timeout)
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    async def probe_network(self, info: ContainerInfo, kind: str, port: int, path: str) -> bool | None:
        return None  # pods are reachable on their pod IP from the host

    # -- logs and events ---------------------------------------------------------------

    def logs(self, container_id: str, *, follow: bool, tail: int | None, timestamps: bool) -> AsyncIterator[bytes]:
        return self._logs(container_id, follow=follow, tail=tail, timestamps=timestamps)

    async def _logs(self, container_id: str, *, follow: bool, tail: int | None, timestamps: bool,
                    streams: bool = False) -> AsyncIterator[Any]:
        """Lines (bytes), or with ``streams`` ``(1 | 2, line)`` pairs for attach."""
        directory = self._dir(container_id)
        if not (directory / "meta.json").exists():
            raise ContainerNotFound(f"no such container: {container_id}")
        path = directory / "container.log"
        data, inode, current = await self._call(_read_all_logs, path, self.log_limits.max_files)
        records, _, pending = data.rpartition(b"\n")
        old = records.split(b"\n") if records else []
        lines = crilog.render(old, timestamps=timestamps)
        for line in lines[-tail:] if tail is not None else lines:
            if tail != 0:
                yield line
        if streams:
            yield None  # positioned: what is written from now on is new (attach's start)
        last = _last_stamp(old)
        offset = max(current - len(pending), 0)  # where following goes on in the current file
        while follow:
            exited = (directory / "exit.json").exists() or not directory.exists()
            new, inode, offset = await self._call(self._read_new, path, inode, offset, last)
            if new:
                last = _last_stamp(new) or last
                for item in crilog.render_streams(new) if streams else crilog.render(new, timestamps=timestamps):
                    yield item
            elif exited:
                return
            else:
                await asyncio.sleep(0.1)

    def _read_new(self, path: Path, inode: int, offset: int, last: bytes) -> tuple[list[bytes], int, int]:
        """Whole records newer than timestamp ``last`` → (records, inode, offset in the current file).

        Fast path: the same file, read on from ``offset``. After a rotation (another inode, or a file
        shorter than ``offset``: a new file may reuse a freed inode) every kept file is read again and
        only records stamped after ``last`` are kept; records of files dropped meanwhile are lost, as
        with any rotated log.
        """
        try:
            stat = path.stat()
        except FileNotFoundError:
            return [], inode, offset
        if stat.st_ino == inode and stat.st_size >= offset:
            data = _read_bytes(path, offset)
            complete, _, _ = data.rpartition(b"\n")
            records = complete.split(b"\n") if complete else []
            return _newer(records, last), inode, offset + (len(complete) + 1 if complete else 0)
        data, inode, current = _read_all_logs(path, self.log_limits.max_files)
        complete, _, pending = data.rpartition(b"\n")
        records = complete.split(b"\n") if complete else []
        return _newer(records, last), inode, max(current - len(pending), 0)

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        queue: asyncio.Queue[RuntimeEvent] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            yield RuntimeEvent(container_id="", action=SUBSCRIBED, labels={})
            running = {c.id for c in await self.list_containers({}) if c.state == "running"}
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), self.poll)
                except TimeoutError:
                    for info in await self.list_containers({}):
                        if info.id in running and info.state != "running":
                            yield RuntimeEvent(container_id=info.id, action="die", labels=info.labels)
                    running = {c.id for c in await self.list_containers({}) if c.state == "running"}
                    continue
                if event.action == "start":
                    running.add(event.container_id)
                elif event.action in ("die", "destroy"):
                    running.discard(event.container_id)
                yield event
        finally:
            self._subscribers.discard(queue)

    # -- disk and usage --------------------------------------------------------------------

    async def filesystem_stats(self) -> dict[str, FsStats]:
        try:
            vfs = await self._call(os.statvfs, self.root)
        except OSError:
            return {}
        stats = FsStats(capacity_bytes=vfs.f_blocks * vfs.f_frsize, available_bytes=vfs.f_bavail * vfs.f_frsize)
        return {"nodefs.available": stats, "imagefs.available": stats}

    async def disk_usage(self, container_id: str) -> int | None:
        directory = self.containers_dir / container_id
        if not (directory / "meta.json").exists():
            return None
        logs = [directory / "container.log", *(directory / f"container.log.{i}" for i in range(1, self.log_limits.max_files))]
        return await self._call(_tree_size, directory / "upper", *logs)

    async def container_usage(self, container_id: str, *, annotations: Mapping[str, str]) -> ContainerUsage | None:
        return await self._call(read_cgroup_usage, container_id, Path("/sys/fs/cgroup"), CGROUP_PARENT)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive (it was not reaped yet)
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _host_capabilities(security: SecuritySettings) -> SecuritySettings:
    """A privileged container gets the capabilities this process has (containerd's
    ``WithAllCurrentCapabilities``): asking runc for one outside our bounding set fails."""
    if not security.privileged:
        return security
    try:
        status = Path("/proc/self/status").read_text()
        bounding = int(next(line.split()[1] for line in status.splitlines() if line.startswith("CapBnd:")), 16)
    except (OSError, StopIteration, ValueError):
        return security
    held = tuple(name for bit, name in enumerate(ALL_CAPABILITIES) if bounding >> bit & 1)
    return dataclasses.replace(security, capabilities=held)


def _seccomp(spec: ContainerSpec) -> dict[str, Any] | None:
    """``linux.seccomp`` for the container's profile (None: unconfined)."""
    security = spec.security
    if security.seccomp_profile is None or security.privileged:
        return None
    _, profile = load_profile(security.seccomp_profile)
    uname = os.uname()
    try:
        return oci_seccomp(profile, capabilities=security.capabilities, machine=uname.machine, kernel=uname.release)
    except (ValueError, KeyError, TypeError) as exc:
        raise ContainerRuntimeError(f"cannot use the seccomp profile {security.seccomp_profile}: {exc!r}") from exc


def _write_pod_files(directory: Path, hostname: str, ip: str | None, dns: dict[str, list[str]]) -> None:
    """The pod's ``hosts`` (localhost and its own name on its IP, as the kubelet's managed hosts file)
    and ``resolv.conf``: with name servers in ``dns`` (ClusterFirst: the cluster DNS, its search domains,
    ``ndots:5``) those, as the kubelet writes it; else the host's, without loopback name servers, which
    the pod's network namespace cannot reach (Docker filters them the same way)."""
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    if ip:
        hosts += f"{ip}\t{hostname}\n"
    (directory / "hosts").write_text(hosts)
    if dns.get("servers"):
        lines = [f"nameserver {server}" for server in dns["servers"]]
        lines += [f"search {' '.join(dns['search'])}"] if dns.get("search") else []
        lines += [f"options {' '.join(dns['options'])}"] if dns.get("options") else []
        (directory / "resolv.conf").write_text("\n".join(lines) + "\n")
        return
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        lines = []
    kept = [line for line in lines if not (line.split()[:1] == ["nameserver"] and len(line.split()) > 1
                                           and line.split()[1].startswith(("127.", "::1")))]
    (directory / "resolv.conf").write_text("\n".join(kept) + "\n")


def _free_port(host: str) -> int:
    """A port free on ``host`` now (the kernel's ephemeral choice; portmap's DNAT claims it after)."""
    import socket

    with socket.socket() as probe:
        probe.bind((host if host not in ("", "0.0.0.0") else "127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def _read_bytes(path: Path, offset: int = 0) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return 0


def _read_all_logs(path: Path, max_files: int) -> tuple[bytes, int, int]:
    """The rotated files oldest first, then the current one → (bytes, inode of the current file,
    bytes of the current file in them)."""
    parts = [_read_bytes(path.with_name(f"{path.name}.{i}")) for i in range(max_files - 1, 0, -1)]
    inode = _inode(path)
    current = _read_bytes(path)
    return b"".join(parts) + current, inode, len(current)


def _last_stamp(records: list[bytes]) -> bytes:
    for record in reversed(records):
        parsed = crilog.parse_record(record)
        if parsed is not None:
            return parsed[0]
    return b""


def _newer(records: list[bytes], last: bytes) -> list[bytes]:
    """Records stamped after ``last`` (RFC 3339 with 9 fixed fraction digits: bytes order is time order)."""
    if not last:
        return records
    out = []
    for record in records:
        parsed = crilog.parse_record(record)
        if parsed is not None and parsed[0] > last:
            out.append(record)
    return out


def _tree_size(*paths: Path) -> int:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
            continue
        for base, _, files in os.walk(path):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(base, name)).st_size
    return total


__all__ = ["OciRuntime", "preflight", "ImagePullError"]
