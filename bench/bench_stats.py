"""What collecting usage costs an agent: the StatsCollector against N running Docker containers.

Starts N busybox containers (``kubelite/demo:latest``, ``sleep``) labelled as one node's, runs the
agent's sampler (agent/stats.py: one one-shot stats call per container, 4 at once, plus /proc) for
``--rounds`` rounds, and prints this process's CPU seconds per round and per container-sample,
wall time per round, and what that is at the default 10 s interval. Removes its containers.

    .venv/bin/python bench/bench_stats.py --containers 50 --rounds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker

from agent.runtime.base import LABEL_CONTAINER, LABEL_NODE
from agent.runtime.docker import DockerRuntime
from agent.stats import StatsCollector
from bench.procstat import cpu_seconds


def start_containers(client: docker.DockerClient, node: str, count: int) -> list[str]:
    def one(i: int) -> str:
        container = client.containers.run("kubelite/demo:latest", ["sleep", "3600"], detach=True, init=True,
                                          labels={LABEL_NODE: node, LABEL_CONTAINER: f"c{i}"},
                                          name=f"bench-stats-{node}-{i}")
        return str(container.id)
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


async def measure(node: str, rounds: int) -> None:
    runtime = DockerRuntime(node=node)
    await runtime.start()
    collector = StatsCollector(node=node, runtime=runtime, pods=lambda _key: None, host_usage=True)
    try:
        await collector.sample_once()  # warm up: connections, first samples
        cpu0, wall0 = cpu_seconds(os.getpid()), time.perf_counter()
        for _ in range(rounds):
            await collector.sample_once()
        cpu, wall = cpu_seconds(os.getpid()) - cpu0, time.perf_counter() - wall0
        measured = len(collector.container_rates())
        print(f"containers with a rate: {measured}")
        print(f"per round: {cpu / rounds * 1000:.1f} ms CPU, {wall / rounds * 1000:.1f} ms wall "
              f"({cpu / rounds / max(measured, 1) * 1000:.2f} ms CPU per container sample)")
        print(f"at the 10 s interval: {cpu / rounds / 10 * 100:.2f} % of one core")
    finally:
        await runtime.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    client = docker.from_env(timeout=120)
    node = f"bench{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    ids: list[str] = []
    try:
        ids = start_containers(client, node, args.containers)
        print(f"{len(ids)} containers started in {time.perf_counter() - started:.1f} s")
        asyncio.run(measure(node, args.rounds))
    finally:
        for container_id in ids:
            try:
                client.containers.get(container_id).remove(force=True)
            except docker.errors.NotFound:
                pass


if __name__ == "__main__":
    main()
