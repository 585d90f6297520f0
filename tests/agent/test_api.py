"""The agent API: bearer token required, health, metrics, and container logs (follow, tail, timestamps)."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from kubelite.api.core import Container, Pod, PodSpec
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import PODS
from kubelite.store import Store
from tests.agent.conftest import TOKEN, StartAgent
from tests.agent.runtimes import RuntimeNode
from tests.helpers import wait_for

AUTH = {"Authorization": f"Bearer {TOKEN}"}
COUNTER = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"


async def test_every_endpoint_needs_the_token(store: Store, start_agent: StartAgent, node_name: str) -> None:
    agent = await start_agent(node_name)
    base = agent.api.endpoint
    async with aiohttp.ClientSession() as http:
        for path in ("/healthz", "/metrics", "/pods/default/x/log"):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                async with http.get(base + path, headers=headers) as response:
                    assert response.status == 401, (path, headers)
                    body = await response.json()
                    assert body["kind"] == "Status" and body["reason"] == "Unauthorized"
        async with http.get(base + "/healthz", headers=AUTH) as response:
            assert response.status == 200 and (await response.text()).strip() == "ok"
        async with http.get(base + "/pods/default/nosuch/log", headers=AUTH) as response:
            assert response.status == 404


async def test_metrics_count_pods_and_starts(store: Store, start_agent: StartAgent, node_name: str) -> None:
    agent = await start_agent(node_name)
    await store.create(PODS, Pod(metadata=ObjectMeta(name="m", namespace="default"),
                                 spec=PodSpec(containers=[Container(name="c", image="img")], node_name=node_name)))

    async def metrics() -> str:
        async with aiohttp.ClientSession() as http:
            async with http.get(agent.api.endpoint + "/metrics", headers=AUTH) as response:
                text = await response.text()
        return text if "kubelite_agent_pods_running 1.0" in text else ""

    text = await wait_for(metrics, 10, message="pods_running 1")
    assert "kubelite_agent_container_starts_total 1.0" in text
    assert "kubelite_agent_pod_sync_duration_seconds_count" in text


@pytest.mark.docker
async def test_logs_follow_tail_timestamps(store: Store, start_agent: StartAgent, runtime_node: RuntimeNode) -> None:
    node = runtime_node.node
    agent = await start_agent(node, runtime=runtime_node.make())
    containers = [Container(name="counter", image="kubelite/demo:latest", command=["sh", "-c", COUNTER]),
                  Container(name="idle", image="kubelite/demo:latest", command=["sleep", "3600"])]
    await store.create(PODS, Pod(metadata=ObjectMeta(name="talk", namespace="default"),
                                 spec=PodSpec(containers=containers, node_name=node,
                                              termination_grace_period_seconds=1)))

    async def running() -> bool:
        return (await store.get(PODS, "talk", "default")).phase == "Running"

    await wait_for(running, 30, message="running")
    url = agent.api.endpoint + "/pods/default/talk/log"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=AUTH) as response:
            assert response.status == 400 and "choose one of: [counter idle]" in (await response.json())["message"]
        # follow: lines keep arriving on one open response
        async with http.get(url, params={"container": "counter", "follow": "true"}, headers=AUTH) as response:
            assert response.status == 200
            seen = ""
            async with asyncio.timeout(15):
                while "line 6\n" not in seen:
                    seen += (await response.content.readline()).decode()
            assert seen.startswith("line 0\n")
        async with http.get(url, params={"container": "counter", "tailLines": "2"}, headers=AUTH) as response:
            lines = (await response.text()).splitlines()
            assert len(lines) == 2 and all(line.startswith("line ") for line in lines)
        params = {"container": "counter", "tailLines": "1", "timestamps": "true"}
        async with http.get(url, params=params, headers=AUTH) as response:
            line = (await response.text()).strip()
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line \d+$", line), line
