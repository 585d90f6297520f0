"""Issue 12, target 2 through the user's path: ``kl up --nodes 100 --runtime sim``, then
``kubectl apply`` of a 1,000-replica Deployment, until kubectl sees every pod Running.

Runs the real ``kl up`` (own data dir, a free port) and the real kubectl. kubectl's view is
``kubectl get pods --watch`` (a line per pod change: name, node, phase), started before the
apply; the phases printed are, from the moment ``kubectl apply`` is started:
  - create: the last of the pods seen (the ReplicaSet controller's creates),
  - bind:   the last pod seen with a node (the scheduler),
  - Running: the last pod seen Running (the sim agents' status writes) — the figure, in pods/s
    (target ≥ 200 pods/s, i.e. ≤ 5 s for 1,000),
and, once all are Running, ``kubectl get pods`` once more to confirm every pod Running. The
baseline in the same run is the raw etcd put rate on kl up's own etcd (sequential and 50
concurrent; each pod costs about 4 writes — create, bind, two status writes — so a quarter of
the concurrent rate is the physical ceiling here), and the CPU each of kl up's processes used
during the window. ``--profile DIR`` samples every Python child with py-spy (idle included)
during the window and prints their top frames (bench/pyspy.py).

    .venv/bin/python bench/bench_kl_up_deploy.py [--nodes 100] [--replicas 1000] [--profile DIR]
"""

from __future__ import annotations

import argparse
import re
import asyncio
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pyspy  # noqa: E402  (bench/ is the script's directory)
from klup import KlUp, deployment_manifest, etcd_calls, manager_metrics  # noqa: E402
from procstat import cpu_seconds, descendants, put_rate  # noqa: E402

from kubelite.etcd.client import EtcdConfig, connect  # noqa: E402

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


class PodWatch:
    """``kubectl get pods --watch``: when each pod was first seen, first bound, first Running."""

    def __init__(self, kubeconfig: Path, replicas: int) -> None:
        self.replicas = replicas
        self.created: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.all_running = threading.Event()
        self.events = 0  # lines kubectl printed: the list, then one per pod change
        template = '{.metadata.name} {.spec.nodeName} {.status.phase}{"\\n"}'
        self.proc = subprocess.Popen(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "pods", "-n", "default", "-l", "app=bench",
             "--watch", "-o", f"jsonpath={template}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            now = time.monotonic()
            parts = raw.decode().split()
            if not parts:
                continue
            name = parts[0]
            self.events += 1
            self.created.setdefault(name, now)
            if len(parts) == 3:  # name node phase
                self.bound.setdefault(name, now)
                if parts[2] == "Running":
                    self.running.setdefault(name, now)
                    if len(self.running) >= self.replicas:
                        self.all_running.set()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def kubectl_running(kubeconfig: Path) -> tuple[int, int]:
    """(pods, pods Running) as ``kubectl get pods`` lists them."""
    out = subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "get", "pods", "-n", "default", "-l", "app=bench",
                          "-o", "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}"],
                         capture_output=True, text=True, timeout=120, check=True).stdout.split()
    return len(out), sum(1 for phase in out if phase == "Running")


async def etcd_baseline(config: EtcdConfig) -> tuple[float, float]:
    client = await connect(config)
    try:
        return await put_rate(client, 2000, 1), await put_rate(client, 5000, 50)
    finally:
        await client.close()


def etcd_requests(metrics_address: str | None) -> dict[str, float]:
    """etcd's answered gRPC requests so far by method (``Range``, ``Txn``, ``LeaseKeepAlive``…), from its
    ``/metrics``; empty when kl up does not say where that is."""
    if not metrics_address:
        return {}
    with urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("grpc_server_handled_total{"):
            method = re.search(r'grpc_method="([^"]+)"', line)
            if method:
                counts[method.group(1)] = counts.get(method.group(1), 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--listen", default="", help="HOST:PORT for kl up's gateway (default: a free port)")
    parser.add_argument("--profile", type=Path, help="py-spy every Python child during the window; files here")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep kl up's data directory (its logs/) afterwards")
    parser.add_argument("--secure", action="store_true", help="kl up's secure default (HTTPS, RBAC, TLS to etcd) "
                        "instead of --insecure-http")
    args = parser.parse_args()

    up = KlUp(args.nodes, prefix="kubelite-bench-deploy-", listen=args.listen, timeout=args.timeout, secure=args.secure)
    up.start()
    data, out, kubeconfig = up.data, up.out_path, up.kubeconfig
    deadline = up.started + args.timeout
    watch: PodWatch | None = None
    recorders: list[subprocess.Popen[bytes]] = []
    try:
        up.wait_banner()
        up.wait_ready_nodes()
        # kl up's own etcd, with its client certificate (a secure kl up's etcd asks for one)
        sequential, concurrent = asyncio.run(etcd_baseline(replace(up.etcd_config(), timeout=10.0)))
        names = up.process_names()
        assert up.proc is not None
        kids = descendants(up.proc.pid)
        watch = PodWatch(kubeconfig, args.replicas)
        manifest = data / "bench.yaml"
        manifest.write_text(deployment_manifest("bench", args.replicas, {"app": "bench"}))
        time.sleep(1.0)  # a settling window, not a wait for a condition: kubectl's watch has listed (nothing yet)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            recorders = [pyspy.record(pid, args.profile / f"{name}.txt") for name, pid in names.items() if name != "etcd"]
            time.sleep(1.0)  # py-spy attaches
        cpu_before = {pid: cpu_seconds(pid) for pid in kids}
        etcd_before = etcd_requests(up.state.get("etcd_metrics"))
        calls_before = {name: etcd_calls(pid) for name, pid in names.items() if name != "etcd"}
        reconciles_before = manager_metrics(names["control-plane"])
        applied = time.monotonic()
        subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "apply", "-f", str(manifest)], check=True,
                       capture_output=True, timeout=120)
        apply_returned = time.monotonic()
        if not watch.all_running.wait(max(1.0, deadline - time.monotonic())):
            raise SystemExit(f"timed out: {len(watch.running)} of {args.replicas} pods Running; see {out}")
        done = time.monotonic()
        cpu = {pid: cpu_seconds(pid) - before for pid, before in cpu_before.items()}
        etcd_after = etcd_requests(up.state.get("etcd_metrics"))
        calls = {name: {call: count - before.get(call, 0) for call, count in etcd_calls(names[name]).items()
                        if count > before.get(call, 0)} for name, before in calls_before.items()}
        reconciles = manager_metrics(names["control-plane"])
        pyspy.stop(recorders)
        listed, running = kubectl_running(kubeconfig)
        window = done - applied
        by_pid = {pid: name for name, pid in names.items()}

        def phase(seen: dict[str, float]) -> str:
            last = max(seen.values()) - applied
            return f"{last:6.2f} s  ({len(seen) / last:6.0f} pods/s)"

        print(f"kl up --nodes {args.nodes} --runtime sim{'' if args.secure else ' --insecure-http'}; kubectl apply of 1 Deployment x {args.replicas} replicas")
        print(f"  raw etcd put rate (kl up's etcd): {sequential:6.0f} /s sequential, {concurrent:6.0f} /s 50 concurrent"
              f"  (ceiling at ~4 writes per pod: {concurrent / 4:.0f} pods/s)")
        print(f"  kubectl apply returned after     {apply_returned - applied:6.2f} s")
        print(f"  first pod seen after             {min(watch.created.values()) - applied:6.2f} s")
        print(f"  create: all pods seen after      {phase(watch.created)}")
        print(f"  bind:   all pods bound after     {phase(watch.bound)}")
        print(f"  Running: all Running after       {phase(watch.running)}")
        print(f"  => {args.replicas / window:.0f} pods/s apply -> all Running (target >= 200; ratio to the etcd "
              f"ceiling {args.replicas / window / (concurrent / 4):.2f})")
        print(f"  kubectl get pods afterwards: {listed} pods, {running} Running; kubectl's watch saw {watch.events} "
              f"pod changes ({watch.events / args.replicas:.1f} per pod)")
        print("  CPU during the window (s, % of one core):")
        for pid, used in sorted(cpu.items(), key=lambda kv: -kv[1]):
            print(f"    {by_pid.get(pid, f'pid {pid}'):24s} {used:6.2f} s  {100 * used / window:4.0f} %")
        print("  etcd requests during the window (its grpc_server_handled_total), per pod: " + ", ".join(
            f"{method} {(count - etcd_before.get(method, 0)) / args.replicas:.2f}"
            for method, count in sorted(etcd_after.items(), key=lambda kv: -(kv[1] - etcd_before.get(kv[0], 0)))
            if count > etcd_before.get(method, 0)))
        for name, made in calls.items():
            print(f"  {name}'s etcd calls per pod: " + ", ".join(
                f"{operation} {kind or '-'} {count / args.replicas:.2f}"
                for (operation, kind), count in sorted(made.items(), key=lambda kv: -kv[1]) if count >= args.replicas / 100))
        print("  controller-manager reconciles during the window: " + ", ".join(
            f"{name} {count - reconciles_before.get(name, 0):.0f}" for name, count in sorted(reconciles.items())
            if count > reconciles_before.get(name, 0)))
        if recorders:
            for name in names:
                path = args.profile / f"{name}.txt"
                if path.exists() and path.stat().st_size:
                    print(pyspy.summary(path))
    finally:
        pyspy.stop(recorders)
        if watch is not None:
            watch.stop()
        up.stop(keep=args.keep)


if __name__ == "__main__":
    main()
