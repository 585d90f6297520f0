"""A docker exec whose client hangs up at once leaves no process behind.

dockerd answers an exec start's upgrade (101) before it starts the process, so a stream closed right
away can find the exec not running yet (Pid 0, no exit code). The agent must wait for it to start
and then kill it; before, the process started afterwards and ran on (seen as ``sleep 4321`` still
running 20 s after kubectl was killed). Real Docker Engine, the agent's own runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import docker
import pytest

from agent.runtime.docker import DockerRuntime
from kubelite.util import clock

pytestmark = pytest.mark.docker


@pytest.fixture
def container(docker_client: docker.DockerClient, demo_image: str) -> Iterator[str]:
    made = docker_client.containers.run(demo_image, ["sleep", "3600"], detach=True, labels={"kubelite.test": "hangup"})
    try:
        yield str(made.id)
    finally:
        made.remove(force=True)


async def test_a_stream_closed_at_once_kills_its_exec_even_before_it_started(
        container: str, docker_client: docker.DockerClient) -> None:
    runtime = DockerRuntime(node="test-exec-hangup")
    await runtime.start()
    try:
        for attempt in range(4):  # the window is short: close at once, several times
            marker = str(4300 + attempt)
            stream = await runtime.exec_stream(container, ["sleep", marker], stdin=True, tty=False)
            await stream.close()  # the client left before the process (probably) started

            def running(m: str = marker) -> bool:
                top = docker_client.api.top(container, ps_args="-eo pid,args")
                return any(row[-1] == f"sleep {m}" for row in top.get("Processes") or [])
            # close() returns once the exec was killed, so it must be gone now, and must not show up
            # later either (a late start): watched for a while, at every moment
            watch = clock.Deadline(1.0)
            while not watch.expired():
                assert not running(), f"sleep {marker} outlived its closed stream"
                await asyncio.sleep(0.1)
    finally:
        await runtime.stop()
