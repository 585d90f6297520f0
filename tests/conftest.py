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
# `serial` ones alone, one at a time
# (the marker's registration in pyproject.toml says which tests and why). Without the option (plain
# pytest, the default `all`) every collected test runs, as before.
PHASES = ("all", "parallel", "serial")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kl-phase", choices=PHASES, default="all",
                     help="parallel: only tests not marked serial; serial: only those (scripts/test.sh runs both)")


def _module_scoped_fixture(item: pytest.Item) -> bool:
    """Whether the test uses a fixture wider than a test and narrower than the session (a module's
    `kl up` cluster, a built release): its tests then share one worker, so the fixture is made once."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs and defs[-1].scope in ("module", "class", "package") and not name.startswith("_")
               for name, defs in info.name2fixturedefs.items())


@pytest.hookimpl(wrapper=True)  # a wrapper: marks items before any plain hook, xdist's (which reads the marks) too
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    _phase_and_groups(config, items)
    yield


def _phase_and_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    phase = config.getoption("--kl-phase")
    if phase != "all":
        keep = [item for item in items if (item.get_closest_marker("serial") is not None) == (phase == "serial")]
        kept = set(keep)
        dropped = [item for item in items if item not in kept]
        if dropped:  # reported as deselected: the other phase of scripts/test.sh runs them
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    # a module any of whose tests uses a module-scoped fixture stays on one worker, all of it (its tests may
    # also share the module's state: tests/gateway/test_int_ranges.py counts what its property test did)
    grouped_modules = {_module_of(item) for item in items if _module_scoped_fixture(item)}
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("runtime_node") == "oci" or "oci_root" in item.fixturenames:
            # the oci runtime's tests share host-wide things: the CNI bridge kloci0 and its subnet (each
            # worker's IPAM would hand out the same addresses), fixed hostPorts, and host-wide counts of
            # netns/veths/iptables rules (tests/agent/runtimes.py leftovers()): one worker runs them all
            item.add_marker(pytest.mark.xdist_group("oci"))
        elif _module_of(item) in grouped_modules:
            item.add_marker(pytest.mark.xdist_group(_module_of(item)))


def _module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


# pytest 9 keeps a node's id in `_id`: pytest-xdist 3.8 cannot append its "@group" to it, so `--dist loadgroup`
# ignores the xdist_group marks above (each test was its own unit: a module's fixture was made once per worker,
# two `python -m build` ran at once in the checkout). This scheduler does the grouping from the test ids
# the workers report: a test file's tests share a worker (loadfile: a module-scoped fixture is made once),
# and every oci runtime test (an "[oci" parameter, or a file below) shares one, for the reasons above.
OCI_FILES = ("tests/agent/test_oci.py", "tests/agent/test_image_load.py", "tests/cli/test_up_oci.py")


def xdist_scope(nodeid: str) -> str:
    """The unit of work a test belongs to: "oci", or its file."""
    path = nodeid.split("::", 1)[0]
    if "[oci" in nodeid or "-oci]" in nodeid or "-oci-" in nodeid or path in OCI_FILES:
        return "oci"
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class FileAndOciScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return FileAndOciScheduling(config, log)


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
