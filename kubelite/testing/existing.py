"""A cluster kubelite.testing did not start: the user's own (a ``kl up``, or processes and an etcd
named by pid). Faults are limited to what may be done to processes one does not own: signals
(SIGKILL, SIGSTOP/SIGCONT) to the processes named. Nothing is started, restarted or stopped
here: a killed process comes back only if its supervisor restarts it (``kl up`` does, with
back-off), and that is what such a scenario tests. ``kl chaos run`` asks for explicit consent
(``--i-know-this-kills-processes``) before it touches one.

Processes are found afresh at each fault (a restarted child has a new pid): for a ``kl up``,
the children of the pid in its ``up.json`` (in its data dir), classified by command line;
otherwise the pids given (``{name: pid}``), which must still be alive.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelite.testing.api import Api
from kubelite.testing.cluster import Cluster, ClusterSpec
from kubelite.testing.etcd_local import NotSupported
from kubelite.testing.processes import EtcdAccess, Processes
from kubelite.util import clock
from kubelite.util.listen import is_loopback

# kl up's control-plane process (controllers.controlplane) hosts a controller-manager and a gateway: it
# answers to both kinds, and a fault to either hits the process, both halves.
KINDS = (("controllers.controlplane", ("cm", "gateway")), ("controllers", ("cm",)), ("kubelite.gateway", ("gateway",)),
         ("agent", ("agent",)))


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _kinds(argv: list[str]) -> tuple[str, ...]:
    """The kinds (``etcd``, ``cm``, ``gateway``, ``agent``) a kubelite process's command line runs; ()
    for another process."""
    if argv and Path(argv[0]).name == "etcd":
        return ("etcd",)
    if "-m" in argv and argv.index("-m") + 1 < len(argv):
        module = argv[argv.index("-m") + 1]
        for prefix, kinds in KINDS:
            if module == prefix or module.startswith(prefix + "."):
                return kinds
    return ()


def children(parent: int) -> dict[str, int]:
    """kubelite processes whose parent is ``parent``, named ``<kind>-<n>`` in pid order (a process
    running two kinds has a name of each)."""
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent:
            found.extend((int(entry.name), kind) for kind in _kinds(_cmdline(int(entry.name))))
    names: dict[str, int] = {}
    for pid, kind in sorted(found):
        count = sum(1 for n in names if n.startswith(kind + "-"))
        names[f"{kind}-{count + 1}"] = pid
    return names


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class AdoptedMember:
    name: str
    endpoint: str
    health: str | None = None  # host:port answering /health over plain HTTP (default: the endpoint)


def etcd_access_of(state: Mapping[str, Any]) -> EtcdAccess:
    """How to reach a ``kl up``'s etcd from its ``up.json``: its endpoints and, for a secure one (the
    default), the client certificate of its own etcd CA (``etcd_tls``)."""
    listed = state["etcd"].split(",") if isinstance(state["etcd"], str) else state["etcd"]
    endpoints = tuple(e.strip().removeprefix("http://").removeprefix("https://") for e in listed)
    tls = state.get("etcd_tls") or {}
    return EtcdAccess(endpoints, ca_file=tls.get("cafile"), cert_file=tls.get("certfile"),
                      key_file=tls.get("keyfile"))


def owner_server_of(state: Mapping[str, Any]) -> str:
    """The ``kl up``'s gateway URL for its own Unix user: a secure gateway on loopback also answers
    plain HTTP on its port to that user (kubelite.gateway.tlssniff), which needs no credentials."""
    server = str(state["server"])
    scheme, _, address = server.partition("://")
    host = address.rpartition(":")[0]
    return f"http://{address}" if scheme == "https" and is_loopback(host) else server


class AdoptedEtcd:
    """The user's etcd: signals only to member processes found by :class:`ExistingCluster`."""

    kind = "existing"

    def __init__(self, cluster: ExistingCluster, endpoints: tuple[str, ...], *, health: str | None = None) -> None:
        self.cluster = cluster
        self.members = [AdoptedMember(f"etcd-{i + 1}", e, health) for i, e in enumerate(endpoints)]

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(m.endpoint for m in self.members)

    def start(self) -> None:
        self.wait_healthy()

    def stop(self) -> None:
        """Never stops what it did not start."""

    def _pid(self, member: AdoptedMember) -> int:
        pid = self.cluster.pids().get(member.name)
        if pid is None:
            raise NotSupported(f"no process found for {member.name} (give its pid, or use a kl up data dir)")
        return pid

    async def leader(self) -> AdoptedMember:
        if len(self.members) == 1:
            return self.members[0]
        raise NotSupported("which member of an existing multi-member etcd leads is not known here: name it by index")

    def kill(self, member: AdoptedMember) -> None:
        os.kill(self._pid(member), signal.SIGKILL)

    def restart(self, member: AdoptedMember) -> None:
        """Wait for its supervisor to bring it back (it is not ours to start)."""
        self.wait_healthy(members=[member], timeout=90)

    def pause(self, member: AdoptedMember) -> None:
        os.kill(self._pid(member), signal.SIGSTOP)

    def unpause(self, member: AdoptedMember) -> None:
        os.kill(self._pid(member), signal.SIGCONT)

    def disconnect(self, member: AdoptedMember) -> None:
        raise NotSupported("an existing cluster's etcd cannot be partitioned from here")

    def reconnect(self, member: AdoptedMember) -> None:
        raise NotSupported("an existing cluster's etcd cannot be partitioned from here")

    def wait_healthy(self, timeout: float = 30.0, members: list[AdoptedMember] | None = None) -> None:
        deadline = clock.Deadline(timeout)
        pending = list(members or self.members)
        while pending:
            if deadline.expired():
                raise AssertionError(f"etcd not healthy in {timeout}s: {[m.endpoint for m in pending]}")
            pending = [m for m in pending if not _healthy(m.health or m.endpoint)]
            time.sleep(0.2)


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{endpoint}/health", timeout=1) as response:
            return b'"true"' in response.read()
    except OSError:
        return False


class AdoptedProc:
    """A process of the user's, by name; looked up afresh at each use. Same surface as
    :class:`kubelite.testing.processes.Proc` where faults use it; ``start()`` refuses."""

    restartable = False
    inspect_url: str | None = None  # what Processes.containers() asks of its procs
    docker = False
    nodes: tuple[str, ...] = ()

    def __init__(self, cluster: ExistingCluster, name: str) -> None:
        self.cluster = cluster
        self.name = name

    @property
    def pid(self) -> int | None:
        return self.cluster.pids().get(self.name)

    @property
    def alive(self) -> bool:
        pid = self.pid
        return pid is not None and alive(pid)

    def kill(self) -> None:
        pid = self.pid
        if pid is None:
            raise NotSupported(f"no process {self.name} found")
        os.kill(pid, signal.SIGKILL)

    def signal(self, sig: signal.Signals) -> None:
        pid = self.pid
        if pid is None:
            raise NotSupported(f"no process {self.name} found")
        os.kill(pid, sig)

    def start(self) -> None:
        """Not ours to start: its supervisor restarts it (or not — that is what is tested)."""


class ExistingCluster(Cluster):
    """The user's running cluster at ``server`` with etcd at ``etcd_endpoints``; its processes from
    ``kl_up_dir``'s ``up.json`` or ``pids``. ``start()`` only checks it answers; ``stop()`` only
    closes connections."""

    started_here = False

    def __init__(self, tmp: Path, *, server: str | None = None, etcd_endpoints: tuple[str, ...] = (),
                 kl_up_dir: Path | None = None, pids: dict[str, int] | None = None) -> None:
        self.kl_up_pid: int | None = None
        self.access = EtcdAccess(etcd_endpoints)
        health: str | None = None
        if kl_up_dir is not None:
            try:
                state = json.loads((kl_up_dir / "up.json").read_text())
            except (OSError, ValueError) as exc:
                raise NotSupported(f"{kl_up_dir}/up.json: {exc} (is kl up running with --data-dir {kl_up_dir}?)")
            server = server or owner_server_of(state)
            access = etcd_access_of(state)
            etcd_endpoints = etcd_endpoints or access.endpoints
            self.access = access if etcd_endpoints == access.endpoints else EtcdAccess(etcd_endpoints)
            health = state.get("etcd_metrics")  # a TLS member answers /health on its plain metrics listener
            self.kl_up_pid = int(state["pid"])
        if not server or not etcd_endpoints:
            raise NotSupported("an existing cluster needs its gateway URL and etcd endpoints (or a kl up data dir)")
        self.given_pids = dict(pids or {})
        super().__init__(ClusterSpec(etcd_members=len(etcd_endpoints) if len(etcd_endpoints) in (1, 3, 5) else 1,
                                     etcd_backend="local", managers=1, gateways=1, agents=0), tmp)
        self.spec_note = "existing"
        self.etcd = AdoptedEtcd(self, etcd_endpoints,  # type: ignore[assignment]  # same surface, adopted
                                health=health if len(etcd_endpoints) == 1 else None)
        self.server = server

    def pids(self) -> dict[str, int]:
        if self.kl_up_pid is not None:
            return children(self.kl_up_pid)
        return {name: pid for name, pid in self.given_pids.items() if alive(pid)}

    async def start(self, timeout: float = 30.0) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.processes = Processes(self.access, self.tmp, None)
        names = self.pids()
        for name in names:
            self.processes.procs[name] = AdoptedProc(self, name)  # type: ignore[assignment]
        self.managers = [n for n in names if n.startswith("cm-")]
        self.gateways = [n for n in names if n.startswith("gateway-")]
        self.agents = [n for n in names if n.startswith("agent-")]
        await self.processes.connect_store()
        self.write_kubeconfig()

    @property
    def gateway_url(self) -> str:
        return self.server

    def api(self, gateway: str | None = None) -> Api:
        return Api(self.server)

    async def stop(self) -> None:
        if self.processes is not None and self.processes.store is not None:
            await self.processes.store.client.close()
            self.processes.store = None
