"""Shared fixtures: an embedded etcd (per test or per session) with a client and a store, the Docker
Engine, and the demo image. Docker fixtures FAIL rather than skip when the
engine does not answer: scripts/setup.sh is supposed to have started it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.etcd.client import EtcdClient, EtcdConfig, connect
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.images.build import DEMO_IMAGE, ImageBuildError, build_all
from kubelite.storage.store import Store
from tests.strict_etcd import strict_problems_at

# Every object any component writes must be one kube-apiserver accepts strictly: in the suite (and in the
# kl up / component processes it starts, which inherit this) a field Kubernetes does not have fails the write.
os.environ.setdefault("KUBELITE_STRICT_FIELDS", "1")


@pytest.fixture
async def etcd(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EmbeddedEtcd]:
    """A fresh single-member etcd on free ports, stopped after the test.

    Runs in the test's event loop, so a test may ``await etcd.kill()``,
    ``etcd.start()`` or ``etcd.restart()`` (same ports, same data).
    At teardown every object left under ``/registry/`` must validate strictly
    (tests/strict_etcd.py): whatever component wrote it, it is Kubernetes JSON
    kube-apiserver would accept. Tests where that cannot or must not be checked
    say why with ``@pytest.mark.skip_stored_object_check(reason=...)``.
    """
    server = EmbeddedEtcd(data_dir=tmp_path / "etcd")
    await server.start()
    try:
        yield server
        if server.running and request.node.get_closest_marker("skip_stored_object_check") is None:
            await _check_stored_objects(server)
    finally:
        await server.stop()


async def _check_stored_objects(server: EmbeddedEtcd) -> None:
    problems = await strict_problems_at(server.endpoint)
    if problems:
        pytest.fail("objects in etcd that kube-apiserver would refuse:\n" + "\n".join(problems[:30]), pytrace=False)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    # A private loop, not asyncio.run(): that would reset the thread's current
    # event loop under pytest-asyncio's feet.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        loop.close()


@pytest.fixture(scope="session")
def etcd_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedEtcd]:
    """One etcd shared by the whole session (usable from any event loop).

    Tests sharing it must use their own key prefixes and must not stop it.
    """
    server = EmbeddedEtcd(data_dir=tmp_path_factory.mktemp("etcd-session"))
    _run(server.start())
    try:
        yield server
    finally:
        _run(server.stop())


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A Docker SDK client whose engine answered a ping; fails otherwise."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # the SDK raises several unrelated types here
        pytest.fail(
            f"Docker Engine does not answer ({exc!r}). Run `bash scripts/setup.sh` "
            "(as root it installs and starts dockerd), or start dockerd yourself.",
            pytrace=False,
        )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def docker_available(docker_client: docker.DockerClient) -> bool:
    """True when the Docker Engine answers; fails the test otherwise."""
    return True


@pytest.fixture(scope="session")
def demo_image(docker_available: bool) -> str:
    """The name of the demo image, built by ``kl images build demo``'s code if missing
    (scripts/setup.sh rebuilds it when its inputs change)."""
    try:
        build_all(("demo",), only_missing=True, say=print)
    except ImageBuildError as exc:
        pytest.fail(f"building {DEMO_IMAGE} failed: {exc}", pytrace=False)
    return DEMO_IMAGE


@pytest.fixture
async def etcd_client(etcd: EmbeddedEtcd) -> AsyncIterator[EtcdClient]:
    client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=3.0))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def store(etcd_client: EtcdClient) -> Store:
    store = Store(etcd_client)
    await ensure_system_namespaces(store)
    return store
