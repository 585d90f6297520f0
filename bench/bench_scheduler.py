"""Scheduler alone (issue 12, target 3): pods bound per second with 1,000 nodes, no agents.

In one run against a fresh embedded etcd:
  - the baseline: raw etcd put rate from Python (sequential, and 50 concurrent coroutines) —
    a bind is a write, so this is the ceiling the scheduler works under on this machine;
  - N Ready Node objects and their heartbeat Leases written straight to etcd (the scheduler's
    ``node_ready`` predicate wants the Ready condition and a lease; nothing renews the leases,
    and the node lifecycle controller is not running, so nothing marks them stale);
  - M unscheduled pods pre-created (10m CPU, 16Mi each);
  - then ``python -m controllers --controllers scheduler`` as its own process, and the
    seconds from its start, from leading, and from the first bind to the last bind.

Prints pods bound per second (target ≥ 700), the baseline, the ratio, and the scheduler
process's CPU (since its start, and from the first to the last bind: CPU per pod) and RSS.
``--profile FILE`` runs the controller manager under cProfile (slower; the figure then is not
the one to quote) and prints its top frames by own time.

    .venv/bin/python bench/bench_scheduler.py [--nodes 1000] [--pods 1000] [--scheduler-workers N] [--profile /tmp/sched.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubelite.api.coordination import Lease, LeaseSpec  # noqa: E402
from kubelite.api.core import (  # noqa: E402
    Container,
    Node,
    NodeCondition,
    NodeStatus,
    Pod,
    PodSpec,
    ResourceRequirements,
)
from kubelite.api.meta import ObjectMeta  # noqa: E402
from kubelite.api.resources import LEASES, NODES, PODS  # noqa: E402
from kubelite.client.bootstrap import ensure_system_namespaces  # noqa: E402
from kubelite.etcd.client import EtcdConfig, connect  # noqa: E402
from kubelite.etcd.server import EmbeddedEtcd, free_port  # noqa: E402
from kubelite.client.informer import FuncHandler, Informer  # noqa: E402
from kubelite.storage.store import Store  # noqa: E402
from procstat import cpu_seconds, memory_kib, put_rate, wait_until  # noqa: E402  (bench/ is the script's directory)

TARGET = 700.0  # pods/s, issue 12 target 3


async def create_all(store: Store, resource, objects: list, concurrency: int = 50) -> None:  # noqa: ANN001
    async def worker(w: int) -> None:
        for obj in objects[w::concurrency]:
            await store.create(resource, obj)
    await asyncio.gather(*(worker(w) for w in range(concurrency)))


def ready_node(name: str) -> Node:
    resources = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    now = datetime.now(timezone.utc)
    return Node(metadata=ObjectMeta(name=name), status=NodeStatus(
        capacity=dict(resources), allocatable=dict(resources), phase="Running",
        conditions=[NodeCondition(type="Ready", status="True", reason="KubeletReady",
                                  last_heartbeat_time=now, last_transition_time=now)]))


def node_lease(name: str) -> Lease:
    return Lease(metadata=ObjectMeta(name=name, namespace="kube-node-lease"),
                 spec=LeaseSpec(holder_identity=name, lease_duration_seconds=3600,
                                renew_time=datetime.now(timezone.utc)))


def pending_pod(i: int) -> Pod:
    return Pod(metadata=ObjectMeta(name=f"bench-{i:05d}", namespace="default", labels={"app": "bench"}),
               spec=PodSpec(containers=[Container(name="app", image="bench:1", resources=ResourceRequirements(
                   requests={"cpu": "10m", "memory": "16Mi"}))], termination_grace_period_seconds=0))


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kubelite-bench-sched-"))
    etcd = EmbeddedEtcd(data_dir=tmp / "etcd")
    await etcd.start()
    client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=10.0))
    store = Store(client)
    await ensure_system_namespaces(store)
    manager: subprocess.Popen[bytes] | None = None
    informer: Informer | None = None
    try:
        sequential = await put_rate(client, 2000, 1)
        concurrent = await put_rate(client, 5000, 50)
        names = [f"bench-{i:04d}" for i in range(args.nodes)]
        setup_from = time.monotonic()
        await create_all(store, NODES, [ready_node(n) for n in names])
        await create_all(store, LEASES, [node_lease(n) for n in names])
        await create_all(store, PODS, [pending_pod(i) for i in range(args.pods)])
        setup = time.monotonic() - setup_from

        bound: dict[str, float] = {}

        cpu_at_first_bind: list[float] = []  # the scheduler's CPU when this informer saw the first bind

        def seen(pod) -> None:  # noqa: ANN001
            if pod.spec.node_name:
                if not bound and manager is not None:
                    cpu_at_first_bind.append(cpu_seconds(manager.pid))
                bound.setdefault(pod.name, time.monotonic())

        informer = Informer(store, PODS, namespace="default")
        informer.add_handler(FuncHandler(add=seen, update=lambda _old, new: seen(new)))
        await informer.start()
        await informer.wait_synced(30)
        if bound:
            raise SystemExit(f"{len(bound)} pods were bound before the scheduler started")

        env = {**os.environ, "PYTHONUNBUFFERED": "1", "KUBELITE_LOG_LEVEL": "WARNING"}
        prefix = [sys.executable] + (["-m", "cProfile", "-o", args.profile] if args.profile else [])
        started = time.monotonic()
        manager = subprocess.Popen(
            prefix + ["-m", "controllers", "--etcd-endpoints", etcd.endpoint, "--id", "bench",
                      "--controllers", "scheduler", "--listen", f"127.0.0.1:{free_port()}",
                      "--log-level", "WARNING",
                      *(["--scheduler-workers", str(args.scheduler_workers)] if args.scheduler_workers else [])],
            cwd=REPO, env=env, stdout=open(tmp / "controllers.log", "wb"), stderr=subprocess.STDOUT)

        async def leading() -> bool:
            try:
                return (await store.get(LEASES, "kubelite-controller-manager", "kube-system")) is not None
            except Exception:  # noqa: BLE001
                return False

        await wait_until(leading, 60, "the controller manager to lead")
        led = time.monotonic()

        async def all_bound() -> bool:
            if manager.poll() is not None:
                raise SystemExit(f"the controller manager exited with {manager.returncode}; see {tmp}/controllers.log")
            return len(bound) >= args.pods

        await wait_until(all_bound, args.timeout, f"{args.pods} pods bound")
        cpu_used = cpu_seconds(manager.pid)
        rss, peak = memory_kib(manager.pid, "VmRSS"), memory_kib(manager.pid, "VmHWM")
        first, last = min(bound.values()), max(bound.values())
        per_node: dict[str, int] = {}
        for pod in informer.list():
            per_node[pod.spec.node_name] = per_node.get(pod.spec.node_name, 0) + 1
        rate = args.pods / max(last - first, 1e-9)
        print(f"kubelite scheduler benchmark: {args.nodes} Ready nodes (no agents), {args.pods} pods pre-created"
              + ("  [under cProfile: not the figure to quote]" if args.profile else ""))
        print(f"  raw etcd put rate (baseline) : {sequential:7.0f} puts/s sequential, {concurrent:7.0f} puts/s "
              f"50 concurrent")
        print(f"  setup (nodes, leases, pods)  : {setup:7.1f} s")
        print(f"  process start -> leading     : {led - started:7.2f} s")
        print(f"  leading -> first bind        : {first - led:7.2f} s (informer sync of {args.nodes} nodes, "
              f"leases, {args.pods} pods)")
        print(f"  first -> last bind           : {last - first:7.2f} s")
        print(f"  pods bound per second        : {rate:7.0f} /s first -> last bind "
              f"(target >= {TARGET:.0f}; ratio to target {rate / TARGET:.2f}; "
              f"ratio to raw sequential puts {rate / sequential:.2f})")
        print(f"  pods bound per second        : {args.pods / (last - led):7.0f} /s leading -> last bind, "
              f"{args.pods / (last - started):.0f} /s process start -> last bind")
        print(f"  scheduler process            : {cpu_used:7.2f} s CPU since start, {rss / 1024:.1f} MiB RSS "
              f"({peak / 1024:.1f} MiB peak)")
        if cpu_at_first_bind:
            binding_cpu = cpu_used - cpu_at_first_bind[0]
            print(f"  scheduler CPU while binding  : {binding_cpu:7.2f} s first -> last bind "
                  f"({1000 * binding_cpu / args.pods:.2f} ms per pod; steadier than rates on a loaded machine)")
        print(f"  spread                       : {len(per_node)} nodes used, {max(per_node.values())} pods at most "
              f"on one")
    finally:
        if informer is not None:
            await informer.stop()
        if manager is not None:
            manager.terminate()
            try:
                manager.wait(30)
            except subprocess.TimeoutExpired:
                manager.kill()
                manager.wait()
        await client.close()
        await etcd.stop()
    if args.profile and Path(args.profile).exists():
        print(f"\n  top frames by own time (cProfile, {args.profile}):")
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--scheduler-workers", type=int, default=None,
                        help="binding cycles in flight (the controller manager's flag; its default if unset)")
    parser.add_argument("--profile", default=None, help="run the controller manager under cProfile, dump here")
    parser.add_argument("--top", type=int, default=25, help="frames printed with --profile")
    asyncio.run(main(parser.parse_args()))
