"""Controller-manager benchmark: N sim nodes, one Deployment of M replicas.

Measures, in one run against a fresh embedded etcd:
  - raw etcd put rate (sequential, and 50 concurrent coroutines) from Python,
  - seconds from applying the Deployment until every pod is Running,
  - scheduler throughput (pods bound per second, first to last bind),
  - the controller-manager's CPU seconds and RSS.

Nodes are real agents with the sim runtime (``python -m agent --runtime sim
--sim-count N``, one process); the controller manager is ``python -m
controllers`` as its own process.

    .venv/bin/python bench/bench_controllers.py [--nodes 100] [--replicas 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubelite.api.apps import Deployment, DeploymentSpec  # noqa: E402
from kubelite.api.core import Container, LabelSelector, PodSpec, PodTemplateSpec, ResourceRequirements  # noqa: E402
from kubelite.api.meta import ObjectMeta  # noqa: E402
from kubelite.api.resources import DEPLOYMENTS, LEASES, NODES, PODS  # noqa: E402
from kubelite.client.bootstrap import ensure_system_namespaces  # noqa: E402
from kubelite.etcd.client import EtcdConfig, connect  # noqa: E402
from kubelite.etcd.server import EmbeddedEtcd  # noqa: E402
from kubelite.client.informer import FuncHandler, Informer  # noqa: E402
from kubelite.storage.store import Store  # noqa: E402
from procstat import cpu_seconds, memory_kib, put_rate, start_controller_manager, stop_processes, wait_until  # noqa: E402  (bench/ is the script's directory)



def web(replicas: int) -> Deployment:
    template = PodTemplateSpec(
        metadata=ObjectMeta(labels={"app": "bench"}),
        spec=PodSpec(containers=[Container(name="app", image="bench:1", resources=ResourceRequirements(
            requests={"cpu": "10m", "memory": "16Mi"}))], termination_grace_period_seconds=0),
    )
    return Deployment(metadata=ObjectMeta(name="bench", namespace="default"),
                      spec=DeploymentSpec(replicas=replicas, selector=LabelSelector(match_labels={"app": "bench"}),
                                          template=template))


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kubelite-bench-"))
    etcd = EmbeddedEtcd(data_dir=tmp / "etcd")
    await etcd.start()
    client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=10.0))
    store = Store(client)
    await ensure_system_namespaces(store)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        sequential = await put_rate(client, 2000, 1)
        concurrent = await put_rate(client, 5000, 50)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "KUBELITE_LOG_LEVEL": "WARNING"}
        agents = subprocess.Popen(
            [sys.executable, "-m", "agent", "--runtime", "sim", "--sim-count", str(args.nodes), "--node-prefix",
             "bench-", "--etcd-endpoints", etcd.endpoint, "--listen", "none", "--lease-ttl", "15",
             "--cpu", "8", "--memory", "32Gi", "--max-pods", "110", "--log-level", "WARNING"],
            cwd=REPO, env=env, stdout=open(tmp / "agents.log", "wb"), stderr=subprocess.STDOUT)
        procs.append(agents)

        async def nodes_ready() -> bool:
            nodes = (await store.list(NODES)).items
            leases = (await store.list(LEASES, "kube-node-lease")).items
            return sum(1 for n in nodes if n.is_ready()) >= args.nodes and len(leases) >= args.nodes

        await wait_until(nodes_ready, 120, f"{args.nodes} sim nodes", interval=0.2)
        manager = await start_controller_manager(store, etcd.endpoint, cwd=REPO, env=env,
                                                 log=tmp / "controllers.log", extra=args.controller_flags.split())
        procs.append(manager)
        cpu_before = cpu_seconds(manager.pid)

        created: dict[str, float] = {}
        bound: dict[str, float] = {}
        running: dict[str, float] = {}

        def seen(pod) -> None:  # noqa: ANN001
            now = time.monotonic()
            created.setdefault(pod.name, now)
            if pod.spec.node_name:
                bound.setdefault(pod.name, now)
            if pod.phase == "Running":
                running.setdefault(pod.name, now)

        informer = Informer(store, PODS, namespace="default")
        informer.add_handler(FuncHandler(add=seen, update=lambda _old, new: seen(new)))
        await informer.start()
        await informer.wait_synced(30)
        applied = time.monotonic()
        await store.create(DEPLOYMENTS, web(args.replicas))

        async def all_running() -> bool:
            live = [p for p in informer.list() if p.metadata.deletion_timestamp is None]
            return len(live) == args.replicas and all(p.phase == "Running" for p in live)

        await wait_until(all_running, args.timeout, f"{args.replicas} pods Running", interval=0.2)
        done = time.monotonic()
        cpu_used = cpu_seconds(manager.pid) - cpu_before
        rss, peak = memory_kib(manager.pid, "VmRSS"), memory_kib(manager.pid, "VmHWM")
        await informer.stop()
        first_created, last_bound = min(created.values()), max(bound.values())
        first_bound = min(bound.values())
        total = len((await store.list(PODS, "default")).items)
        print(f"kubelite controller benchmark: {args.nodes} sim nodes (agent --runtime sim), "
              f"1 Deployment x {args.replicas} replicas")
        print(f"  raw etcd put rate      : {sequential:8.0f} puts/s sequential, {concurrent:8.0f} puts/s 50 concurrent")
        print(f"  apply -> all Running   : {done - applied:8.2f} s")
        print(f"  first pod created after: {first_created - applied:8.2f} s")
        print(f"  scheduler throughput   : {len(bound) / max(last_bound - first_created, 1e-9):8.0f} pods/s "
              f"(first create -> last bind); {len(bound) / max(last_bound - first_bound, 1e-9):.0f} pods/s "
              f"(first -> last bind)")
        print(f"  pods created over      : {max(created.values()) - first_created:8.2f} s "
              f"(ReplicaSet controller: {len(created) / max(max(created.values()) - first_created, 1e-9):.0f} pods/s)")
        print(f"  controller CPU         : {cpu_used:8.2f} s  ({cpu_used / (done - applied) * 100:.0f}% of one core)")
        print(f"  controller RSS         : {rss / 1024:8.1f} MiB now, {peak / 1024:.1f} MiB peak")
        print(f"  pods in etcd at the end: {total} (expected exactly {args.replicas})")
    finally:
        stop_processes(procs)
        await client.close()
        await etcd.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--controller-flags", default="", help="extra flags for python -m controllers")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=600)
    asyncio.run(main(parser.parse_args()))
