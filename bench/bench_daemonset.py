"""DaemonSet benchmark: a DaemonSet rolled out and then updated on N sim nodes, next to a
Deployment of N replicas on the same nodes as the baseline, in one run.

Measures, against a fresh embedded etcd with real sim agents (``python -m agent --runtime sim
--sim-count N``, one process) and the controller manager as its own process:
  - baseline: seconds from creating an N-replica Deployment until every pod is Running, and of its
    rolling update to a new image with maxSurge 0 and the same maxUnavailable as the DaemonSet's,
  - the DaemonSet's first rollout: create → one Running pod on every node
    (``kubectl rollout status`` would say done),
  - its rolling update (new image; ``maxUnavailable`` from ``--max-unavailable``, kube's default 1):
    update → every node runs the new template and is available again,
  - the controller manager's CPU seconds over the whole run.

    .venv/bin/python bench/bench_daemonset.py [--nodes 100] [--max-unavailable 1]
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
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubelite.api.resources import DAEMONSETS, DEPLOYMENTS, LEASES, NODES, PODS  # noqa: E402
from kubelite.client.bootstrap import ensure_system_namespaces  # noqa: E402
from kubelite.etcd.client import EtcdConfig, connect  # noqa: E402
from kubelite.etcd.server import EmbeddedEtcd  # noqa: E402
from kubelite.storage.store import Store  # noqa: E402
from procstat import cpu_seconds, put_rate, start_controller_manager, stop_processes, wait_until  # noqa: E402  (bench/ is the script's directory)

TEMPLATE_SPEC = {"terminationGracePeriodSeconds": 0, "containers": [
    {"name": "app", "image": "bench:1", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}


def deployment(replicas: int, max_unavailable: int | str) -> Any:
    return DEPLOYMENTS.model.model_validate({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "baseline", "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "baseline"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": max_unavailable,
                                                                         "maxSurge": 0}},
                 "template": {"metadata": {"labels": {"app": "baseline"}}, "spec": TEMPLATE_SPEC}}})


def daemonset(max_unavailable: int | str) -> Any:
    return DAEMONSETS.model.model_validate({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "updateStrategy": {"type": "RollingUpdate",
                                    "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": 0}},
                 "template": {"metadata": {"labels": {"app": "agent"}}, "spec": TEMPLATE_SPEC}}})


def new_image(obj: Any) -> Any:
    doc = obj.to_dict()
    doc["spec"]["template"]["spec"]["containers"][0]["image"] = "bench:2"
    return type(obj).model_validate(doc)


async def running(store: Store, app: str, image: str | None = None) -> int:
    pods = (await store.list(PODS, "default")).items
    return sum(1 for p in pods if (p.metadata.labels or {}).get("app") == app and p.phase == "Running"
               and p.is_ready() and p.metadata.deletion_timestamp is None
               and (image is None or p.spec.containers[0].image == image))


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kubelite-bench-ds-"))
    etcd = EmbeddedEtcd(data_dir=tmp / "etcd")
    await etcd.start()
    client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=10.0))
    store = Store(client)
    await ensure_system_namespaces(store)
    procs: list[subprocess.Popen[bytes]] = []
    n = args.nodes
    try:
        sequential = await put_rate(client, 2000, 1)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "KUBELITE_LOG_LEVEL": "WARNING"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "agent", "--runtime", "sim", "--sim-count", str(n), "--node-prefix", "bench-",
             "--etcd-endpoints", etcd.endpoint, "--listen", "none", "--lease-ttl", "15", "--cpu", "8",
             "--memory", "32Gi", "--max-pods", "110", "--log-level", "WARNING"],
            cwd=REPO, env=env, stdout=open(tmp / "agents.log", "wb"), stderr=subprocess.STDOUT))

        async def nodes_ready() -> bool:
            nodes = (await store.list(NODES)).items
            leases = (await store.list(LEASES, "kube-node-lease")).items
            return sum(1 for node in nodes if node.is_ready()) >= n and len(leases) >= n

        await wait_until(nodes_ready, 120, f"{n} sim nodes", interval=0.2)
        manager = await start_controller_manager(store, etcd.endpoint, cwd=REPO, env=env,
                                                 log=tmp / "controllers.log")
        procs.append(manager)
        cpu_before = cpu_seconds(manager.pid)

        started = time.monotonic()
        await store.create(DEPLOYMENTS, deployment(n, args.max_unavailable))
        await wait_until(lambda: _at_least(running(store, "baseline"), n), args.timeout, "the Deployment", interval=0.2)
        baseline = time.monotonic() - started

        async def baseline_rolled() -> bool:
            pods = (await store.list(PODS, "default")).items
            mine = [p for p in pods if (p.metadata.labels or {}).get("app") == "baseline"]
            return len(mine) == n and all(p.spec.containers[0].image == "bench:2" and p.is_ready() for p in mine)

        started = time.monotonic()
        await store.guaranteed_update(DEPLOYMENTS, "baseline", "default", new_image)
        await wait_until(baseline_rolled, args.timeout, "the Deployment's rolling update", interval=0.2)
        baseline_update = time.monotonic() - started
        await store.delete(DEPLOYMENTS, "baseline", "default")

        async def baseline_gone() -> bool:
            pods = (await store.list(PODS, "default")).items
            return not any((p.metadata.labels or {}).get("app") == "baseline" for p in pods)
        await wait_until(baseline_gone, args.timeout, "the Deployment's pods to go", interval=0.2)

        started = time.monotonic()
        await store.create(DAEMONSETS, daemonset(args.max_unavailable))
        await wait_until(lambda: _at_least(running(store, "agent"), n), args.timeout, "the DaemonSet", interval=0.2)
        first_rollout = time.monotonic() - started

        async def rolled() -> bool:
            status = (await store.get(DAEMONSETS, "agent", "default")).to_dict().get("status") or {}
            return (await running(store, "agent", "bench:2") >= n and status.get("updatedNumberScheduled") == n
                    and status.get("numberAvailable") == n)

        started = time.monotonic()
        await store.guaranteed_update(DAEMONSETS, "agent", "default", new_image)
        await wait_until(rolled, args.timeout, "the DaemonSet's rolling update", interval=0.2)
        update = time.monotonic() - started
        cpu_used = cpu_seconds(manager.pid) - cpu_before
        total = len((await store.list(PODS, "default")).items)
        print(f"kubelite DaemonSet benchmark: {n} sim nodes (agent --runtime sim), maxUnavailable "
              f"{args.max_unavailable}")
        print(f"  raw etcd put rate          : {sequential:8.0f} puts/s sequential")
        print(f"  baseline: Deployment x {n:<4}: {baseline:8.2f} s create -> all Running")
        print(f"  baseline: its rolling update: {baseline_update:8.2f} s new image -> all updated and Ready "
              f"(maxSurge 0, same maxUnavailable)")
        print(f"  DaemonSet first rollout    : {first_rollout:8.2f} s create -> a Running pod on every node")
        print(f"  DaemonSet rolling update   : {update:8.2f} s new image -> every node updated and available")
        print(f"  controller CPU (whole run) : {cpu_used:8.2f} s")
        print(f"  pods in etcd at the end    : {total} (expected exactly {n})")
    finally:
        stop_processes(procs)
        await client.close()
        await etcd.stop()


async def _at_least(count: Any, wanted: int) -> bool:
    return bool(await count >= wanted)


def _budget(text: str) -> int | str:
    return text if text.endswith("%") else int(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--max-unavailable", type=_budget, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    asyncio.run(main(parser.parse_args()))
