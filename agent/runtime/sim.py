"""A simulated runtime: containers that live in memory (Kubernetes' hollow nodes).

Containers start after ``start_delay`` seconds, run until stopped or told to
exit (``exit_container``; or by themselves when their env has
``SIM_EXIT_AFTER`` seconds and ``SIM_EXIT_CODE``), and use no resources, so
one process can host a hundred agents. Images listed in ``missing_images``
cannot be pulled; network probes answer from ``probe_results`` (default:
success).

Usage (``container_usage``) is steered by the pod's annotations, read at every
sample so a test can change them while the pod runs:

- ``sim.kubelite.io/cpu: 750m`` and ``sim.kubelite.io/memory: 64Mi``: the pod's
  usage, split evenly over its running containers;
- ``sim.kubelite.io/cpu.<container>`` / ``sim.kubelite.io/memory.<container>``:
  one container's usage (wins over the pod's share).

No annotation (or a malformed one): zero. CPU time accumulates at the steered
rate since the previous sample, so rates computed from two samples give it back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import random
from collections.abc import AsyncIterator
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kubelite.api.quantity import parse_quantity

from agent.runtime.base import (
    LABEL_NODE,
    ContainerInfo,
    ContainerRuntimeError,
    ContainerNotFound,
    ContainerSpec,
    ContainerUsage,
    ExecResult,
    FsStats,
    HostResources,
    ImagePullError,
    NoProcesses,
    PortMapping,
    ProcessStream,
    SUBSCRIBED,
    RuntimeEvent,
    RuntimeVersion,
    TerminalSize,
)
from kubelite.util import clock

SIM_CPU = "sim.kubelite.io/cpu"
SIM_MEMORY = "sim.kubelite.io/memory"

NO_PROCESSES = "the sim runtime runs no processes: there is nothing to exec into, attach to or forward ports to"
_ids = itertools.count(1)
# Fake pod IPs from 10.128.0.0/9 (clear of the default service range 10.96.0.0/12), from a random
# offset per process: a sim cluster runs several agent processes, and their pods' IPs must differ.
_IP_BASE = int(ipaddress.IPv4Address("10.128.0.0"))
_IP_SPAN = (1 << 15) * 254  # .1 to .254 of each of the /9's 32768 /24s
_ip_offset = random.SystemRandom().randrange(_IP_SPAN)


def _sandbox_ip(serial: int) -> str:
    """A unique fake address per sandbox (per process: serial; across processes: the random offset)."""
    index = (_ip_offset + serial) % _IP_SPAN
    return str(ipaddress.IPv4Address(_IP_BASE + (index // 254) * 256 + index % 254 + 1))
_next_port = itertools.count(40000)


@dataclass
class _SimContainer:
    info: ContainerInfo
    spec: ContainerSpec
    log: list[bytes] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    cpu_core_ns: int = 0  # accumulated at the steered rate
    cpu_sampled_at: int | None = None  # monotonic nanoseconds of the last usage sample


class SimRuntime:
    name = "sim"
    has_network = False
    runs_processes = False
    creates_before_sandbox_starts = False

    def __init__(
        self, *, start_delay: float = 0.0, missing_images: frozenset[str] = frozenset(),
        cpu_millis: int = 4000, memory_bytes: int = 8 << 30, node: str = "",
    ) -> None:
        self.start_delay = start_delay
        self.missing_images = set(missing_images)
        self.cpu_millis = cpu_millis
        self.memory_bytes = memory_bytes
        self.node = node
        self.containers: dict[str, _SimContainer] = {}
        # node label → its containers' ids (insertion-ordered): one process hosts hundreds of sim nodes,
        # and each node's pod workers and stats list their own containers — a scan of every container
        # per listing made that quadratic (10,000 pods on 1,000 nodes: bench/bench_scale.py)
        self._by_node: dict[str, dict[str, None]] = {}
        self.probe_results: dict[tuple[str, str], bool] = {}  # (container name, kind) → result
        self.exec_results: dict[str, int] = {}  # container name → exit code of every exec
        self.pulls: list[str] = []
        self.start_errors: dict[str, str] = {}  # tests: container name → why its start fails
        self.fs_stats: dict[str, FsStats] = {}  # tests: what filesystem_stats() reports
        self.disk_usages: dict[str, int] = {}  # tests: container name → bytes it uses on disk
        self._subscribers: list[asyncio.Queue[RuntimeEvent | None]] = []
        self._tick = asyncio.Event()  # set and replaced on every change; log followers wait on it

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(None)
        for container in self.containers.values():
            if container.timer:
                container.timer.cancel()

    async def ping(self) -> None:
        return None

    async def version(self) -> RuntimeVersion:
        return RuntimeVersion(name="sim", version="1.0", api_version="1", os="linux", kernel="sim", arch="amd64")

    async def host_resources(self) -> HostResources:
        return HostResources(self.cpu_millis, self.memory_bytes)

    async def image_present(self, image: str) -> bool:
        return image not in self.missing_images

    async def pull_image(self, image: str) -> None:
        self.pulls.append(image)
        if image in self.missing_images:
            raise ImagePullError(f"pull access denied for {image}, repository does not exist (sim)")

    async def load_image(self, archive: Path) -> list[str]:
        raise ContainerRuntimeError("the sim runtime keeps no images: there is nothing to load an archive into")

    # -- containers ----------------------------------------------------------

    async def create_container(self, spec: ContainerSpec) -> str:
        if spec.image in self.missing_images:
            raise ImagePullError(f"No such image: {spec.image}")
        container_id = f"sim{next(_ids):012x}"
        ports = tuple((p, p.host_port or next(_next_port)) for p in spec.ports)
        ip = None
        if spec.network_of is None:
            ip = _sandbox_ip(int(container_id[3:], 16))
        info = ContainerInfo(
            id=container_id, name=spec.name, image=spec.image, image_id=f"sim-image:{spec.image}",
            labels=dict(spec.labels), state="created", created_at=clock.now(), ip=ip, host_ports=ports,
            network_of=spec.network_of,
        )
        self.containers[container_id] = _SimContainer(info=info, spec=spec)
        self._by_node.setdefault(info.labels.get(LABEL_NODE, ""), {})[container_id] = None
        await self._emit(container_id, "create")
        return container_id

    async def start_container(self, container_id: str) -> None:
        container = self._get(container_id)
        if container.info.container_name in self.start_errors:
            raise ContainerRuntimeError(self.start_errors[container.info.container_name])
        if container.info.state == "running" or (container.info.state == "created" and container.timer):
            return  # running, or starting already
        loop = asyncio.get_running_loop()
        container.log.append(f"sim: starting {container.info.name}\n".encode())
        if self.start_delay > 0:
            container.timer = loop.call_later(self.start_delay, self._mark_running, container_id)
        else:
            self._mark_running(container_id)

    def _mark_running(self, container_id: str) -> None:
        container = self.containers.get(container_id)
        if container is None or container.info.state != "created":
            return
        container.timer = None
        container.info = replace(container.info, state="running", started_at=clock.now(), exit_code=None,
                                 finished_at=None)
        container.log.append(f"sim: {container.info.name} running\n".encode())
        env = container.spec.env
        if "SIM_EXIT_AFTER" in env:
            code = int(env.get("SIM_EXIT_CODE", "0"))
            container.timer = asyncio.get_running_loop().call_later(
                float(env["SIM_EXIT_AFTER"]), self._exit_now, container_id, code)
        self._emit_nowait(container_id, "start")

    def _exit_now(self, container_id: str, exit_code: int) -> None:
        container = self.containers.get(container_id)
        if container is None or container.info.state not in ("running", "created"):
            return
        if container.timer:
            container.timer.cancel()
            container.timer = None
        started = container.info.started_at or clock.now()
        container.info = replace(container.info, state="exited", exit_code=exit_code, started_at=started,
                                 finished_at=clock.now())
        container.log.append(f"sim: {container.info.name} exited with {exit_code}\n".encode())
        self._emit_nowait(container_id, "die")

    def exit_container(self, container_id: str, exit_code: int = 1) -> None:
        """Tests: make a running container exit (crash when the code is not 0)."""
        self._exit_now(container_id, exit_code)

    def report_oom(self, container_id: str) -> None:
        """Tests: the runtime learns after the exit that the container was OOM-killed, as Docker
        20.10 does when containerd's TaskOOM comes after its TaskExit (an ``oom`` event after ``die``)."""
        container = self._get(container_id)
        container.info = replace(container.info, oom_killed=True)
        self._emit_nowait(container_id, "oom")

    async def stop_container(self, container_id: str, *, timeout: float) -> None:
        container = self._get(container_id)
        if container.info.state in ("running", "created"):
            self._exit_now(container_id, 143 if container.info.state == "running" else 0)

    async def remove_container(self, container_id: str) -> None:
        container = self.containers.pop(container_id, None)
        if container is None:
            raise ContainerNotFound(container_id)
        node = container.info.labels.get(LABEL_NODE, "")
        same_node = self._by_node.get(node, {})
        same_node.pop(container_id, None)
        if not same_node:
            self._by_node.pop(node, None)
        if container.timer:
            container.timer.cancel()
        self._emit_nowait(container_id, "destroy", container.info.labels)

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        # the node index may still name a container that vanished from ``containers`` behind the agent's
        # back (what the tests simulate a lost container with): the table is the truth
        candidates = (c for i in self._by_node.get(labels[LABEL_NODE], ()) if (c := self.containers.get(i))) \
            if LABEL_NODE in labels else iter(self.containers.values())
        return [c.info for c in candidates if all(c.info.labels.get(k) == v for k, v in labels.items())]

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        container = self.containers.get(container_id)
        return container.info if container else None

    def containers_info(self) -> list[ContainerInfo]:
        """Tests: every container, in creation order."""
        return [c.info for c in self.containers.values()]

    # -- exec, logs, events, probes -------------------------------------------

    async def exec(self, container_id: str, command: list[str], *, timeout: float) -> ExecResult:
        container = self._get(container_id)
        if container.info.state != "running":
            raise ContainerNotFound(f"container {container_id} is not running")
        return ExecResult(self.exec_results.get(container.info.container_name, 0), b"")

    async def logs(
        self, container_id: str, *, follow: bool, tail: int | None, timestamps: bool
    ) -> AsyncIterator[bytes]:
        container = self._get(container_id)
        lines = list(container.log)
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        for line in lines:
            yield line
        sent = len(container.log)
        while follow and container_id in self.containers and container.info.state != "exited":
            await self._tick.wait()
            for line in container.log[sent:]:
                yield line
            sent = len(container.log)

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        queue: asyncio.Queue[RuntimeEvent | None] = asyncio.Queue()
        self._subscribers.append(queue)
        queue.put_nowait(RuntimeEvent("", SUBSCRIBED, {}))
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._subscribers.remove(queue)

    async def exec_stream(self, container_id: str, command: list[str], *, stdin: bool, tty: bool,
                          size: TerminalSize | None = None) -> ProcessStream:
        raise NoProcesses(NO_PROCESSES)

    async def attach_stream(self, container_id: str, *, stdin: bool) -> ProcessStream:
        raise NoProcesses(NO_PROCESSES)

    async def open_port(self, sandbox_id: str, port: int, *,
                        timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise NoProcesses(NO_PROCESSES)

    async def probe_network(self, info: ContainerInfo, kind: str, port: int, path: str) -> bool | None:
        return self.probe_results.get((info.container_name, kind), True)

    async def filesystem_stats(self) -> dict[str, FsStats]:
        return dict(self.fs_stats)

    async def disk_usage(self, container_id: str) -> int | None:
        container = self.containers.get(container_id)
        if container is None:
            return None
        return self.disk_usages.get(container.info.container_name, sum(len(line) for line in container.log))

    # -- usage -----------------------------------------------------------------

    async def container_usage(self, container_id: str, *, annotations: Mapping[str, str]) -> ContainerUsage | None:
        container = self.containers.get(container_id)
        if container is None or container.info.state != "running":
            return None
        siblings = sum(1 for c in self.containers.values() if c.info.state == "running" and not c.info.is_sandbox
                       and c.info.pod_uid == container.info.pod_uid)
        name = container.info.container_name
        cores = steered(annotations, SIM_CPU, name, max(siblings, 1))
        memory = steered(annotations, SIM_MEMORY, name, max(siblings, 1))
        # Integer nanoseconds, rounded down, stamped with the sim's own clock: a rate over two samples
        # is then the steered one or at most 1 nanocore under it, never over (kubectl rounds up to
        # millicores: 100000001n would print 101m).
        now_ns = clock.monotonic_ns()
        if container.cpu_sampled_at is not None:
            container.cpu_core_ns += round(float(cores) * 1e9) * (now_ns - container.cpu_sampled_at) // 10**9
        container.cpu_sampled_at = now_ns
        return ContainerUsage(cpu_core_ns=container.cpu_core_ns, memory_working_set_bytes=int(memory), at=now_ns / 1e9)

    # -- internals -----------------------------------------------------------

    def _get(self, container_id: str) -> _SimContainer:
        container = self.containers.get(container_id)
        if container is None:
            raise ContainerNotFound(f"No such container: {container_id}")
        return container

    async def _emit(self, container_id: str, action: str) -> None:
        self._emit_nowait(container_id, action)

    def _emit_nowait(self, container_id: str, action: str, labels: dict[str, str] | None = None) -> None:
        if labels is None:
            labels = self.containers[container_id].info.labels
        for queue in self._subscribers:
            queue.put_nowait(RuntimeEvent(container_id, action, dict(labels)))
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()


def steered(annotations: Mapping[str, str], key: str, container: str, containers: int) -> float:
    """The usage the annotations give one container: ``key.<container>``, else ``key`` / containers; 0
    when neither is a valid non-negative quantity (cores for cpu, bytes for memory)."""
    for wanted, share in ((f"{key}.{container}", 1), (key, containers)):
        raw = annotations.get(wanted)
        if raw is None:
            continue
        try:
            value = parse_quantity(raw.strip())
        except ValueError:
            continue
        if value >= 0:
            return float(value) / share
    return 0.0




__all__ = ["SimRuntime", "PortMapping", "SIM_CPU", "SIM_MEMORY", "steered"]
