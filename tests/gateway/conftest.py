"""A gateway on a free port in front of a fresh etcd, an HTTP session to it, and the real kubectl."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes import client

from kubelite.etcd.client import EtcdConfig
from kubelite.etcd.ops import range_
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway, GatewayConfig
from kubelite.gateway.state import WatchSettings

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def gateway_config(etcd: EmbeddedEtcd, **overrides: Any) -> GatewayConfig:
    settings: dict[str, Any] = {
        "etcd": EtcdConfig(endpoints=(etcd.endpoint,), timeout=3.0), "port": 0,
        "watch": WatchSettings(bookmark_interval=0.3),
    }
    settings.update(overrides)
    return GatewayConfig(**settings)


@pytest.fixture
async def gateway(etcd: EmbeddedEtcd) -> AsyncIterator[Gateway]:
    gw = Gateway(gateway_config(etcd))
    await gw.start()
    try:
        yield gw
    finally:
        await stop_or_explain(gw)


async def stop_or_explain(gw: Gateway, timeout: float = 20.0) -> None:
    """Stop the gateway; if that hangs, fail naming the tasks still running."""
    try:
        await asyncio.wait_for(gw.stop(), timeout)
    except TimeoutError:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        stacks = "\n".join(f"{t.get_name()}: {t.get_stack(limit=8)}" for t in tasks)
        raise AssertionError(f"gateway stop took over {timeout} s; tasks:\n{stacks}") from None


@pytest.fixture
async def api(gateway: Gateway) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=gateway.url, timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def etcd_revision(gateway: Gateway) -> int:
    """etcd's current revision: unchanged means nothing was written."""
    assert gateway.state is not None
    response = await range_(gateway.state.client, "/registry/", count_only=True, what="test revision")
    return int(response.header.revision)


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


class Kubectl:
    """Runs the real kubectl against the gateway without blocking the event loop the gateway runs in."""

    def __init__(self, server: str, home: Path, token: str | None = None, ca_file: Path | None = None) -> None:
        self.server = server
        self.home = home
        self.token = token
        self.ca_file = ca_file
        self.kubeconfig = home / "kubeconfig"
        self.kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")

    async def __call__(self, *args: str, stdin: str | None = None, check: bool = True,
                       timeout: float = 30.0) -> Completed:
        argv = [KUBECTL, "--server", self.server, "--cache-dir", str(self.home / "cache"),
                "--request-timeout", "20s"]
        if self.token:
            argv += ["--token", self.token]
        if self.ca_file:
            argv += ["--certificate-authority", str(self.ca_file)]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.home)}
        proc = await asyncio.create_subprocess_exec(
            *argv, *args, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        result = Completed(proc.returncode or 0, out.decode(), err.decode())
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """A long-running kubectl (``get -w``); the caller kills it."""
        argv = [KUBECTL, "--server", self.server, "--cache-dir", str(self.home / "cache"), *args]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.home)}
        return await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, env=env)


@pytest.fixture
def kubectl(gateway: Gateway, tmp_path: Path) -> Kubectl:
    if not Path(KUBECTL).exists():
        # Like the Docker fixtures: a missing tool fails, it does not hide the compatibility suite.
        pytest.fail(f"kubectl is not installed at {KUBECTL}; the kubectl compatibility suite cannot run",
                    pytrace=False)
    home = tmp_path / "kubectl-home"
    home.mkdir()
    return Kubectl(gateway.url, home)


@pytest.fixture
def k8s(gateway: Gateway) -> Iterator[client.ApiClient]:
    """The official Python client, configured for the test gateway."""
    configuration = client.Configuration()
    configuration.host = gateway.url
    api_client = client.ApiClient(configuration)
    try:
        yield api_client
    finally:
        api_client.close()
