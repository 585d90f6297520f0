"""Agent benchmark: pod bound → Running latency on one docker agent, next to raw `docker run -d`,
and the CPU/RSS of an idle agent with 20 pods.

    .venv/bin/python bench/bench_agent.py [--pods 50] [--idle-pods 20] [--idle-seconds 30]

Starts an embedded etcd and one agent process (`python -m agent --runtime docker`), creates
N pods already bound to its node at once (as the scheduler would bind them), and takes each
pod's latency from its creation to the watch event that first reports phase Running. In the
same run it times `docker run -d` of N containers of the same image, one at a time and 8 in
parallel, and prints issue 12's target 8: the p99 against the 8-parallel total (≤ 1.5). Then it runs 20 pods and samples the idle agent's CPU time and RSS from /proc.
Everything it creates is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubelite.node.evictionflags import LOCAL_EVICTION_HARD  # noqa: E402
from kubelite.api.core import Container, Pod, PodSpec  # noqa: E402
from kubelite.api.meta import ObjectMeta  # noqa: E402
from kubelite.api.resources import NODES, PODS  # noqa: E402
from kubelite.client.bootstrap import ensure_system_namespaces  # noqa: E402
from kubelite.etcd.client import EtcdConfig, connect  # noqa: E402
from kubelite.etcd.server import EmbeddedEtcd  # noqa: E402
from kubelite.storage.store import Store  # noqa: E402
from kubelite.storage.watch import watch  # noqa: E402

IMAGE = "kubelite/demo:latest"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def raw_docker_run(count: int, parallel: int, label: str) -> float:
    """Seconds to `docker run -d` ``count`` containers, ``parallel`` at a time."""
    started = time.monotonic()
    pending = list(range(count))
    running: list[subprocess.Popen[bytes]] = []
    while pending or running:
        while pending and len(running) < parallel:
            pending.pop()
            running.append(subprocess.Popen(
                ["docker", "run", "-d", "--init", "--label", label, IMAGE, "sleep", "3600"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        running[0].wait()
        running.pop(0)
    elapsed = time.monotonic() - started
    ids = docker("ps", "-aq", "--filter", f"label={label}").split()
    if ids:
        docker("rm", "-f", *ids)
    return elapsed


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def proc_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def make_pod(name: str, node: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace="default"),
               spec=PodSpec(containers=[Container(name="app", image=IMAGE, command=["sleep", "3600"],
                                                  image_pull_policy="IfNotPresent")],
                             node_name=node, termination_grace_period_seconds=2))


async def run_pods(store: Store, node: str, prefix: str, count: int, timeout: float = 300) -> list[float]:
    """Create ``count`` bound pods at once; seconds from each creation to Running reported."""
    start_rev = int((await store.list(PODS, "default", limit=1)).resource_version)
    created: dict[str, float] = {}
    running: dict[str, float] = {}

    async def follow() -> None:
        async for event in watch(store.client, PODS, "default", from_revision=start_rev + 1):
            name = event.object.name
            if name.startswith(prefix) and name not in running and event.object.phase == "Running":
                running[name] = time.monotonic()
                if len(running) == count:
                    return

    watcher = asyncio.create_task(follow())
    await asyncio.sleep(0.2)  # the watch is established
    for i in range(count):
        name = f"{prefix}{i}"
        created[name] = time.monotonic()
        await store.create(PODS, make_pod(name, node))
    await asyncio.wait_for(watcher, timeout)
    return [running[name] - created[name] for name in created]


async def delete_all(store: Store, prefix: str) -> None:
    pods = await store.list(PODS, "default")
    for pod in pods.items:
        if pod.name.startswith(prefix):
            await store.delete(PODS, pod.name, "default", grace_period_seconds=1)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        left = [p for p in (await store.list(PODS, "default")).items if p.name.startswith(prefix)]
        if not left:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"pods {prefix}* not deleted by the agent")


async def main(args: argparse.Namespace) -> None:
    subprocess.run(["bash", str(REPO / "deploy/images/build.sh"), "demo"], check=True, capture_output=True)
    node = f"bench-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        etcd = EmbeddedEtcd(data_dir=Path(tmp) / "etcd")
        await etcd.start()
        client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=5.0))
        store = Store(client)
        await ensure_system_namespaces(store)
        token = Path(tmp) / "token"
        token.write_text(uuid.uuid4().hex)
        log = open(Path(tmp) / "agent.log", "w")
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent", "--node", node, "--runtime", "docker", "--etcd-endpoints", etcd.endpoint,
             "--listen", "127.0.0.1:0", "--agent-token-file", str(token), "--drain-on-exit",
             "--eviction-hard", LOCAL_EVICTION_HARD],
            cwd=REPO, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await store.get(NODES, node)).is_ready():
                        break
                except Exception:
                    pass
                if time.monotonic() > deadline or agent.poll() is not None:
                    raise RuntimeError(f"agent did not register; see {log.name}")
                await asyncio.sleep(0.2)

            latencies = await run_pods(store, node, "lat-", args.pods)
            await delete_all(store, "lat-")
            raw_serial = raw_docker_run(args.pods, 1, f"kubelite.bench={node}")
            raw_parallel = raw_docker_run(args.pods, 8, f"kubelite.bench={node}")

            await run_pods(store, node, "idle-", args.idle_pods)
            await asyncio.sleep(5)  # let the start-up burst settle
            cpu_before, wall_before = proc_cpu_seconds(agent.pid), time.monotonic()
            rss_samples = []
            while time.monotonic() - wall_before < args.idle_seconds:
                rss_samples.append(proc_rss_mib(agent.pid))
                await asyncio.sleep(1)
            cpu_percent = 100 * (proc_cpu_seconds(agent.pid) - cpu_before) / (time.monotonic() - wall_before)
            await delete_all(store, "idle-")

            n = args.pods
            print(f"\nkubelite agent benchmark ({os.cpu_count()} cores, docker {docker('version', '-f', '{{.Server.Version}}')})")
            print(f"pod bound -> Running reported, {n} pods created at once on one docker agent:")
            print(f"  p50 {percentile(latencies, 50):.2f} s   p99 {percentile(latencies, 99):.2f} s   "
                  f"max {max(latencies):.2f} s   mean {statistics.mean(latencies):.2f} s")
            print(f"  all {n} Running after {max(latencies):.2f} s")
            print(f"raw `docker run -d` of {n} containers, same run:")
            print(f"  one at a time: {raw_serial:.2f} s total ({raw_serial / n * 1000:.0f} ms each)")
            print(f"  8 in parallel: {raw_parallel:.2f} s total")
            print(f"issue 12 target 8: p99 / 8-parallel raw = {percentile(latencies, 99) / raw_parallel:.2f} "
                  f"(target <= 1.5; each pod is two containers, a sandbox and the app)")
            print(f"idle agent with {args.idle_pods} running pods, over {args.idle_seconds:.0f} s:")
            print(f"  CPU {cpu_percent:.2f} % of one core   RSS {statistics.mean(rss_samples):.1f} MiB "
                  f"(max {max(rss_samples):.1f} MiB)")
        finally:
            agent.terminate()
            try:
                agent.wait(60)
            except subprocess.TimeoutExpired:
                agent.kill()
            log.close()
            leftovers = docker("ps", "-aq", "--filter", f"label=kubelite.node={node}").split()
            leftovers += docker("ps", "-aq", "--filter", f"label=kubelite.bench={node}").split()
            if leftovers:
                docker("rm", "-f", *leftovers)
            await client.close()
            await etcd.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--idle-pods", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    asyncio.run(main(parser.parse_args()))
