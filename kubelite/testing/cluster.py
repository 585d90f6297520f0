"""A whole kubelite cluster for a chaos test: etcd members, controller-managers, gateways and
agents, started together and removed together whatever happens.

    async with Cluster(ClusterSpec(etcd_members=3, agents=3), tmp_path) as cluster:
        async with cluster.api() as api:
            ...

``start()`` returns once the gateway answers, every node is Ready and a controller-manager
leads; ``stop()`` stops every process, removes every container (etcd members and those of
docker-runtime agents) and is safe to call twice or after a failed start.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kubelite.cli.kubeconfig import with_entry, write
from kubelite.store import Store
from kubelite.testing.api import Api
from kubelite.testing.clock import clock_skew_problem, skew_env
from kubelite.testing.dockerd import DockerEngine, PrivateDockerd
from kubelite.testing.etcd import EtcdCluster
from kubelite.testing.etcd_local import LocalEtcdCluster
from kubelite.testing.processes import EtcdAccess, Proc, Processes, leader
from kubelite.testing.oci_nodes import OciNodes
from kubelite.testing.proxy import TcpProxy

EtcdBackend = Literal["containers", "local"]
Runtime = Literal["sim", "docker", "oci"]
DockerEngineChoice = Literal["shared", "private"]
ETCD_SIZES = (1, 3, 5)


@dataclass(frozen=True)
class ClusterSpec:
    """The shape of a chaos cluster.

    - ``etcd_members``: 1, 3 or 5; ``etcd_backend``: ``containers`` (testcontainers, needs
      Docker and the ``kubelite/etcd`` image; partitions possible) or ``local`` (processes).
    - ``managers``, ``gateways``: how many of each (names ``cm-1``…, ``gateway-1``…).
    - ``agents``: nodes; ``runtime`` ``sim`` (in-memory containers, spread over
      ``agent_processes`` processes ``agent-1``…), ``docker`` (one process per node,
      real containers of ``kubelite/demo:latest``) or ``oci`` (one process per node, runc and
      the CNI plugins: :mod:`kubelite.testing.oci_nodes`).
    - ``proxy_etcd``: every component reaches etcd through a TCP proxy of its own, so the
      ``cut-off`` fault can cut it off (costs a little latency).
    - ``docker_engine``: the docker agents' engine: ``shared`` (DOCKER_HOST or the local one,
      never stopped by a fault) or ``private`` (a dockerd of the cluster's own,
      :class:`~kubelite.testing.dockerd.PrivateDockerd`, which the ``docker-restart`` fault may
      stop and start).
    - ``clock_skew``: agents run under libfaketime so the ``clock-skew`` fault can shift their
      wall clock (:mod:`kubelite.testing.clock`).
    """

    etcd_members: int = 3
    etcd_backend: EtcdBackend = "containers"
    managers: int = 2
    gateways: int = 1
    agents: int = 3
    runtime: Runtime = "sim"
    agent_processes: int = 1
    proxy_etcd: bool = False
    docker_engine: DockerEngineChoice = "shared"
    clock_skew: bool = False

    def __post_init__(self) -> None:
        if self.etcd_members not in ETCD_SIZES:
            raise ValueError(f"etcd_members: {self.etcd_members} (want one of {ETCD_SIZES})")
        for name in ("managers", "gateways", "agents", "agent_processes"):
            if getattr(self, name) < (0 if name == "agents" else 1):
                raise ValueError(f"{name}: {getattr(self, name)} is too few")
        if self.etcd_backend not in ("containers", "local"):
            raise ValueError(f"etcd_backend: {self.etcd_backend!r} (want containers or local)")
        if self.runtime not in ("sim", "docker", "oci"):
            raise ValueError(f"runtime: {self.runtime!r} (want sim, docker or oci)")
        if self.docker_engine not in ("shared", "private"):
            raise ValueError(f"docker_engine: {self.docker_engine!r} (want shared or private)")
        if self.docker_engine == "private" and self.runtime != "docker":
            raise ValueError("docker_engine: private is the engine of docker agents: it needs runtime docker")


class Cluster:
    """A running cluster of ``spec`` under ``tmp`` (logs, tokens, kubeconfig, local etcd data)."""

    started_here = True  # False for a cluster this package adopted (kubelite.testing.existing)

    def __init__(self, spec: ClusterSpec, tmp: Path) -> None:
        self.spec = spec
        self.tmp = tmp
        self.etcd: EtcdCluster | LocalEtcdCluster = (
            EtcdCluster(spec.etcd_members) if spec.etcd_backend == "containers"
            else LocalEtcdCluster(tmp / "etcd", spec.etcd_members))
        self.processes: Processes | None = None
        self.proxies: dict[str, TcpProxy] = {}  # component process name -> its etcd proxy
        self.managers: list[str] = []
        self.gateways: list[str] = []
        self.agents: list[str] = []  # agent process names
        self.nodes: list[str] = []
        self.gateway_urls: dict[str, str] = {}
        self.private_dockerd: PrivateDockerd | None = None
        self.oci: OciNodes | None = None

    @property
    def docker_engine(self) -> DockerEngine | None:
        """The engine this cluster may stop and start (its private dockerd), else ``None``."""
        return self.private_dockerd.engine if self.private_dockerd is not None else None

    def clock_file(self, process: str) -> Path:
        """The libfaketime offset file of agent process ``process`` (``clock_skew`` clusters)."""
        return self.tmp / f"{process}.faketime"

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, timeout: float = 90.0) -> None:
        """Start everything; on any failure (or cancellation) remove what was started and raise."""
        started = False
        if self.spec.clock_skew and (problem := clock_skew_problem()):
            raise RuntimeError(f"clock_skew: {problem}")
        try:
            await asyncio.to_thread(self.etcd.start)
            docker_client = None
            if self.spec.runtime == "docker" and self.spec.docker_engine == "private":
                self.private_dockerd = PrivateDockerd()
                await asyncio.to_thread(self.private_dockerd.start)
                docker_client = self.private_dockerd.client()
            elif self.spec.runtime == "docker":
                import docker
                docker_client = docker.from_env()
            if self.spec.runtime == "oci":
                self.oci = OciNodes()
                await asyncio.to_thread(self.oci.prepare)
            self.processes = Processes(EtcdAccess(self.etcd.endpoints), self.tmp, docker_client)
            if self.oci is not None:
                self.processes.other_containers = self.oci.containers
            await self._start_components()
            await self.processes.wait_ready(self.nodes, timeout)
            self.write_kubeconfig()
            started = True
        finally:
            if not started:
                await self.stop()

    async def _start_components(self) -> None:
        assert self.processes is not None
        for i in range(1, self.spec.managers + 1):
            name = f"cm-{i}"
            self.processes.start_manager(name, *await self._access_flags(name, "controllers"))
            self.managers.append(name)
        for i in range(1, self.spec.gateways + 1):
            name = f"gateway-{i}"
            self.processes.start_gateway(name, *await self._access_flags(name, "gateway"))
            self.gateway_urls[name] = self.processes.gateway_url
            self.gateways.append(name)
        if self.spec.runtime == "sim" and self.spec.agents:
            groups = min(self.spec.agent_processes, self.spec.agents)
            for i in range(1, groups + 1):
                name = f"agent-{i}"
                count = len(range(i - 1, self.spec.agents, groups))
                _, nodes = self.processes.start_sim_agents(name, count, access=await self._access(name),
                                                           env=self._agent_env(name))
                self.agents.append(name)
                self.nodes += nodes
        else:
            for i in range(1, self.spec.agents + 1):
                name = f"agent-{i}"
                node = f"{self.processes.prefix}{name}"
                extra = (self.oci.flags(i - 1, node) if self.oci is not None
                         else ["--docker-url", self.private_dockerd.url] if self.private_dockerd is not None else [])
                self.processes.start_docker_agent(name, *extra, access=await self._access(name),
                                                  env=self._agent_env(name), runtime=self.spec.runtime)
                self.agents.append(name)
                self.nodes.append(node)

    def _agent_env(self, name: str) -> dict[str, str]:
        return skew_env(self.clock_file(name)) if self.spec.clock_skew else {}

    async def _access(self, name: str) -> EtcdAccess:
        """How process ``name`` reaches etcd: directly, or through a proxy of its own."""
        assert self.processes is not None
        if not self.spec.proxy_etcd:
            return self.processes.access
        proxy = TcpProxy(self.processes.access.endpoints)
        await proxy.start()
        self.proxies[name] = proxy
        return EtcdAccess(proxy.endpoints)

    async def _access_flags(self, name: str, component: str) -> list[str]:
        """Managers and gateways take their etcd flags last (argparse: the last one wins)."""
        if not self.spec.proxy_etcd:
            return []
        return (await self._access(name)).flags(component)

    async def stop(self) -> None:
        """Stop every process, remove every container and proxy; idempotent."""
        try:
            if self.processes is not None:
                await self.processes.close()
        finally:
            for proxy in self.proxies.values():
                await proxy.close()
            self.proxies = {}
            try:
                for owned in (self.private_dockerd, self.oci):
                    if owned is not None:
                        await asyncio.to_thread(owned.close)
            finally:
                self.private_dockerd = self.oci = None
                await asyncio.to_thread(self.etcd.stop)

    async def __aenter__(self) -> Cluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- access ----------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        """The first gateway's URL (``http://127.0.0.1:PORT``)."""
        return self.gateway_urls[self.gateways[0]]

    def api(self, gateway: str | None = None) -> Api:
        """An HTTP client of a gateway (the first by default); use as ``async with``."""
        return Api(self.gateway_urls[gateway or self.gateways[0]])

    async def store(self) -> Store:
        """A Store on the etcd members (kept for the cluster's life)."""
        assert self.processes is not None
        return await self.processes.connect_store()

    @property
    def kubeconfig(self) -> Path:
        """A kubeconfig for kubectl and the official clients (``KUBECONFIG=...``)."""
        return self.tmp / "kubeconfig"

    def write_kubeconfig(self) -> None:
        write(self.kubeconfig, with_entry({}, name="kubelite-chaos", server=self.gateway_url, token=None))

    def proc(self, name: str) -> Proc:
        assert self.processes is not None
        return self.processes.procs[name]

    async def manager_leader(self) -> str | None:
        """The identity (process name) of the leading controller-manager, if any."""
        return await leader(await self.store())

    def environ(self) -> dict[str, str]:
        """Environment for a child that should talk to this cluster (``KUBECONFIG``)."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
