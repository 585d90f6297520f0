"""A real etcd cluster (1, 3 or 5 members) in Docker, with the means to hurt it.

testcontainers (``pip install kubelite[testing]``) starts the containers: it is the common
library for throw-away containers in tests, and it is imported only when a cluster starts,
so ``kubelite.testing`` imports without it. Members run the locally built etcd image on their own network, addressed by
container name; client ports are published on 127.0.0.1 only. The test can
kill (SIGKILL) a member and start it again, pause (freeze) it, or cut it off
the network.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import aetcd
import docker

from kubelite.etcd.server import free_port
from kubelite.util import clock

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

# Ryuk's image cannot be pulled without a registry; the cluster removes its containers itself.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

ETCD_IMAGE = os.environ.get("ETCD_IMAGE", "kubelite/etcd:3.5.1")  # the same name deploy/etcd/build.sh builds


@dataclass
class Member:
    name: str
    client_port: int
    container: DockerContainer

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def docker_container(self) -> docker.models.containers.Container:
        return self.container.get_wrapped_container()


class EtcdCluster:
    """``size`` members in containers of ``ETCD_IMAGE`` on a network of their own.

    ``start()`` returns once every member is healthy; ``stop()`` removes the containers and
    the network (idempotent). ``kill``/``restart``, ``pause``/``unpause`` and
    ``disconnect``/``reconnect`` hurt one member; ``leader()`` names the current leader."""

    kind = "containers"

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self.token = f"kubelite-chaos-{uuid.uuid4().hex[:8]}"
        self.network: Any = None
        self.members: list[Member] = []

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(m.endpoint for m in self.members)

    def _name(self, index: int) -> str:
        return f"{self.token}-etcd{index}"

    def start(self) -> None:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.network import Network

        self.network = Network()
        self.network.create()
        names = [self._name(i) for i in range(1, self.size + 1)]
        initial = ",".join(f"{n}=http://{n}:2380" for n in names)
        for name in names:
            port = free_port()
            command = (
                f"--name {name} --data-dir /var/lib/etcd/data "
                f"--listen-client-urls http://0.0.0.0:2379 --advertise-client-urls http://{name}:2379 "
                f"--listen-peer-urls http://0.0.0.0:2380 --initial-advertise-peer-urls http://{name}:2380 "
                f"--initial-cluster {initial} --initial-cluster-state new --initial-cluster-token {self.token} "
                "--heartbeat-interval 100 --election-timeout 1000"
            )
            container = (
                DockerContainer(ETCD_IMAGE, name=name, command=command)
                # Explicit, so an official etcd image (no ENTRYPOINT, etcd in /usr/local/bin) works too.
                .with_kwargs(entrypoint=["/usr/local/bin/etcd"])
                .with_network(self.network)
                .with_network_aliases(name)
            )
            # Docker's (address, port) form publishes on loopback only; with_bind_ports takes no address.
            container.ports["2379/tcp"] = ("127.0.0.1", port)  # type: ignore[assignment]
            container.start()
            self.members.append(Member(name, port, container))
        self.wait_healthy()

    def stop(self) -> None:
        for member in self.members:
            try:
                member.docker_container.remove(force=True)
            except docker.errors.NotFound:
                pass
        self.members = []
        if self.network is not None:
            try:
                self.network.remove()
            except docker.errors.APIError:
                pass
            self.network = None

    def wait_healthy(self, timeout: float = 30.0, members: list[Member] | None = None) -> None:
        deadline = clock.Deadline(timeout)
        pending = list(members or self.members)
        while pending:
            if deadline.expired():
                raise AssertionError(f"etcd members not healthy in {timeout}s: {[m.name for m in pending]}")
            pending = [m for m in pending if not self._healthy(m)]
            time.sleep(0.2)

    def _healthy(self, member: Member) -> bool:
        code, _ = member.docker_container.exec_run(
            ["etcdctl", "--endpoints=http://127.0.0.1:2379", "--command-timeout=1s", "endpoint", "health"]
        )
        return bool(code == 0)

    async def leader(self) -> Member:
        """The member that currently leads (asked of each reachable member)."""
        return await find_leader(self.members)

    def kill(self, member: Member) -> None:
        member.docker_container.kill(signal="SIGKILL")

    def restart(self, member: Member) -> None:
        member.docker_container.start()
        self.wait_healthy(members=[member])

    def pause(self, member: Member) -> None:
        member.docker_container.pause()

    def unpause(self, member: Member) -> None:
        member.docker_container.unpause()

    def disconnect(self, member: Member) -> None:
        docker.from_env().networks.get(self.network.id).disconnect(member.docker_container)

    def reconnect(self, member: Member) -> None:
        docker.from_env().networks.get(self.network.id).connect(member.docker_container, aliases=[member.name])


class HasEndpoint(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def endpoint(self) -> str: ...


M = TypeVar("M", bound=HasEndpoint)


async def find_leader(members: list[M]) -> M:
    """The member of ``members`` that the first reachable one names as leader (etcd's Status
    call). Raises AssertionError when none answers or none knows a leader."""
    for member in members:
        host, port = member.endpoint.split(":")
        try:
            async with aetcd.Client(host=host, port=int(port), timeout=2) as client:
                status = await client.status()
        except aetcd.ClientError:
            continue
        for candidate in members:
            if status.leader is not None and status.leader.name == candidate.name:
                return candidate
    raise AssertionError("no etcd member reports a leader")
