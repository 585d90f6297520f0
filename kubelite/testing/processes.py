"""kubelite's processes for a chaos test: the means to start, kill, pause and restart them.

:class:`Processes` spawns controller-managers, gateways, sim agents (through
``python -m agent.sim_inspect``, so their in-memory containers can be inspected) and docker
agents as ``python -m ...`` subprocesses (own session, log file each), and stops or SIGKILLs
them; :meth:`Processes.close` stops everything and removes every container of its docker
nodes, whatever happened. kubelite never imports the components (import-linter): it starts
them as processes, from the same installation kubelite itself was imported from.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import docker

from kubelite.node.evictionflags import LOCAL_EVICTION_HARD
from kubelite.node.agent_auth import node_token
from kubelite.api.resources import NODES
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.etcd.client import EtcdConfig, connect
from kubelite.etcd.server import free_port
from kubelite.storage.store import Store
from kubelite.testing.waiting import wait_for

# The directory holding the kubelite, controllers and agent packages (a checkout or site-packages):
# the children import the components from where this kubelite came from.
ROOT = Path(__file__).resolve().parents[2]
LEASE_TTL = 3  # agents' node leases and the managers' election lease (s)
TOLERATION = 2  # pods leave an unreachable node this long after it is tainted (s)
ETCD_TIMEOUT = 2.0  # every component's per-call etcd deadline (s): a frozen member is left after ~2 of them
AGENT_TOKEN = "chaos-agent-token-" + uuid.uuid4().hex[:8]

# Each component spells the etcd security flags its own way.
ETCD_FLAG_NAMES = {
    "gateway": {"ca": "--etcd-cafile", "cert": "--etcd-certfile", "key": "--etcd-keyfile"},
    "controllers": {"ca": "--etcd-cafile", "cert": "--etcd-certfile", "key": "--etcd-keyfile"},
    "agent": {"ca": "--etcd-cafile", "cert": "--etcd-certfile", "key": "--etcd-keyfile"},
}


@dataclass(frozen=True)
class EtcdAccess:
    """How the processes reach etcd: endpoints, and optionally TLS files and a user."""

    endpoints: tuple[str, ...]
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    user: str | None = None
    password_file: str | None = None

    def flags(self, component: str) -> list[str]:
        names = ETCD_FLAG_NAMES[component]
        flags = ["--etcd-endpoints", ",".join(self.endpoints), "--etcd-timeout", str(ETCD_TIMEOUT)]
        for what, value in (("ca", self.ca_file), ("cert", self.cert_file), ("key", self.key_file)):
            if value:
                flags += [names[what], value]
        if self.user:
            flags += ["--etcd-user", self.user, "--etcd-password-file", str(self.password_file)]
        return flags

    def config(self) -> EtcdConfig:
        password = Path(self.password_file).read_text().strip() if self.password_file else None
        return EtcdConfig(endpoints=self.endpoints, timeout=ETCD_TIMEOUT, ca_file=self.ca_file,
                          cert_file=self.cert_file, key_file=self.key_file, username=self.user, password=password)


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    inspect_url: str | None = None  # sim agents: where their containers are listed
    nodes: tuple[str, ...] = ()  # agents: the nodes this process runs
    docker: bool = False  # agents: their containers are docker containers
    oci: bool = False  # agents: their containers are the oci runtime's
    env: dict[str, str] = field(default_factory=dict)  # added to the environment (e.g. libfaketime's)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it; closed here right after
        try:
            path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
            self.popen = subprocess.Popen(self.argv, cwd=self.log_path.parent, stdout=log, stderr=subprocess.STDOUT,
                                          env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **self.env},
                                          start_new_session=True)
        finally:
            log.close()

    def kill(self) -> None:
        if self.alive:
            assert self.popen is not None
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive:
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Processes:
    """kubelite's processes of one scenario, against etcd at ``access``; ``close()`` must always
    run (a fixture's ``finally``, or :class:`kubelite.testing.Cluster`)."""

    def __init__(self, access: EtcdAccess, tmp: Path, docker_client: docker.DockerClient | None = None) -> None:
        self.access = access
        self.tmp = tmp
        self.docker = docker_client
        self.procs: dict[str, Proc] = {}
        self.prefix = f"c{uuid.uuid4().hex[:5]}-"  # node names unique to this test: containers never collide
        tmp.mkdir(parents=True, exist_ok=True)
        self.token_file = tmp / "agent-token"
        self.token_file.write_text(AGENT_TOKEN + "\n")
        self.store: Store | None = None
        self.gateway_url = ""
        # lists the containers of the oci agents' nodes (set by the Cluster that prepared them)
        self.other_containers: Callable[[list[str]], list[dict[str, Any]]] | None = None

    # -- processes --------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], **extra: Any) -> Proc:
        proc = Proc(name, [sys.executable, *argv], self.tmp / f"{name}.log", **extra)
        proc.start()
        self.procs[name] = proc
        return proc

    def start_manager(self, identity: str, *extra: str) -> Proc:
        return self.spawn(identity, [
            "-m", "controllers", *self.access.flags("controllers"), "--id", identity, "--listen", "",
            "--lease-ttl", str(LEASE_TTL), "--toleration-seconds", str(TOLERATION),
            "--node-monitor-grace-period", "1", *extra])

    def start_gateway(self, name: str = "gateway", *extra: str, port: int | None = None) -> Proc:
        port = port or free_port()
        scheme = "https" if "--tls-cert" in extra else "http"
        self.gateway_url = f"{scheme}://127.0.0.1:{port}"
        return self.spawn(name, ["-m", "kubelite.gateway", *self.access.flags("gateway"),
                                 "--listen", f"127.0.0.1:{port}", "--agent-secret-file", str(self.token_file),
                                 "--bookmark-interval", "1", *extra])

    def start_sim_agents(self, name: str, count: int, *extra: str, access: EtcdAccess | None = None,
                         env: dict[str, str] | None = None) -> tuple[Proc, list[str]]:
        """``count`` sim agents in one process; their node names."""
        port = free_port()
        prefix = f"{self.prefix}{name}-"
        proc = self.spawn(name, [
            "-m", "agent.sim_inspect", "--inspect-port", str(port), "--runtime", "sim",
            "--sim-count", str(count), "--node-prefix", prefix, *(access or self.access).flags("agent"),
            "--listen", "127.0.0.1:0", "--agent-secret-file", str(self.token_file),
            "--lease-ttl", str(LEASE_TTL), "--status-period", "5", "--sim-start-delay", "0", *extra,
        ], inspect_url=f"http://127.0.0.1:{port}/containers", nodes=tuple(f"{prefix}{i}" for i in range(count)),
           env=env or {})
        return proc, list(proc.nodes)

    def start_docker_agent(self, name: str, *extra: str, access: EtcdAccess | None = None,
                           env: dict[str, str] | None = None, runtime: str = "docker") -> tuple[Proc, str]:
        """One agent with real containers (``runtime`` docker, or oci with its flags in ``extra``);
        its node name."""
        node = f"{self.prefix}{name}"
        proc = self.spawn(name, [
            "-m", "agent", "--node", node, "--runtime", runtime, *(access or self.access).flags("agent"),
            "--listen", "127.0.0.1:0", "--token-file", str(self.node_token_file(node)), "--lease-ttl", str(LEASE_TTL),
            "--status-period", "5", "--max-pods", "20", "--eviction-hard", LOCAL_EVICTION_HARD, *extra,
        ], nodes=(node,), docker=runtime == "docker", oci=runtime == "oci", env=env or {})
        return proc, node

    def node_token_file(self, node: str) -> Path:
        """This node's own agent token (the gateway derives it from the secret in ``token_file``)."""
        path = self.tmp / f"{node}.token"
        path.write_text(node_token(AGENT_TOKEN, node) + "\n")
        return path

    def restart(self, name: str) -> Proc:
        proc = self.procs[name]
        proc.stop()
        proc.start()
        return proc

    def check_alive(self, *names: str) -> None:
        for name in names or tuple(self.procs):
            proc = self.procs[name]
            if not proc.alive:
                raise AssertionError(f"{name} exited ({proc.popen and proc.popen.returncode}):\n{proc.log_tail()}")

    async def connect_store(self) -> Store:
        if self.store is None:
            client = await connect(self.access.config())
            self.store = Store(client)
            await wait_for(lambda: _answers(self.store), 30, message="etcd answers")  # type: ignore[arg-type]
        return self.store

    async def wait_gateway_ready(self, timeout: float = 60.0) -> None:
        """Until the gateway's ``/readyz`` is 200: it serves, and its start-up writes (system
        namespaces, default RBAC policy, the ``kubernetes`` Service, local APIServices) are done —
        it may answer API requests before that, as kube-apiserver does before its post-start hooks."""
        async with aiohttp.ClientSession() as http:
            async def gateway_ready() -> bool:
                async with http.get(f"{self.gateway_url}/readyz", ssl=False) as response:
                    return response.status == 200
            await wait_for(gateway_ready, timeout, 0.1, message="gateway /readyz",
                           ignore=(aiohttp.ClientError,))

    async def wait_ready(self, nodes: Sequence[str], timeout: float = 60.0) -> None:
        """The gateway answers, every node in ``nodes`` is Ready, a manager leads."""
        store = await self.connect_store()
        await self.wait_gateway_ready(timeout)
        await wait_for(lambda: _all_ready(store, nodes), timeout, 0.2, message=f"nodes Ready: {list(nodes)}")
        await wait_for(lambda: leader(store), timeout, 0.1, message="a controller-manager leads")

    # -- containers ---------------------------------------------------------------

    async def containers(self) -> tuple[list[dict[str, Any]], set[str]]:
        """Every container of this cluster's agents — sim (inspected in live agent processes) and
        docker (by node label, whether the agent lives or not) — and the nodes so observed."""
        found: list[dict[str, Any]] = []
        observed: set[str] = set()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            for proc in self.procs.values():
                if proc.inspect_url and proc.alive:
                    async with http.get(proc.inspect_url) as response:
                        found += await response.json()
                    observed.update(proc.nodes)
        found += await asyncio.to_thread(self._docker_containers)
        observed.update(self.docker_nodes())
        if self.other_containers is not None:  # e.g. oci nodes (kubelite.testing.oci_nodes), by the same rules
            nodes = [n for p in self.procs.values() if p.oci for n in p.nodes]
            found += await asyncio.to_thread(self.other_containers, nodes)
            observed.update(nodes)
        return found, observed

    def docker_nodes(self) -> list[str]:
        return [n for p in self.procs.values() if p.docker for n in p.nodes]

    def _docker_containers(self) -> list[dict[str, Any]]:
        if self.docker is None:
            return []
        found = []
        for node in self.docker_nodes():
            # The low-level list: one call, no per-container inspect that races removals.
            for c in self.docker.api.containers(all=True, filters={"label": f"kubelite.node={node}"}):
                labels = c.get("Labels") or {}
                found.append({"node": node, "id": c["Id"], "state": c["State"],
                              "pod_uid": labels.get("kubelite.pod.uid", ""),
                              "namespace": labels.get("kubelite.pod.namespace", ""),
                              "pod": labels.get("kubelite.pod.name", ""),
                              "container": labels.get("kubelite.container.name", "")})
        return found

    async def close(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()
        if self.docker is not None:
            nodes = self.docker_nodes()
            def remove() -> None:
                assert self.docker is not None
                for node in nodes:
                    for c in self.docker.api.containers(all=True, filters={"label": f"kubelite.node={node}"}):
                        try:
                            self.docker.api.remove_container(c["Id"], force=True)
                        except docker.errors.NotFound:
                            pass  # its agent removed it meanwhile
            await asyncio.to_thread(remove)
        if self.store is not None:
            await self.store.client.close()


async def _answers(store: Store) -> bool:
    try:
        await ensure_system_namespaces(store)
        return True
    except Exception:  # noqa: BLE001 - not yet: the cluster is still electing
        return False


async def _all_ready(store: Store, nodes: Sequence[str]) -> bool:
    ready = {n.name for n in (await store.list(NODES)).items if node_ready(n)}
    return set(nodes) <= ready


def node_ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status and node.status.conditions) or [])


async def leader(store: Store) -> str | None:
    from kubelite.api.resources import LEASES
    try:
        lease = await store.get(LEASES, "kubelite-controller-manager", "kube-system")
    except Exception:  # noqa: BLE001 - nobody leads right now
        return None
    return lease.spec.holder_identity if lease.spec else None
