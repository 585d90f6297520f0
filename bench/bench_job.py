"""Job benchmark: one Job of 500 completions, parallelism 50, on sim nodes (issue 14).

Measures, in one run against a fresh embedded etcd:
  - the raw pod create rate: ``Store.create`` of the same number of pods, 50 concurrent, no controller;
  - seconds from creating the Job until its ``Complete`` condition, and completed pods per second;
  - the controller-manager's CPU seconds.

Each pod's container exits 0 after ``--run-seconds`` (the sim runtime's ``SIM_EXIT_AFTER``), so the
floor is completions / parallelism x run seconds. Nodes are real agents with the sim runtime
(one ``python -m agent --runtime sim --sim-count N`` process); the controller manager is its own process.

    .venv/bin/python bench/bench_job.py [--completions 500] [--parallelism 50] [--nodes 10]
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

from kubelite.api.core import Pod  # noqa: E402
from kubelite.api.resources import JOBS, NODES, PODS  # noqa: E402
from kubelite.client.bootstrap import ensure_system_namespaces  # noqa: E402
from kubelite.etcd.client import EtcdConfig, connect  # noqa: E402
from kubelite.etcd.server import EmbeddedEtcd  # noqa: E402
from kubelite.storage.store import Store  # noqa: E402
from procstat import cpu_seconds, put_rate, start_controller_manager, stop_processes, wait_until  # noqa: E402  (bench/ is the script's directory)


def job_doc(completions: int, parallelism: int, run_seconds: float) -> dict[str, object]:
    env = [{"name": "SIM_EXIT_AFTER", "value": str(run_seconds)}, {"name": "SIM_EXIT_CODE", "value": "0"}]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bench", "namespace": "default"},
            "spec": {"completions": completions, "parallelism": parallelism, "template": {"spec": {
                "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "work", "image": "bench:1", "env": env}]}}}}


async def raw_pod_rate(store: Store, count: int, concurrency: int) -> float:
    """Pods per second that ``Store.create`` alone writes (unbound pods, no controller running)."""
    template = Pod.model_validate({"metadata": {"generateName": "raw-", "namespace": "default"},
                                   "spec": {"containers": [{"name": "c", "image": "bench:1"}]}})
    gate = asyncio.Semaphore(concurrency)
    names: list[str] = []

    async def one() -> None:
        async with gate:
            names.append((await store.create(PODS, template.deep_copy())).name)

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(count)))
    rate = count / (time.monotonic() - started)

    async def delete(name: str) -> None:
        async with gate:
            await store.delete(PODS, name, "default")

    await asyncio.gather(*(delete(n) for n in names))
    return rate


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kubelite-bench-job-"))
    etcd = EmbeddedEtcd(data_dir=tmp / "etcd")
    await etcd.start()
    client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=10.0))
    store = Store(client)
    await ensure_system_namespaces(store)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        sequential = await put_rate(client, 2000, 1)
        raw_pods = await raw_pod_rate(store, args.completions, args.parallelism)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "KUBELITE_LOG_LEVEL": "WARNING"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "agent", "--runtime", "sim", "--sim-count", str(args.nodes), "--node-prefix",
             "bench-", "--etcd-endpoints", etcd.endpoint, "--listen", "none", "--lease-ttl", "15",
             "--cpu", "8", "--memory", "32Gi", "--max-pods", "110", "--sim-start-delay", "0", "--log-level", "WARNING"],
            cwd=REPO, env=env, stdout=open(tmp / "agents.log", "wb"), stderr=subprocess.STDOUT))

        async def nodes_ready() -> bool:
            nodes = (await store.list(NODES)).items
            return sum(1 for n in nodes if n.is_ready()) >= args.nodes

        await wait_until(nodes_ready, 120, f"{args.nodes} sim nodes", interval=0.2)
        manager = await start_controller_manager(store, etcd.endpoint, cwd=REPO, env=env,
                                                 log=tmp / "controllers.log")
        procs.append(manager)
        cpu_before = cpu_seconds(manager.pid)
        started = time.monotonic()
        await store.create(JOBS, JOBS.model.model_validate(job_doc(args.completions, args.parallelism,
                                                                   args.run_seconds)))

        async def complete() -> bool:
            status = getattr(await store.get(JOBS, "bench", "default"), "status", None) or {}
            return any(c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or [])

        await wait_until(complete, args.timeout, "the Job to complete", interval=0.1)
        wall = time.monotonic() - started
        cpu_used = cpu_seconds(manager.pid) - cpu_before
        status = getattr(await store.get(JOBS, "bench", "default"), "status", None) or {}
        pods = [p for p in (await store.list(PODS, "default")).items if p.name.startswith("bench-")]
        floor = args.completions / args.parallelism * args.run_seconds
        print(f"kubelite Job benchmark: {args.completions} completions, parallelism {args.parallelism}, "
              f"{args.nodes} sim nodes, each pod runs {args.run_seconds:g} s")
        print(f"  raw etcd put rate      : {sequential:8.0f} puts/s sequential")
        print(f"  raw pod create rate    : {raw_pods:8.0f} pods/s (Store.create, {args.parallelism} concurrent)")
        print(f"  Job create -> Complete : {wall:8.2f} s (floor {floor:.1f} s: completions / parallelism x run time)")
        print(f"  Job throughput         : {args.completions / wall:8.1f} pods/s completed")
        print(f"  controller CPU         : {cpu_used:8.2f} s  ({cpu_used / wall * 100:.0f}% of one core)")
        print(f"  status                 : succeeded={status.get('succeeded')} failed={status.get('failed', 0)}; "
              f"{len(pods)} pods in etcd")
    finally:
        stop_processes(procs)
        await client.close()
        await etcd.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--completions", type=int, default=500)
    parser.add_argument("--parallelism", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--run-seconds", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=600)
    asyncio.run(main(parser.parse_args()))
