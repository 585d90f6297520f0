"""The container runtime contract the agent drives (docker or sim).

A runtime knows nothing about pods: it creates, starts, stops and removes
containers carrying labels, lists them by label, and reports exits through
an event stream. The agent maps pods onto containers with the labels below,
so several agents on one engine never touch each other's containers and a
restarted agent finds its containers again (rediscovery). The agent reaches
its runtime through ``scoped.ClusterScopedRuntime``, which adds the cluster's
identity to every label set, so agents of different clusters (even with the
same node names) never touch each other's containers either.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

# Labels on every container the agent creates.
LABEL_NAMESPACE = "kubelite.pod.namespace"
LABEL_POD_NAME = "kubelite.pod.name"
LABEL_POD_UID = "kubelite.pod.uid"
LABEL_CONTAINER = "kubelite.container.name"
LABEL_ATTEMPT = "kubelite.container.attempt"
LABEL_NODE = "kubelite.node"
LABEL_GRACE = "kubelite.pod.grace"  # terminationGracePeriodSeconds, for stopping orphans
LABEL_CLUSTER = "kubelite.cluster.uid"  # the cluster's identity (kube-system Namespace uid): see runtime/scoped.py

SANDBOX_NAME = "POD"
"""Container name of a pod's sandbox (network namespace holder), as in Kubernetes."""

ContainerState = Literal["created", "running", "exited", "unknown"]


class ContainerRuntimeError(Exception):
    """A runtime operation failed (the message says what and why)."""


class ImagePullError(ContainerRuntimeError):
    """The image is missing and could not be pulled (ErrImagePull / ErrImageNeverPull)."""

    def __init__(self, message: str, *, reason: str = "ErrImagePull") -> None:
        super().__init__(message)
        self.reason = reason


class ContainerNotFound(ContainerRuntimeError):
    """The container id is unknown to the runtime (already removed)."""


class RuntimeUnavailable(ContainerRuntimeError):
    """The engine cannot be reached at all (socket refused, connection cut, engine restarting).

    Distinct from an operation the engine refused: nothing about a container can be
    concluded from it, so the agent reports the runtime down instead of blaming a pod.
    """


class NoProcesses(ContainerRuntimeError):
    """The runtime runs no processes (the sim runtime): nothing to exec into, attach to or forward to."""


TerminalSize = tuple[int, int]
"""A terminal's (width, height) in characters, as a resize message (channel 4) gives it."""


class ProcessStream(Protocol):
    """A process's stdio, both ways (``pods/exec`` and ``pods/attach``); see agent/streaming/exec.py.

    ``read()`` → ``(1 | 2, bytes)`` (stdout/stderr; a TTY's output is all stdout) or None at the end;
    ``write`` waits while the process is slow to read (back-pressure); ``close()`` ends the stream and
    leaves no process of it behind (exec), or only detaches (attach).
    """

    tty: bool

    async def read(self) -> tuple[int, bytes] | None: ...
    async def write(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    async def resize(self, width: int, height: int) -> None: ...
    async def exit_code(self) -> int | None: ...  # None: unknown (attach, or the stream was cut)
    async def close(self) -> None: ...


@dataclass(frozen=True)
class LogLimits:
    """Per-container log rotation, the kubelet's ``containerLogMaxSize``/``containerLogMaxFiles``.

    The runtime keeps at most ``max_files`` files of at most ``max_bytes`` each per container
    (so a container's logs take about ``max_bytes * max_files`` on disk); older lines are dropped.
    """

    max_bytes: int = 10 << 20  # 10Mi
    max_files: int = 5


@dataclass(frozen=True)
class FsStats:
    """One filesystem as statvfs sees it (bytes)."""

    capacity_bytes: int
    available_bytes: int


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    host_port: int | None = None  # None or 0: an ephemeral port on host_ip
    protocol: str = "TCP"
    host_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class Mount:
    """A bind mount of a host path (a pod volume's directory or one file of it) into a container."""

    source: str
    target: str
    read_only: bool = False


DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)
"""A container's capabilities unless its securityContext says otherwise: containerd's default set
(``oci.defaultCapabilities``), which is also Docker's."""


ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
"""Linux's capabilities in number order (0 … 40, linux/capability.h); runc skips those the kernel lacks."""


@dataclass(frozen=True)
class SecuritySettings:
    """What a container's process may do, decided once by ``agent/security.py`` from the pod's and the
    container's ``securityContext``; each runtime only expresses it (OCI spec fields, Docker's
    HostConfig). The defaults are a container without a securityContext.

    ``capabilities``: the bounding/permitted/effective set (``CAP_`` names). ``seccomp_profile``: the
    path of a seccomp profile in Docker's JSON format (RuntimeDefault's, or a Localhost one); None is
    Unconfined. ``privileged`` wins over everything else (all capabilities, all devices, no seccomp,
    nothing masked), as in Docker and containerd.
    """

    run_as_user: int | None = None  # None: the image's user
    run_as_group: int | None = None  # None: the image's (or the user's) group
    supplemental_groups: tuple[int, ...] = ()  # pod supplementalGroups + fsGroup
    read_only_root: bool = False
    privileged: bool = False
    no_new_privileges: bool = False
    capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES
    seccomp_profile: str | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create one container."""

    name: str  # runtime-level name, unique on the engine
    image: str
    labels: dict[str, str]
    command: list[str] | None = None  # entrypoint override
    args: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    ports: tuple[PortMapping, ...] = ()  # published (sandboxes only)
    network_of: str | None = None  # share this container's network namespace
    cpu_millis: int | None = None  # limits.cpu → CFS quota over a 100 ms period
    memory_bytes: int | None = None  # limits.memory
    cpu_request_millis: int | None = None  # requests.cpu → cpu shares (1024 per core, at least 2)
    mounts: tuple[Mount, ...] = ()
    init: bool = True  # a tiny init as PID 1 so SIGTERM reaches the process
    hostname: str | None = None  # sandboxes: the pod's hostname (its containers share the UTS namespace)
    dns: tuple[str, ...] = ()  # sandboxes: resolv.conf nameservers, search domains, options
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    stdin: bool = False  # stdin kept open for attach (Container.stdin)
    tty: bool = False
    security: SecuritySettings = field(default_factory=SecuritySettings)


@dataclass(frozen=True)
class ContainerInfo:
    """What the runtime observed about one container."""

    id: str
    name: str
    image: str
    image_id: str
    labels: dict[str, str]
    state: ContainerState
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    created_at: datetime | None = None
    oom_killed: bool = False
    error: str = ""
    ip: str | None = None
    host_ports: tuple[tuple[PortMapping, int], ...] = ()  # (published mapping, assigned host port)
    network_of: str | None = None  # id of the container whose network namespace this one joined (its sandbox)

    @property
    def container_name(self) -> str:
        return self.labels.get(LABEL_CONTAINER, "")

    @property
    def attempt(self) -> int:
        try:
            return int(self.labels.get(LABEL_ATTEMPT, "0"))
        except ValueError:
            return 0

    @property
    def pod_uid(self) -> str:
        return self.labels.get(LABEL_POD_UID, "")

    @property
    def is_sandbox(self) -> bool:
        return self.container_name == SANDBOX_NAME


SUBSCRIBED = "subscribed"
"""Action of the first item of every ``events()`` stream: the subscription is in place, so
anything that happened before it must be re-listed (events are not replayed)."""


@dataclass(frozen=True)
class RuntimeEvent:
    """A container changed state (started, died, removed...); labels say whose it is."""

    container_id: str
    action: str
    labels: dict[str, str]


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: bytes


@dataclass(frozen=True)
class ContainerUsage:
    """One sample of a container's resource use (what cAdvisor gives the kubelet).

    ``cpu_core_ns``: cumulative CPU time of all its processes, nanoseconds (rates come
    from two samples); ``memory_working_set_bytes``: usage minus inactive file pages,
    Kubernetes' working set (what eviction and ``kubectl top`` count); ``at``: monotonic seconds
    when the runtime read it, if it knows (cAdvisor stamps its stats; rates are then taken over
    the runtime's own interval, not the collector's, which includes the call's latency).
    """

    cpu_core_ns: int
    memory_working_set_bytes: int
    at: float | None = None


@dataclass(frozen=True)
class RuntimeVersion:
    name: str
    version: str
    api_version: str = ""
    os: str = ""
    kernel: str = ""
    arch: str = ""


@dataclass(frozen=True)
class HostResources:
    cpu_millis: int
    memory_bytes: int


@runtime_checkable
class ContainerRuntime(Protocol):
    """What the agent needs from a container engine. All methods are async and
    non-blocking; blocking engines (the Docker SDK) go through threads."""

    name: str
    has_network: bool  # False: probes over the network are answered by probe_network()
    runs_processes: bool  # False (sim): exec, attach and port-forward answer NoProcesses
    # True: a container may be created into a sandbox that is created but not yet started (Docker
    # joins the network namespace at start), so the app's create can overlap the sandbox's start
    creates_before_sandbox_starts: bool

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ping(self) -> None: ...  # raises RuntimeUnavailable when the engine does not answer
    async def version(self) -> RuntimeVersion: ...
    async def host_resources(self) -> HostResources: ...

    async def image_present(self, image: str) -> bool: ...
    async def pull_image(self, image: str) -> None: ...
    async def load_image(self, archive: Path) -> list[str]: ...  # docker save / OCI archive → names; ImagePullError

    async def create_container(self, spec: ContainerSpec) -> str: ...
    async def start_container(self, container_id: str) -> None: ...
    async def stop_container(self, container_id: str, *, timeout: float) -> None: ...
    async def remove_container(self, container_id: str) -> None: ...
    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]: ...
    async def inspect(self, container_id: str) -> ContainerInfo | None: ...

    async def exec(self, container_id: str, command: list[str], *, timeout: float) -> ExecResult: ...
    def logs(
        self, container_id: str, *, follow: bool, tail: int | None, timestamps: bool
    ) -> AsyncIterator[bytes]: ...
    def events(self) -> AsyncIterator[RuntimeEvent]: ...  # first item: action SUBSCRIBED; ends or raises on loss

    async def probe_network(self, info: ContainerInfo, kind: str, port: int, path: str) -> bool | None: ...

    # streaming (pods/exec, pods/attach, pods/portforward); NoProcesses where runs_processes is False
    async def exec_stream(
        self, container_id: str, command: list[str], *, stdin: bool, tty: bool, size: TerminalSize | None = None,
    ) -> ProcessStream: ...  # tty with size: the process starts on a terminal of that size
    async def attach_stream(self, container_id: str, *, stdin: bool) -> ProcessStream: ...
    async def open_port(
        self, sandbox_id: str, port: int, *, timeout: float,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...  # TCP to localhost:port inside the pod

    async def filesystem_stats(self) -> dict[str, FsStats]: ...  # eviction signal → stats; {} when unknown
    async def disk_usage(self, container_id: str) -> int | None: ...  # writable layer + logs, bytes
    # One usage sample of a running container, None when it is gone or not running. The pod's
    # annotations are passed for the sim runtime, whose usage they steer; engines ignore them.
    async def container_usage(self, container_id: str, *, annotations: Mapping[str, str]) -> ContainerUsage | None: ...
