"""The real runtimes the agent suites run on (docker and oci), behind one test-facing shape.

``RuntimeNode`` is what a suite parametrised over runtimes gets (``runtime_node`` fixture in
conftest.py): the node's name, ``make()`` for a fresh runtime adapter of that node (the agent's,
or a second one to look at what the agent made), and helpers that read the node's containers,
their processes and their logs the same way on both runtimes, so one test body asserts the same
behaviour on each.

The oci runtime uses the CNI bridge ``kloci0`` on 10.244.250.0/24 and the network name
``kloci-test`` (names no other test uses); the session removes the bridge and the portmap plugin's
shared chains when it ends, and ``scripts/test.sh`` removes what a killed earlier run left of that network
(``remove_earlier_runs``) before the suite starts. The demo image comes in the documented way: a ``docker save``
tarball loaded into the session's image store.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from agent.runtime.base import LABEL_NODE, ContainerInfo, ContainerNotFound, ContainerRuntime, LogLimits
from agent.runtime.docker import DockerRuntime
from agent.runtime.oci import cni
from agent.runtime.oci.runtime import OciRuntime

IMAGE = "kubelite/demo:latest"
NETWORK = "kloci-test"
BRIDGE = "kloci0"
SUBNET = "10.244.250.0/24"
SUBNET_PREFIX = "10.244.250."  # how its addresses start in `ip addr` and iptables rules


def sh(command: str) -> str:
    return subprocess.run(command, shell=True, capture_output=True, text=True, check=False).stdout  # noqa: S602


def oci_runtime(root: Path, node: str, **options: Any) -> OciRuntime:
    network = cni.CniConfig(network=NETWORK, bridge=BRIDGE, subnet=SUBNET, ipam_dir=str(root / "ipam"))
    return OciRuntime(node=node, root=root, network=network, poll=0.2, **options)


SHARED_CHAINS = {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ", "CNI-FORWARD", "CNI-ADMIN"}


def remove_portmap_chains() -> None:
    """The shared chains of CNI's portmap (CNI-HOSTPORT-*) and firewall (CNI-FORWARD, CNI-ADMIN) plugins
    outlive DEL by design; remove them (and their jumps) when no pod's rules are left in them."""
    for table, users, chains in (("nat", "CNI-DN-", ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ")),
                                 ("filter", "-A CNI-FORWARD -s ", ("CNI-FORWARD", "CNI-ADMIN"))):
        rules = sh(f"iptables -t {table} -S")
        if users in rules:
            continue
        for line in rules.splitlines():
            if line.startswith("-A ") and any(chain in line for chain in chains):
                subprocess.run(["iptables", "-t", table, "-D", *shlex.split(line)[1:]], capture_output=True, check=False)  # noqa: S603,S607
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True, check=False)  # noqa: S603,S607


def remove_earlier_runs() -> None:
    """What a killed earlier run of the suite left of ``kloci-test`` on the host: its pods' netns (an
    address in its subnet and no process left; their veths go with them), the iptables rules whose
    comment names the network and the per-pod chains those rules jump to, the firewall plugin's rules for
    its pods' IPs, then the shared portmap and firewall chains.

    A leaked hostPort DNAT rule on 127.0.0.1 sends a later test's connections to that port to a gone pod
    (a CI run's embedded etcd was once unreachable this way)."""
    subnet = SUBNET_PREFIX
    for line in sh("ip netns list").splitlines():
        name = line.split(" ", 1)[0]
        if not name.startswith("kl-") or sh(f"ip netns pids {shlex.quote(name)}").strip():
            continue
        if f"inet {subnet}" in sh(f"ip netns exec {shlex.quote(name)} ip -o -4 addr show"):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)  # noqa: S603,S607
    marker = f'name: \\"{NETWORK}\\"'
    for table in ("nat", "filter"):
        rules = [line for line in sh(f"iptables -t {table} -S").splitlines() if line.startswith("-A ")]
        # the firewall plugin's per-pod rules in CNI-FORWARD carry the pod's IP, not the network's name
        ours = [line for line in rules if marker in line
                or (line.startswith("-A CNI-FORWARD ") and (f"-s {subnet}" in line or f"-d {subnet}" in line))]
        chains = {line.split(" -j ", 1)[1].split()[0] for line in ours if " -j CNI-" in line} - SHARED_CHAINS
        for line in ours:  # the jumps to the per-pod chains (and any other rule naming the network)
            if line.split()[1] not in chains:
                subprocess.run(["iptables", "-t", table, "-D", *shlex.split(line)[1:]], capture_output=True, check=False)  # noqa: S603,S607
        # a hostPort chain whose jump is gone already (its rules name the subnet, not the network)
        chains |= {line.split()[1] for line in rules if line.split()[1].startswith("CNI-DN-") and f"-s {subnet}" in line
                   and not any(f"-j {line.split()[1]}" in other for other in rules)}
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-F", chain], capture_output=True, check=False)  # noqa: S603,S607
            subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True, check=False)  # noqa: S603,S607
    subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)  # noqa: S603,S607
    remove_portmap_chains()


def leftovers() -> dict[str, int]:
    """What oci pods of the suite leave on the host: rules naming its CNI network or its pods' IPs, netns, veths."""
    subnet = SUBNET_PREFIX
    return {
        "iptables": sum(NETWORK in line or "CNI-DN-" in line or ("CNI-FORWARD" in line and subnet in line)
                        for line in sh("iptables-save").splitlines()),
        "netns": sum(line.startswith("kl-") for line in sh("ip netns list").splitlines()),
        "veth": sum(f"master {BRIDGE}" in line for line in sh("ip -o link").splitlines()),
    }


async def remove_oci_node_containers(runtime: OciRuntime) -> None:
    """Every container of the runtime's node, apps first (they live in their sandbox's netns), through
    a fresh adapter of the same store (the agent's was stopped)."""
    fresh = OciRuntime(node=runtime.node, root=runtime.root, runc=runtime.runc, network=runtime.network,
                       images=runtime.images)
    await fresh.start()
    try:
        containers = await fresh.list_containers({LABEL_NODE: runtime.node})
        for info in sorted(containers, key=lambda c: c.is_sandbox):
            with contextlib.suppress(ContainerNotFound):  # removed meanwhile (with its sandbox...)
                await fresh.remove_container(info.id)
    finally:
        await fresh.stop()


def processes_of(container_id: str) -> list[str]:
    """Command lines of the host's processes in the container's cgroup (its id is in the cgroup path
    with both runtimes: ``/docker/<id>``, ``/kubelite-oci/<id>``), read from /proc as ``docker top`` does."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if container_id not in (proc / "cgroup").read_text():
                continue
            found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip())
        except OSError:
            continue
    return found


@dataclass
class RuntimeNode:
    """One node of a real runtime for a test: ``kind`` is ``docker`` or ``oci``."""

    kind: str
    node: str
    factory: Callable[..., ContainerRuntime]

    def make(self, **options: Any) -> ContainerRuntime:
        """A new runtime adapter of this node (e.g. ``log_limits=LogLimits(...)``)."""
        return self.factory(self.node, **options)

    async def containers(self) -> list[ContainerInfo]:
        """This node's containers as the runtime lists them (any cluster)."""
        runtime = self.make()
        await runtime.start()
        try:
            return await runtime.list_containers({LABEL_NODE: self.node})
        finally:
            await runtime.stop()

    async def log_text(self, container_id: str) -> bytes:
        runtime = self.make()
        await runtime.start()
        try:
            return b"".join([line async for line in runtime.logs(container_id, follow=False, tail=None,
                                                                  timestamps=False)])
        finally:
            await runtime.stop()

    def log_file(self, container_id: str) -> str:
        """Where the runtime writes the container's current log file (rotated ones get ``.1``...)."""
        runtime = self.make()
        if isinstance(runtime, OciRuntime):
            return str(runtime.containers_dir / container_id / "container.log")
        client = docker.from_env(timeout=30)
        try:
            return str(client.containers.get(container_id).attrs["LogPath"])
        finally:
            client.close()

    def container_id(self, status_id: str) -> str:
        """The runtime's id from a status's ``containerID`` (``<kind>://<id>``)."""
        prefix = f"{self.kind}://"
        assert status_id.startswith(prefix), status_id
        return status_id.removeprefix(prefix)


def docker_factory(node: str, *, log_limits: LogLimits | None = None) -> ContainerRuntime:
    return DockerRuntime(node=node, log_limits=log_limits)
