"""Fixtures for agent tests: a store on a fresh etcd, and agents (sim, docker or oci) that are
always stopped and whose containers are always removed, whatever the test did.

``runtime_node`` runs a test once per real runtime (docker, oci): see tests/agent/runtimes.py."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from agent.agent import Agent, AgentConfig
from agent.node import NodeConfig
from agent.pods import PodOptions
from kubelite.node.evictionflags import LOCAL_EVICTION_HARD, parse_eviction_hard
from agent.runtime.base import LABEL_NODE, ContainerRuntime
from agent.runtime.docker import DockerRuntime
from agent.runtime.oci.images import ImageStore
from agent.runtime.oci.runtime import OciRuntime, preflight
from agent.runtime.sim import SimRuntime
from kubelite.storage.store import Store
from tests.agent.runtimes import (
    BRIDGE, IMAGE, RuntimeNode, docker_factory, oci_runtime, remove_oci_node_containers, remove_portmap_chains,
)

TOKEN = "test-agent-token"

StartAgent = Callable[..., Awaitable[Agent]]


@pytest.fixture
def node_name() -> str:
    """A node name no other test uses: containers are filtered by it."""
    return f"t{uuid.uuid4().hex[:8]}"


def agent_config(node: str, **overrides: Any) -> AgentConfig:
    defaults: dict[str, Any] = dict(
        listen_host="127.0.0.1", listen_port=0, token=TOKEN, lease_ttl=3, status_period=5.0,
        backoff_initial=1.0, backoff_cap=8.0, resync_period=10.0, housekeeping_period=5.0,
        # the suite shares the host's disk: the kubelet's 10 %/15 % would evict every pod on a
        # CI machine whose big disk is 90 % full (tests of eviction pass their own thresholds)
        eviction_hard=parse_eviction_hard(LOCAL_EVICTION_HARD),
    )
    defaults.update(overrides)
    # One keyword per setting, as the CLI's flags: each goes to the part with a field of its name.
    node_ip = defaults.pop("node_ip", "127.0.0.1")

    def part(cls: Any) -> dict[str, Any]:
        names = {f.name for f in dataclasses.fields(cls)}
        return {k: defaults.pop(k) for k in list(defaults) if k in names}

    node_fields, pod_fields = part(NodeConfig), part(PodOptions)
    return AgentConfig(NodeConfig(name=node, address=node_ip, **node_fields),
                       PodOptions(node=node, host_ip=node_ip, **pod_fields), **defaults)


@pytest.fixture
async def start_agent(store: Store) -> AsyncIterator[StartAgent]:
    """``await start_agent(node, runtime=..., **config)``: a started agent, stopped at teardown."""
    agents: list[Agent] = []

    async def start(node: str, *, runtime: ContainerRuntime | None = None, observe_disk: Any = None,
                    **overrides: Any) -> Agent:
        agent = Agent(agent_config(node, **overrides), store=store, runtime=runtime or SimRuntime(node=node),
                      observe_disk=observe_disk)
        agents.append(agent)
        await agent.start()
        return agent

    try:
        yield start
    finally:
        for agent in reversed(agents):
            await asyncio.wait_for(agent.stop(), 30)  # a hang here is a bug: fail loudly, not after 300 s
        nodes = {a.config.node for a in agents if isinstance(a.runtime.inner, DockerRuntime)}
        if nodes:
            client = docker.from_env(timeout=60)
            try:
                for node in nodes:
                    await asyncio.to_thread(remove_node_containers, client, node)
            finally:
                client.close()
        for agent in agents:
            if isinstance(agent.runtime.inner, OciRuntime):
                await remove_oci_node_containers(agent.runtime.inner)
        for root in {a.config.pod_options.root_dir for a in agents if a.config.pod_options.root_dir}:
            unmount_under(str(root))  # tmpfs volumes of pods a failed test left behind


def unmount_under(root: str) -> None:
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(root.rstrip("/") + "/")]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", point], capture_output=True, check=False)  # noqa: S603,S607


def remove_node_containers(client: docker.DockerClient, node: str) -> None:
    # sparse: no inspect per container, which raced a container the agent was removing (NotFound)
    for container in client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_NODE}={node}"}):
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):  # someone else is removing it: same outcome
                raise


@pytest.fixture
def docker_node(docker_client: docker.DockerClient, demo_image: str, node_name: str) -> str:
    """A unique node name for a docker agent; ``start_agent`` removes its containers after the test
    (after stopping the agent, which would otherwise re-create them)."""
    remove_node_containers(docker_client, node_name)
    return node_name


def docker_runtime(node: str) -> DockerRuntime:
    return DockerRuntime(node=node)


@pytest.fixture(scope="session")
def oci_root(tmp_path_factory: pytest.TempPathFactory, demo_image: str) -> Iterator[Path]:
    """The oci runtime's root for the session, the demo image loaded from a ``docker save`` tarball."""
    problem = preflight("runc")
    assert problem is None, problem  # setup.sh installs runc, CNI plugins, umoci, skopeo
    root = tmp_path_factory.mktemp("kloci")
    archive = root / "demo.tar"
    subprocess.run(["docker", "save", IMAGE, "-o", str(archive)], check=True, timeout=120)  # noqa: S603,S607
    assert ImageStore(root / "images").load_archive(archive) == [IMAGE]
    yield root
    subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)  # noqa: S603,S607
    remove_portmap_chains()


@pytest.fixture(params=["docker", "oci"])
def runtime_node(request: pytest.FixtureRequest) -> RuntimeNode:
    """A fresh node on each real runtime in turn. ``start_agent`` removes its containers after the test
    (after stopping the agent, which would otherwise re-create them)."""
    if request.param == "docker":
        return RuntimeNode("docker", request.getfixturevalue("docker_node"), docker_factory)
    root: Path = request.getfixturevalue("oci_root")
    return RuntimeNode("oci", f"o{uuid.uuid4().hex[:8]}", functools.partial(oci_runtime, root))
