"""Issue 12, target 4: 10,000 pods on 1,000 simulated nodes through the real ``kl up``, then churn.

Starts ``kl up --nodes 1000 --runtime sim --insecure-http`` (own data dir, a free port; etcd's
ports in the data dir), waits for 1,000 Ready nodes, measures the raw etcd put rate on kl up's own
etcd (the baseline, as the other benchmarks), then ``kubectl apply`` of 10 Deployments × 1,000
replicas and prints:
  - the phases from the moment of the apply, from a watch on the gateway (started before it):
    create (all pods seen), bind (all with a node), Running (all Running) — the figure;
  - the control plane's CPU seconds over that window and its RSS (now and peak), next to every
    other process's CPU (kl up runs the controller-manager and the gateway in that one process);
  - the gateway's LIST of the 10,000 pods, as JSON and as a Table (kubectl's
    ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``): a few samples, p50 and max, and bytes;
  - etcd's size (Maintenance.Status: dbSize and dbSizeInUse), revision and compacted revision.
Then ``--churn-minutes`` (default 60) of churn at a fixed, modest rate: every ``--churn-period``
seconds one Deployment (round robin) is scaled down by ``--churn-pods`` and back up, each step
waited for (the ReplicaSet deletes and creates pods, the scheduler binds, the agents start
them). Every minute it prints etcd's dbSize, dbSizeInUse, revision, compacted revision
(``compact_rev_key``), the compactions and defragmentations made so far (the processes'
metrics), the control plane's RSS and the load average. Compaction runs every
``--etcd-compaction-interval`` (kl up's default 5m: the figure is for the default), and the
compactor that wins a round defragments when the rule of kubelite.etcd.defrag says so.

    .venv/bin/python bench/bench_scale.py [--nodes 1000] [--deployments 10] [--replicas 1000]
        [--churn-minutes 60] [--churn-period 30] [--churn-pods 50] [--shrink N] [--etcd-compaction-interval 5m]

At the end, ``--shrink`` Deployments (default: half of them, at least one) are deleted and etcd's size is
followed until a compactor defragments, or 2.5 compaction intervals (a small
``--etcd-compaction-interval`` shortens that follow).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from klup import KlUp, deployment_manifest, get_json, process_metrics  # noqa: E402  (bench/ is the script's directory)
from procstat import cpu_seconds, descendants, memory_kib, put_rate  # noqa: E402

from kubelite.etcd.client import EtcdConfig, connect  # noqa: E402
from kubelite.etcd.compaction import COMPACT_REV_KEY, parse_interval  # noqa: E402
from kubelite.etcd.defrag import MIB, member_status  # noqa: E402
from kubelite.etcd.ops import prefix_end, range_  # noqa: E402

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
LABEL = "bench=scale"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


class PodWatch:
    """A watch of the bench's pods on the gateway (a thread): when each pod was first seen, first
    bound, first Running. A stream that ends is resumed from a fresh LIST (its pods count as seen then)."""

    def __init__(self, server: str, expected: int) -> None:
        self.server = server
        self.expected = expected
        self.created: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.events = 0
        self.restarts = 0
        self.all_running = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.listed = threading.Event()
        self.thread.start()

    def _note(self, pod: dict, now: float) -> None:
        name = pod["metadata"]["name"]
        self.created.setdefault(name, now)
        if (pod.get("spec") or {}).get("nodeName"):
            self.bound.setdefault(name, now)
        if (pod.get("status") or {}).get("phase") == "Running":
            self.running.setdefault(name, now)
            if len(self.running) >= self.expected:
                self.all_running.set()

    def _run(self) -> None:
        base = f"{self.server}/api/v1/namespaces/default/pods?labelSelector={LABEL}"
        while not self.stopped:
            try:
                with urllib.request.urlopen(base, timeout=120) as resp:
                    listing = orjson.loads(resp.read())
                now = time.monotonic()
                for pod in listing.get("items") or []:
                    self._note(pod, now)
                self.listed.set()
                rv = listing["metadata"]["resourceVersion"]
                with urllib.request.urlopen(f"{base}&watch=1&resourceVersion={rv}&timeoutSeconds=3600",
                                            timeout=600) as stream:
                    for line in stream:
                        if self.stopped:
                            return
                        event = orjson.loads(line)
                        self.events += 1
                        if event.get("type") in ("ADDED", "MODIFIED"):
                            self._note(event["object"], time.monotonic())
            except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
                if self.stopped:
                    return
                print(f"  (pod watch: {exc!r}; listing again)", file=sys.stderr)
            self.restarts += 1
            time.sleep(1.0)  # back-off before listing again (the gateway may be restarting)


@dataclass
class EtcdFigures:
    db_size: int
    db_size_in_use: int
    revision: int
    compacted: int  # compact_rev_key's value: the revision the last compaction round compacted to

    def line(self) -> str:
        return (f"dbSize {self.db_size / MIB:7.1f} MiB  inUse {self.db_size_in_use / MIB:7.1f} MiB  "
                f"revision {self.revision:9d}  compacted {self.compacted:9d}")


async def etcd_figures(etcd: EtcdConfig) -> EtcdFigures:
    client = await connect(replace(etcd, timeout=30.0))
    try:
        status = await member_status(client)
        got = await client.get(COMPACT_REV_KEY.encode())
        return EtcdFigures(status.db_size, status.db_size_in_use, status.revision,
                           int(got.value) if got is not None and got.value else 0)
    finally:
        await client.close()


async def etcd_baseline(etcd: EtcdConfig) -> tuple[float, float]:
    client = await connect(replace(etcd, timeout=10.0))
    try:
        return await put_rate(client, 2000, 1), await put_rate(client, 5000, 50)
    finally:
        await client.close()


def timed_list(server: str, accept: str, query: str = "") -> tuple[float, int, int]:
    """One LIST of the pods of the namespace (only the bench's: ``kubectl get pods``; ``query`` e.g. a
    labelSelector): (seconds to the last byte, bytes, items or rows); a refusal (e.g. 503 when etcd did
    not answer in time) is printed and counts as (seconds, 0, 0)."""
    request = urllib.request.Request(f"{server}/api/v1/namespaces/default/pods{query}", headers={"Accept": accept})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=300) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        elapsed = time.perf_counter() - started
        print(f"    LIST ({accept}) refused after {elapsed:.1f} s: {exc.code} {exc.read()[:200]!r}", flush=True)
        return elapsed, 0, 0
    elapsed = time.perf_counter() - started
    doc = orjson.loads(body)
    return elapsed, len(body), len(doc.get("rows") if "rows" in doc else doc.get("items") or [])


def patch_replicas(server: str, name: str, replicas: int) -> None:
    request = urllib.request.Request(
        f"{server}/apis/apps/v1/namespaces/default/deployments/{name}", method="PATCH",
        data=json.dumps({"spec": {"replicas": replicas}}).encode(),
        headers={"Content-Type": "application/merge-patch+json"})
    with urllib.request.urlopen(request, timeout=60):
        pass


def deployment_scaled(server: str, name: str, replicas: int) -> bool:
    """The Deployment's ReplicaSet has created or deleted its pods (readiness not asked: pods of a node
    whose lease lapsed under load stay NotReady — bench/README.md — and are counted apart)."""
    doc = get_json(f"{server}/apis/apps/v1/namespaces/default/deployments/{name}", timeout=30) or {}
    status = doc.get("status") or {}
    return (status.get("observedGeneration", 0) >= (doc.get("metadata") or {}).get("generation", 1)
            and status.get("replicas") == replicas and status.get("updatedReplicas") == replicas)


def unready_pods(server: str) -> int:
    """Pods of the bench's Deployments not ready, from their status."""
    doc = get_json(f"{server}/apis/apps/v1/namespaces/default/deployments?labelSelector={LABEL}", timeout=30) or {}
    return sum((d.get("status") or {}).get("replicas", 0) - (d.get("status") or {}).get("readyReplicas", 0)
               for d in doc.get("items") or [])


def metric_sum(pids: list[int], metric: str) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += sum(process_metrics(pid, metric).values())
        except (OSError, ValueError, urllib.error.URLError):
            pass  # a process without the metric (or restarting) counts 0
    return total


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--deployments", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=1000, help="per Deployment")
    parser.add_argument("--list-samples", type=int, default=5)
    parser.add_argument("--churn-minutes", type=float, default=60.0)
    parser.add_argument("--churn-period", type=float, default=30.0, help="seconds between churn steps")
    parser.add_argument("--churn-pods", type=int, default=50, help="pods a step scales one Deployment down and up by")
    parser.add_argument("--shrink", type=int, default=None,
                        help="Deployments deleted at the end (default: half of --deployments, at least one; 0: none), "
                             "then etcd's size followed until a defragmentation (at most 2.5 compaction intervals)")
    parser.add_argument("--etcd-compaction-interval", default="5m", help="kl up's flag (default: kl up's default)")
    parser.add_argument("--listen", default="", help="HOST:PORT for kl up's gateway (default: a free port)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for start-up, and for convergence")
    parser.add_argument("--keep", action="store_true", help="keep kl up's data directory (its logs/) afterwards")
    args = parser.parse_args()
    if args.deployments < 1:
        parser.error("--deployments must be at least 1")
    if args.shrink is None:
        args.shrink = max(1, args.deployments // 2)  # half of those made, at least one
    elif not 0 <= args.shrink <= args.deployments:
        parser.error(f"--shrink must be between 0 and --deployments ({args.deployments})")
    total = args.deployments * args.replicas
    # started in the background (nohup ... &), SIGINT would be ignored: both signals stop kl up cleanly
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    up = KlUp(args.nodes, prefix="kubelite-bench-scale-", listen=args.listen, timeout=args.timeout,
              extra=("--etcd-compaction-interval", args.etcd_compaction_interval))
    print(f"kl up --nodes {args.nodes} --runtime sim --insecure-http --etcd-compaction-interval "
          f"{args.etcd_compaction_interval}; {args.deployments} Deployments x {args.replicas} replicas; "
          f"load average {load()} at the start", flush=True)
    watch: PodWatch | None = None
    try:
        up.start_until_up()
        ready_at = up.wait_ready_nodes(interval=1.0)
        print(f"  {args.nodes} Ready nodes after {ready_at - up.started:.1f} s", flush=True)
        etcd = up.etcd_config()  # kl up's single member (with its client certificate when it asks for one)
        sequential, concurrent = asyncio.run(etcd_baseline(etcd))
        print(f"  raw etcd put rate (kl up's etcd): {sequential:6.0f} /s sequential, {concurrent:6.0f} /s "
              f"50 concurrent  (ceiling at ~4 writes per pod: {concurrent / 4:.0f} pods/s)", flush=True)
        empty = asyncio.run(etcd_figures(etcd))
        print(f"  etcd before the pods: {empty.line()}", flush=True)
        names = up.process_names()
        assert up.proc is not None
        kids = descendants(up.proc.pid)
        by_pid = {pid: name for name, pid in names.items()}
        manager = names["control-plane"]  # the controller-manager and the gateway, in one process
        kubelite_pids = [manager]
        watch = PodWatch(up.server, total)
        if not watch.listed.wait(60):
            raise SystemExit("the pod watch could not list pods")
        manifest = up.data / "scale.yaml"
        manifest.write_text("".join(deployment_manifest(f"scale-{i}", args.replicas, {"app": f"scale-{i}"},
                                                        pod_labels={"bench": "scale"}, labels={"bench": "scale"})
                                    for i in range(args.deployments)))
        cpu_before = {pid: cpu_seconds(pid) for pid in kids}
        applied = time.monotonic()
        subprocess.run([KUBECTL, "--kubeconfig", str(up.kubeconfig), "apply", "-f", str(manifest)], check=True,
                       capture_output=True, timeout=300)
        apply_returned = time.monotonic()
        last_report = applied
        while not watch.all_running.wait(10.0):
            up.alive()
            now = time.monotonic()
            if now - applied > args.timeout:
                raise SystemExit(f"timed out: {len(watch.running)} of {total} pods Running; see {up.out_path}")
            if now - last_report >= 60:
                last_report = now
                print(f"    {now - applied:6.0f} s: seen {len(watch.created)}, bound {len(watch.bound)}, "
                      f"Running {len(watch.running)}; children restarted {up.restarts()}; load {load()}", flush=True)
        done = time.monotonic()
        window = done - applied
        cpu = {pid: cpu_seconds(pid) - before for pid, before in cpu_before.items()}

        def phase(seen: dict[str, float]) -> str:
            last = max(seen.values()) - applied
            return f"{last:7.1f} s  ({len(seen) / last:5.0f} pods/s)"

        print(f"  kubectl apply returned after      {apply_returned - applied:7.1f} s", flush=True)
        print(f"  create:  all {len(watch.created)} pods seen after {phase(watch.created)}")
        print(f"  bind:    all pods bound after     {phase(watch.bound)}")
        print(f"  Running: all Running after        {phase(watch.running)}")
        print(f"  => {total} pods on {args.nodes} nodes in {window:.1f} s ({total / window:.0f} pods/s; the etcd "
              f"ceiling {concurrent / 4:.0f} pods/s, ratio {total / window / (concurrent / 4):.2f}); "
              f"watch events {watch.events}, watch re-lists {watch.restarts}; "
              f"children restarted by kl up {up.restarts()}; load {load()}")
        print(f"  control plane (controller-manager and gateway): CPU {cpu.get(manager, 0.0):.1f} s over the window "
              f"({1000 * cpu.get(manager, 0.0) / total:.2f} ms per pod), RSS {memory_kib(manager, 'VmRSS') / 1024:.0f} "
              f"MiB (peak {memory_kib(manager, 'VmHWM') / 1024:.0f} MiB)")
        print("  CPU during the window (s, % of one core), RSS now:")
        for pid, used in sorted(cpu.items(), key=lambda kv: -kv[1]):
            print(f"    {by_pid.get(pid, f'pid {pid}'):24s} {used:7.1f} s  {100 * used / window:4.0f} %  "
                  f"{memory_kib(pid, 'VmRSS') / 1024:6.0f} MiB")
        sys.stdout.flush()
        watch.stopped = True
        for accept, what, query in (("application/json", "JSON", ""), (TABLE, "Table", ""),
                                    ("application/json", "JSON, with a labelSelector", f"?labelSelector={LABEL}")):
            samples = [timed_list(up.server, accept, query) for _ in range(args.list_samples)]
            times = sorted(s[0] for s in samples)
            served = max(samples, key=lambda s: s[2])
            print(f"  gateway LIST of {served[2]} pods as {what:5s}: p50 {1000 * statistics.median(times):6.0f} ms,"
                  f" max {1000 * times[-1]:6.0f} ms over {len(times)} samples ({sum(1 for s in samples if not s[2])}"
                  f" refused), {served[1] / MIB:.1f} MiB", flush=True)
        converged = asyncio.run(etcd_figures(etcd))
        print(f"  etcd with {total} pods: {converged.line()}", flush=True)

        if args.churn_minutes > 0:
            churn(args, up, etcd, kubelite_pids, manager)
        if args.shrink > 0:
            shrink(args, up, etcd, kubelite_pids)
    finally:
        if watch is not None:
            watch.stopped = True
        up.stop(keep=args.keep)


def churn(args: argparse.Namespace, up: KlUp, etcd: EtcdConfig, kubelite_pids: list[int], manager: int) -> None:
    """Scale one Deployment down by ``--churn-pods`` and back up every ``--churn-period`` s, round robin,
    for ``--churn-minutes``; a line of etcd figures every minute from a thread of its own, so a slow
    step never hides the trend. A step waits (at most two periods per direction) for the ReplicaSet
    to have deleted or created its pods, not for their readiness."""
    print(f"  churn: every {args.churn_period:g} s one Deployment -{args.churn_pods} then +{args.churn_pods} pods, "
          f"for {args.churn_minutes:g} min", flush=True)
    started = time.monotonic()
    end = started + 60 * args.churn_minutes
    done = threading.Event()
    counts = {"steps": 0, "slow": 0}
    sizes: list[int] = []

    def report() -> None:
        next_minute = started
        while not done.wait(max(0.0, next_minute - time.monotonic())):
            try:
                figures = asyncio.run(etcd_figures(etcd))
                sizes.append(figures.db_size)
                line = (f"{figures.line()}  compactions {metric_sum(kubelite_pids, 'kubelite_etcd_compactions_total'):3.0f}"
                        f"  defrags {metric_sum(kubelite_pids, 'kubelite_etcd_defragmentations_total'):3.0f}  steps "
                        f"{counts['steps']:4d} (slow {counts['slow']})  unready {unready_pods(up.server):3d}  CM RSS "
                        f"{memory_kib(manager, 'VmRSS') / 1024:5.0f} MiB")
            except Exception as exc:  # noqa: BLE001 - etcd or the gateway not answering is itself the figure
                line = f"no figures: {exc!r}"[:200]
            print(f"  {(time.monotonic() - started) / 60:5.1f} min  {line}  restarts {up.restarts()}  load {load()}",
                  flush=True)
            next_minute += 60

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        while time.monotonic() < end:
            step_started = time.monotonic()
            name = f"scale-{counts['steps'] % args.deployments}"
            for replicas in (args.replicas - args.churn_pods, args.replicas):
                try:
                    patch_replicas(up.server, name, replicas)
                    up.wait(f"{name} at {replicas} replicas", lambda: deployment_scaled(up.server, name, replicas),
                            interval=1.0, timeout=2 * args.churn_period)  # noqa: B023
                except (SystemExit, OSError, urllib.error.URLError) as exc:
                    up.alive()
                    counts["slow"] += 1
                    print(f"    step {counts['steps']}: {exc}", flush=True)
            counts["steps"] += 1
            spare = args.churn_period - (time.monotonic() - step_started)
            time.sleep(max(0.0, min(spare, end - time.monotonic())))  # the fixed rate
    finally:
        done.set()
        reporter.join(120)
    figures = asyncio.run(etcd_figures(etcd))  # the window's last figures
    sizes.append(figures.db_size)
    print(f"  {(time.monotonic() - started) / 60:5.1f} min  {figures.line()}  (end of churn)", flush=True)
    if sizes:
        print(f"  churn done: {counts['steps']} steps ({2 * counts['steps'] * args.churn_pods} pod deletes + creates), "
              f"{counts['slow']} slow; dbSize min {min(sizes) / MIB:.1f} / max {max(sizes) / MIB:.1f} / last "
              f"{sizes[-1] / MIB:.1f} MiB", flush=True)


async def pods_in_etcd(etcd: EtcdConfig) -> int:
    client = await connect(replace(etcd, timeout=30.0))
    try:
        prefix = "/registry/pods/default/"
        response = await range_(client, prefix, range_end=prefix_end(prefix), count_only=True, what="count pods")
        return int(response.count)
    finally:
        await client.close()


def shrink(args: argparse.Namespace, up: KlUp, etcd: EtcdConfig, kubelite_pids: list[int]) -> None:
    """Delete the first ``--shrink`` Deployments (their pods go with them, by the garbage collector), then follow
    etcd's size until a compactor defragments (the space the deleted pods and their history held is
    then given back) or 2.5 compaction intervals pass."""
    defrags = metric_sum(kubelite_pids, "kubelite_etcd_defragmentations_total")
    before = asyncio.run(etcd_figures(etcd))
    print(f"  shrink: deleting {args.shrink} Deployments; etcd {before.line()}", flush=True)
    started = time.monotonic()
    for i in range(args.shrink):
        request = urllib.request.Request(
            f"{up.server}/apis/apps/v1/namespaces/default/deployments/scale-{i}", method="DELETE",
            data=json.dumps({"propagationPolicy": "Background"}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60):
            pass
    left = args.replicas * (args.deployments - args.shrink)
    up.wait(f"{left} pods left", lambda: asyncio.run(pods_in_etcd(etcd)) <= left, interval=5.0, timeout=args.timeout)
    print(f"    pods deleted after {time.monotonic() - started:.0f} s; etcd "
          f"{asyncio.run(etcd_figures(etcd)).line()}", flush=True)
    interval = parse_interval(args.etcd_compaction_interval)
    deadline = time.monotonic() + 2.5 * interval
    while time.monotonic() < deadline:
        time.sleep(min(30.0, max(0.0, deadline - time.monotonic())))  # a reporting period, not a condition wait
        figures = asyncio.run(etcd_figures(etcd))
        done = metric_sum(kubelite_pids, "kubelite_etcd_defragmentations_total") - defrags
        print(f"    {(time.monotonic() - started) / 60:5.1f} min  {figures.line()}  defrags {done:.0f}", flush=True)
        if done > 0:
            break
    after = asyncio.run(etcd_figures(etcd))
    print(f"  shrink done: dbSize {before.db_size / MIB:.1f} -> {after.db_size / MIB:.1f} MiB, inUse "
          f"{before.db_size_in_use / MIB:.1f} -> {after.db_size_in_use / MIB:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
