"""`kubectl logs` (the real kubectl → gateway → agent → Docker or the oci runtime) across log rotation: the newest
lines after the oldest were rotated away, and `-f` keeps following through rotations."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubelite.agent_auth import node_token
from kubelite.api.core import Container, Pod, PodSpec
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import PODS
from kubelite.etcd_server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.store import Store
from tests.agent.conftest import StartAgent
from tests.agent.runtimes import RuntimeNode
from tests.gateway.conftest import KUBECTL, Kubectl, gateway_config, stop_or_explain
from tests.helpers import wait_for

from agent.runtime.base import LogLimits

pytestmark = pytest.mark.docker

SECRET = "test-agent-secret"
COUNTER = ["sh", "-c", 'i=0; while true; do i=$((i+1)); echo "line $i"; done']


@pytest.fixture
async def gateway(etcd: EmbeddedEtcd, tmp_path: Path) -> AsyncIterator[Gateway]:
    secret_file = tmp_path / "agent-secret"
    secret_file.write_text(SECRET)
    gw = Gateway(gateway_config(etcd, agent_secret_file=secret_file))
    await gw.start()
    try:
        yield gw
    finally:
        await stop_or_explain(gw)


async def test_kubectl_logs_and_follow_across_rotation(
    store: Store, gateway: Gateway, start_agent: StartAgent, runtime_node: RuntimeNode, tmp_path: Path,
) -> None:
    node = runtime_node.node
    assert Path(KUBECTL).exists(), f"kubectl is needed at {KUBECTL}"
    home = tmp_path / "kubectl-home"
    home.mkdir()
    kubectl = Kubectl(gateway.url, home)
    limits = LogLimits(max_bytes=64 << 10, max_files=2)
    await start_agent(node, runtime=runtime_node.make(log_limits=limits),
                      token=node_token(SECRET, node))
    await store.create(PODS, Pod(metadata=ObjectMeta(name="chatty", namespace="default"), spec=PodSpec(
        node_name=node, termination_grace_period_seconds=1,
        containers=[Container(name="spam", image="kubelite/demo:latest", command=COUNTER)])))

    async def log_path() -> str | None:
        spam = [c for c in await runtime_node.containers() if c.container_name == "spam" and c.state == "running"]
        return runtime_node.log_file(spam[0].id) if spam else None

    path = await wait_for(log_path, 30, message="the container runs")
    await wait_for(lambda: os.path.exists(f"{path}.1"), 30, message="the log rotated")

    def size(file: str) -> int:
        try:
            return os.stat(file).st_size
        except FileNotFoundError:  # between a rotation's rename and the new file
            return 0

    await wait_for(lambda: size(f"{path}.1") > 0 and size(path) > 0, 30, message="a new file")
    async def rotated_away() -> list[int]:  # the first rotation keeps line 1 in the .1 file: the second drops it
        kept = [int(line.split()[1]) for line in (await kubectl("logs", "chatty")).stdout.splitlines()
                if line.startswith("line ")]
        return kept if kept and min(kept) > 1 else []

    kept = await wait_for(rotated_away, 30, 0.2, message="line 1 rotated away")
    tail = (await kubectl("logs", "chatty", "--tail=5")).stdout.splitlines()
    numbers = [int(line.split()[1]) for line in tail]
    assert len(numbers) == 5 and min(numbers) >= max(kept)  # asked later: the newest lines

    follower = await kubectl.start("logs", "-f", "chatty")
    try:
        assert follower.stdout is not None
        seen: list[int] = []

        async def progressed() -> bool:
            while True:
                line = (await follower.stdout.readline()).decode()
                if not line:
                    return False  # the stream ended: not following any more
                if line.startswith("line "):
                    number = int(line.split()[1])
                    assert not seen or number > seen[-1], (seen[-1], number)  # ordered, nothing replayed
                    seen.append(number)
                    if seen[-1] - seen[0] > 5000:  # ~800 lines a file: many rotations followed
                        return True

        assert await asyncio.wait_for(progressed(), 60), seen[-3:]
    finally:
        if follower.returncode is None:
            follower.kill()
        await follower.wait()
