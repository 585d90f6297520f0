"""Scenario 6: restart the gateway under a running ``kubectl get pods -w``: the watch ends
cleanly (kubectl exits 0, no error); a watch resumed from the last resourceVersion kubectl
printed gets 410 Expired (the restarted gateway's watch cache starts at the restart, as a
restarted kube-apiserver's does), and the re-list it calls for has every pod created during
the restart; a new kubectl -w sees everything."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp

import pytest

from kubelite.api.resources import DEPLOYMENTS
from kubelite.etcd.server import free_port
from kubelite.testing import Api, Processes, Expect, report, wait_converged
from kubelite.testing import EtcdCluster
from tests.helpers import wait_for

# serial (scripts/test.sh's second phase, alone on the machine): the gateway restarted under a running kubectl watch; timing of the restart window
pytestmark = pytest.mark.serial

KUBECTL = "/usr/bin/kubectl"
LINE = '{.type} {.object.metadata.name} {.object.metadata.resourceVersion}{"\\n"}'


class KubectlWatch:
    """``kubectl get pods -w --output-watch-events`` with its lines collected as they come."""

    def __init__(self, server: str, home: Path) -> None:
        self.server, self.home = server, home
        self.lines: list[tuple[str, str, int]] = []  # (event type, pod, resourceVersion)
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        kubeconfig = self.home / "kubeconfig"
        kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
        self.proc = await asyncio.create_subprocess_exec(
            KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(self.home / "cache"), "--server", self.server,
            "get", "pods", "-w", "--output-watch-events", "-o", f"jsonpath={LINE}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            kind, name, rv = raw.decode().split()
            self.lines.append((kind, name, int(rv)))

    def names(self, kind: str = "ADDED") -> set[str]:
        return {name for k, name, _ in self.lines if k == kind}

    async def wait_exit(self, timeout: float) -> tuple[int, str]:
        assert self.proc is not None and self.proc.stderr is not None and self._reader is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._reader
        return code, (await self.proc.stderr.read()).decode()

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def _pod_names(api: Api) -> set[str]:
    status, doc = await api.call("GET", "/api/v1/namespaces/default/pods")
    assert status == 200, doc
    return {item["metadata"]["name"] for item in doc["items"]}


async def _first_event_from(url: str, resource_version: int, timeout: float) -> dict[str, object]:
    """The first event of a raw watch from ``resource_version``."""
    params = {"watch": "1", "resourceVersion": str(resource_version)}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        async with http.get(f"{url}/api/v1/namespaces/default/pods", params=params) as response:
            assert response.status == 200, await response.text()
            line = await response.content.readline()
            return json.loads(line)  # type: ignore[no-any-return]


async def test_gateway_restart_under_kubectl_watch_ends_cleanly_and_resumes(
    etcd_cluster: EtcdCluster, chaos: Processes, tmp_path: Path,
) -> None:
    _, nodes = chaos.start_sim_agents("sim", 2)
    chaos.start_manager("cm-1")
    port = free_port()
    chaos.start_gateway(port=port)
    await chaos.wait_ready(nodes)
    store = await chaos.connect_store()
    watchers: list[KubectlWatch] = []
    try:
        async with Api(chaos.gateway_url) as api:
            await api.until_ok(lambda: api.create_deployment("web", 2), what="create web")
            await wait_converged(chaos, {"web": Expect(2)}, 60)
            first = KubectlWatch(chaos.gateway_url, tmp_path)
            watchers.append(first)
            await first.start()
            await wait_for(lambda: len(first.names()) == 2, 30, message="kubectl lists the two pods")
            await api.until_ok(lambda: api.scale("web", 3), what="scale to 3")
            await wait_for(lambda: len(first.names()) == 3, 30, message="kubectl sees the third pod come")
            before = await _pod_names(api)

        stopped_at = time.monotonic()
        chaos.procs["gateway"].stop()
        code, stderr = await first.wait_exit(15)
        ended = time.monotonic() - stopped_at
        assert code == 0 and not stderr.strip(), f"kubectl -w did not end cleanly: exit {code}, {stderr!r}"
        last_rv = max(rv for _, _, rv in first.lines)

        # While the gateway is down, the cluster goes on: two more pods.
        def scale(d):  # noqa: ANN001, ANN202
            d.spec.replicas = 5
            return d
        await store.guaranteed_update(DEPLOYMENTS, "web", "default", scale)
        await wait_converged(chaos, {"web": Expect(5)}, 60)

        chaos.procs["gateway"].start()
        await chaos.wait_ready(nodes)
        back = time.monotonic() - stopped_at
        async with Api(chaos.gateway_url) as api:
            during = await _pod_names(api) - before
            assert len(during) == 2
            resumed = await _first_event_from(chaos.gateway_url, last_rv, 20)
            assert resumed["type"] == "ERROR" and resumed["object"]["code"] == 410, resumed  # type: ignore[index]
            assert during <= await _pod_names(api), "the re-list misses the restart's pods"

            second = KubectlWatch(chaos.gateway_url, tmp_path)
            watchers.append(second)
            await second.start()
            await wait_for(lambda: len(second.names()) == 5, 30, message="a new kubectl -w lists all five")
            await api.until_ok(lambda: api.scale("web", 6), what="scale to 6")
            await wait_for(lambda: len(second.names()) == 6, 30, message="the new kubectl -w sees the sixth")
            await wait_converged(chaos, {"web": Expect(6)}, 60)
        report("6 gateway restarted (SIGTERM) under kubectl get pods -w", watch_ended=ended,
               restart_total=back, relisted_pods=len(during))
    finally:
        for watcher in watchers:
            await watcher.close()
    chaos.check_alive()
