"""Shared fixtures: an embedded etcd (per test or per session) with a client and a store, the Docker
Engine, and the demo image. Docker fixtures FAIL rather than skip when the
engine does not answer: scripts/setup.sh is supposed to have started it."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tempfile
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


# --- Running on two cores (scripts/test.sh; README.md says how the suite runs) ---------------------------
# scripts/test.sh runs the suite in two phases: `--kl-phase parallel` (pytest-xdist, `-n 2`, scheduled by
# pytest_xdist_make_scheduler below) runs every test NOT marked `serial`; then `--kl-phase serial` runs the
# `serial` ones alone, one at a time (the marker's registration in pyproject.toml says which tests and why).
# Without the option (plain pytest, the default `all`) every collected test runs, as before.
PHASES = ("all", "parallel", "serial")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kl-phase", choices=PHASES, default="all",
                     help="parallel: only tests not marked serial; serial: only those (scripts/test.sh runs both)")


@pytest.hookimpl(wrapper=True)  # a wrapper: deselects before any plain hook (xdist's) sees the items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    phase = config.getoption("--kl-phase")
    if phase != "all":
        keep = [item for item in items if (item.get_closest_marker("serial") is not None) == (phase == "serial")]
        kept = set(keep)
        dropped = [item for item in items if item not in kept]
        if dropped:  # reported as deselected: the other phase of scripts/test.sh runs them
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    yield


# The unit of work a worker takes (pytest-xdist's LoadScopeScheduling, with our scope). pytest 9 keeps a
# node's id in `_id`, so xdist 3.8's `--dist loadgroup` cannot group by `xdist_group` marks: this scheduler
# groups from the test ids instead.
# - The end-to-end tests (below: they start `kl up` clusters, Docker containers, the oci runtime, Chromium,
#   wheel builds) are ONE unit, so one worker runs them one after another while the other worker runs the
#   in-process tests (a real etcd, gateways and controllers, but no cluster of processes). Two end-to-end
#   tests at once on 2 cores were what failed in the first parallel runs: timeouts of a Docker agent's
#   restart and of the dashboard's requests, two `python -m build` in one checkout, and the oci runtime's
#   host-wide things (the CNI bridge kloci0 and its subnet, fixed hostPorts, counts of netns/veths/iptables
#   rules) used by two tests at once.
# - Any other test's unit is its file, so a module-scoped fixture is made once.
END_TO_END = ("tests/agent/", "tests/cli/", "tests/ui/", "tests/release/")


def xdist_scope(nodeid: str) -> str:
    """The unit of work a test belongs to: "end-to-end", or its file."""
    path = nodeid.split("::", 1)[0]
    if path.startswith(END_TO_END) or "[oci" in nodeid or "-oci]" in nodeid or "-oci-" in nodeid:
        return "end-to-end"
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class EndToEndAndFileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return EndToEndAndFileScheduling(config, log)


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


@contextlib.contextmanager
def _machine_lock(name: str) -> Iterator[None]:
    """An exclusive lock of this machine's (pytest-xdist workers, other checkouts' runs), held while inside."""
    with open(Path(tempfile.gettempdir()) / name, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def demo_image(docker_available: bool) -> str:
    """The name of the demo image, built by ``kl images build demo``'s code if missing
    (scripts/setup.sh rebuilds it when its inputs change)."""
    try:
        # per worker under pytest-xdist: one build at a time on this machine (the same tag), the others
        # then find the image present
        with _machine_lock("kubelite-demo-image.lock"):
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
