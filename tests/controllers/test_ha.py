"""High availability: three controller-managers as processes with sim agents; SIGKILL the
leader mid-rollout; a deposed leader's writes are refused by the fence."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubelite.api.resources import DEPLOYMENTS, LEASES, PODS
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.storage.store import NotLeader, Store

from tests.controllers.conftest import MakeManager
from tests.controllers.objects import bare_pod, deployment, pods, running_ready
from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[2]
ELECTION = ("kubelite-controller-manager", "kube-system")


class Processes:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


def manager_args(etcd: EmbeddedEtcd, identity: str) -> list[str]:
    return ["-m", "controllers", "--etcd-endpoints", etcd.endpoint, "--id", identity, "--listen", "127.0.0.1:0",
            "--lease-ttl", "3", "--toleration-seconds", "2", "--node-monitor-grace-period", "0.5"]


async def holder(store: Store) -> str | None:
    try:
        return (await store.get(LEASES, *ELECTION)).spec.holder_identity
    except Exception:  # noqa: BLE001 - absent while nobody leads
        return None


@pytest.fixture
async def cluster(etcd: EmbeddedEtcd, store: Store, processes: Processes) -> AsyncIterator[Processes]:
    processes.spawn("agents", ["-m", "agent", "--runtime", "sim", "--sim-count", "3", "--node-prefix", "sim-",
                               "--etcd-endpoints", etcd.endpoint, "--listen", "none", "--lease-ttl", "3",
                               ])
    for i in range(3):
        processes.spawn(f"cm-{i}", manager_args(etcd, f"cm-{i}"))
    yield processes


async def test_leader_killed_mid_rollout_another_takes_over_and_finishes_exactly(
    store: Store, cluster: Processes,
) -> None:
    first = await wait_for(lambda: holder(store), 30)
    web = deployment("web", 6, max_surge=1, max_unavailable=0, grace=0)
    web.spec.min_ready_seconds = 1  # each step of the rollout takes a second: time to kill mid-way
    await store.create(DEPLOYMENTS, web)
    await wait_for(lambda: _complete(store, "demo:1"), 60)

    def new_image(d):  # noqa: ANN001, ANN202
        d.spec.template.spec.containers[0].image = "demo:2"
        return d

    await store.guaranteed_update(DEPLOYMENTS, "web", "default", new_image)
    await wait_for(lambda: _some_new_pod(store), 20, interval=0.02)
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    cluster.kill(first)
    assert not await _complete(store, "demo:2"), "killed mid-rollout"

    async def new_leader() -> str | None:
        current = await holder(store)
        return current if current not in (None, first) else None

    successor = await wait_for(new_leader, 15, interval=0.05)
    assert loop.time() - killed_at < 3 + 3, "a standby takes over within the lease TTL (+ campaign slack)"
    assert successor != first
    await wait_for(lambda: _complete(store, "demo:2"), 60)
    everything = (await store.list(PODS, "default")).items
    assert len(everything) == 6, [p.name for p in everything]  # exactly right: no duplicates, nothing left over


async def _some_new_pod(store: Store) -> bool:
    return any(p.spec.containers[0].image == "demo:2" for p in await pods(store, "web"))


async def _complete(store: Store, image: str) -> bool:
    d = await store.get(DEPLOYMENTS, "web", "default")
    s = d.status
    ready = await running_ready(store, "web")
    every = (await store.list(PODS, "default")).items
    return bool(s and s.observed_generation == d.metadata.generation and s.updated_replicas == 6
                and s.available_replicas == 6 and s.replicas == 6 and len(ready) == 6 and len(every) == 6
                and all(p.spec.containers[0].image == image for p in every))


async def test_deposed_leader_write_is_rejected_and_it_steps_down(
    store: Store, make_manager: MakeManager,
) -> None:
    a = await make_manager("cm-a")
    b = await make_manager("cm-b", wait_leading=False)
    assert a.is_leader and not b.is_leader
    assert a.election is not None and a.election.fence is not None and a.election.session is not None
    stale_fence = a.election.fence
    # A is partitioned away: its lease is gone (revoked here) and B takes over.
    await store.client.revoke_lease(a.election.session.lease_id)
    await asyncio.wait_for(b.wait_leading(), 15)
    with pytest.raises(NotLeader):
        await store.create(PODS, bare_pod("from-the-past"), fence=stale_fence)
    assert "from-the-past" not in {p.name for p in (await store.list(PODS, "default")).items}
    # A noticed (is_leader drops at once) and then stops its loops, one controller after another
    await wait_for(lambda: not a.is_leader and all(c.queue is None for c in a.controllers), 10)


async def test_status_endpoints_report_leadership_and_metrics(make_manager: MakeManager) -> None:
    import aiohttp
    leader = await make_manager("cm-a")
    follower = await make_manager("cm-b", wait_leading=False)
    async with aiohttp.ClientSession() as http:
        for manager, leads in ((leader, True), (follower, False)):
            assert manager.server is not None
            async with http.get(f"{manager.server.url}/readyz") as response:
                doc = await response.json()
                assert response.status == 200
                assert doc["leader"] is leads and doc["holder"] == "cm-a"
            async with http.get(f"{manager.server.url}/healthz") as response:
                assert response.status == 200
        async with http.get(f"{leader.server.url}/metrics") as response:  # type: ignore[union-attr]
            text = await response.text()
    assert "scheduler_schedule_attempts_total" in text and "leader_election_master_status 1.0" in text
