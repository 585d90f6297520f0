"""The locally built demo image (FROM scratch + static busybox)."""

from __future__ import annotations

import asyncio

import aiohttp
import docker
import pytest
from docker.models.containers import Container

from tests.helpers import wait_for

pytestmark = pytest.mark.docker
LABELS = {"kubelite.test": "test_images"}


def test_demo_image_runs_a_shell(docker_client: docker.DockerClient, demo_image: str) -> None:
    out = docker_client.containers.run(
        demo_image, ["sh", "-c", "echo hi"], remove=True, labels=LABELS
    )
    assert out == b"hi\n"


def test_demo_image_has_the_applets(docker_client: docker.DockerClient, demo_image: str) -> None:
    script = "for a in sh sleep httpd wget nc; do which $a || exit 1; done; cat /www/index.html"
    out = docker_client.containers.run(
        demo_image, ["sh", "-c", script], remove=True, labels=LABELS
    ).decode()
    assert out.splitlines()[:5] == ["/bin/sh", "/bin/sleep", "/bin/httpd", "/bin/wget", "/bin/nc"]
    assert "Hello from kubelite" in out


async def test_httpd_serves_the_page(docker_client: docker.DockerClient, demo_image: str) -> None:
    container: Container = await asyncio.to_thread(
        docker_client.containers.run,
        demo_image,
        ["httpd", "-f", "-p", "8080", "-h", "/www"],
        detach=True,
        init=True,  # busybox httpd as PID 1 would ignore SIGTERM
        ports={"8080/tcp": ("127.0.0.1", None)},
        labels=LABELS,
    )
    try:
        await asyncio.to_thread(container.reload)
        host_port = int(container.ports["8080/tcp"][0]["HostPort"])

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:

            async def page() -> str:
                async with session.get(f"http://127.0.0.1:{host_port}/") as resp:
                    return await resp.text() if resp.status == 200 else ""

            body = await wait_for(
                page, 15, 0.1, message="httpd to serve /", ignore=(aiohttp.ClientError,)
            )
        assert "Hello from kubelite" in body
        await asyncio.to_thread(container.stop, timeout=5)
        await asyncio.to_thread(container.reload)
        assert container.status == "exited"
    finally:
        await asyncio.to_thread(container.remove, force=True)
