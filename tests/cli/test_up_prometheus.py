"""`kl up --prometheus` and a real Prometheus (Debian's 2.42) scraping every process of the cluster.

Checks through Prometheus' HTTP API that every target it was given is up and that the series operators
look for exist: kube-apiserver's request metrics, client-go's workqueue metrics, the scheduler's, pods by
phase per node, the agents' and etcd's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from kubelite.etcd.server import free_port
from tests.cli.cluster import KlUp
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(240)
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "kubelite-dashboard.json"

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "web", "image": "kubelite/demo:latest"}]}}}}
SERIES = ("apiserver_request_total", "apiserver_request_duration_seconds_bucket", "workqueue_adds_total",
          "workqueue_depth", "workqueue_queue_duration_seconds_bucket", "scheduler_schedule_attempts_total",
          'kubelite_pods{phase="Running"}', "kubelite_agent_pods", "etcd_server_has_leader",
          "kubelite_gateway_requests_total",
          # the sim nodes share one agent process: its etcd client reports on the first node's endpoint
          'etcd_request_duration_seconds_count{job="kubelite-agent-node-1"}')


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KlUp]:
    up = KlUp(tmp_path / "kl", ["--runtime", "sim", "--nodes", "2", "--prometheus"])
    up.start()
    try:
        yield up
    finally:
        up.stop()
        up.kill_leftovers()


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:  # like the Docker fixtures: a missing tool fails, it does not hide the test
        pytest.fail("prometheus is not installed (scripts/setup.sh installs Debian's package)", pytrace=False)
    return found


async def query(http: aiohttp.ClientSession, expression: str) -> list[dict[str, Any]]:
    async with http.get("/api/v1/query", params={"query": expression}) as r:
        doc = await r.json()
    assert doc["status"] == "success", doc
    return list(doc["data"]["result"])


async def test_prometheus_scrapes_every_process(cluster: KlUp, prometheus_binary: str, tmp_path: Path) -> None:
    await cluster.wait_up()
    config_path = cluster.data_dir / "prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {"kubelite-etcd", "kubelite-gateway", "kubelite-controller-manager", "kubelite-agent-node-1",
                    "kubelite-agent-node-2"}
    async with aiohttp.ClientSession(base_url=cluster.server) as api:
        async with api.post("/apis/apps/v1/namespaces/default/deployments", json=DEPLOYMENT) as r:
            assert r.status == 201, await r.text()

    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([prometheus_binary, f"--config.file={config_path}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            async def all_up() -> list[dict[str, Any]] | None:
                async with http.get("/api/v1/targets") as r:
                    targets = (await r.json())["data"]["activeTargets"]
                healthy = [t for t in targets if t["health"] == "up"]
                return targets if len(targets) == len(jobs) and len(healthy) == len(targets) else None

            targets = await wait_for(all_up, 90, interval=1.0, ignore=(aiohttp.ClientError,),
                                     message="every target up in Prometheus")
            assert {t["labels"]["job"] for t in targets} == jobs

            async def every_series() -> bool:
                return all([await query(http, s) for s in SERIES])

            try:
                await wait_for(every_series, 60, interval=2.0, message="the key series in Prometheus")
            except AssertionError:
                missing = [s for s in SERIES if not await query(http, s)]
                raise AssertionError(f"series missing from Prometheus: {missing}") from None
            # every panel of the Grafana dashboard evaluates, and all but the error and watch panels have data
            dashboard = json.loads(DASHBOARD.read_text())
            exprs = {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard["panels"]}

            async def panels_with_data() -> list[str] | None:
                empty = [title for title, found in exprs.items() for e in found
                         if not await query(http, e) and "error" not in title and "watches" not in title]
                return None if empty else list(exprs)

            try:
                await wait_for(panels_with_data, 60, interval=2.0, message="data in every dashboard panel")
            except AssertionError:
                empty = [t for t, found in exprs.items() for e in found if not await query(http, e)]
                raise AssertionError(f"dashboard panels without data: {empty}") from None
            nodes = {r["metric"].get("node") for r in await query(http, 'kubelite_pods{phase="Running"}')}
            assert nodes <= {"node-1", "node-2"} and nodes, nodes
            per_verb = {r["metric"]["verb"] for r in await query(http, "apiserver_request_total")}
            assert {"POST", "GET"} <= per_verb, per_verb
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
