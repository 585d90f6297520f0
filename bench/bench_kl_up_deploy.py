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
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pyspy  # noqa: E402  (bench/ is the script's directory)
from procstat import cpu_seconds, descendants, put_rate  # noqa: E402

from kubelite.etcd.client import EtcdConfig, connect  # noqa: E402
from kubelite.etcd.server import free_port  # noqa: E402
from kubelite.testing.existing import etcd_access_of  # noqa: E402

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: bench, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: bench}}}}
  template:
    metadata: {{labels: {{app: bench}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: bench:1
        resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}
"""


def ready_nodes(server: str) -> int:
    try:
        with urllib.request.urlopen(server + "/api/v1/nodes", timeout=10) as resp:
            doc = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return 0
    return sum(1 for n in doc.get("items") or []
               if any(c.get("type") == "Ready" and c.get("status") == "True"
                      for c in (n.get("status") or {}).get("conditions") or []))


def process_names(data: Path) -> dict[str, int]:
    """kl up's children by name (up.json), without etcd (not Python: py-spy cannot read it)."""
    state = json.loads((data / "up.json").read_text())
    return {**state["processes"], "etcd": state["etcd_pid"]} if state.get("etcd_pid") else dict(state["processes"])


def manager_metrics(pid: int) -> dict[str, float]:
    """The controller-manager's reconcile counts by controller (its ``--listen``, from its command line)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    listen = argv[argv.index("--listen") + 1]
    with urllib.request.urlopen(f"http://{listen}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("controller_reconcile_total{"):
            labels, value = line.rsplit(" ", 1)
            name = labels.split('controller="', 1)[1].split('"', 1)[0]
            counts[name] = counts.get(name, 0.0) + float(value)
    return counts


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--listen", default="", help="HOST:PORT for kl up's gateway (default: a free port)")
    parser.add_argument("--profile", type=Path, help="py-spy every Python child during the window; files here")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep kl up's data directory (its logs/) afterwards")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="kubelite-bench-deploy-"))
    listen = args.listen or f"127.0.0.1:{free_port()}"
    server = f"http://{listen}"
    out = open(data.parent / f"{data.name}.out", "wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "kubelite.cli", "up", "--runtime", "sim", "--nodes", str(args.nodes), "--listen", listen,
         "--data-dir", str(data)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    kubeconfig = data / "kubeconfig"
    deadline = time.monotonic() + args.timeout
    watch: PodWatch | None = None
    recorders: list[subprocess.Popen[bytes]] = []
    try:
        def wait(what: str, done) -> None:  # noqa: ANN001
            while not done():
                if up.poll() is not None:
                    raise SystemExit(f"kl up exited with {up.returncode}; see {out.name}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out waiting for {what}; see {out.name}")
                time.sleep(0.1)

        wait("kl up's banner", lambda: b"kubelite is up" in Path(out.name).read_bytes())
        wait(f"{args.nodes} Ready nodes", lambda: ready_nodes(server) >= args.nodes)
        # kl up's own etcd, with its client certificate (a secure kl up's etcd asks for one)
        config = etcd_access_of(json.loads((data / "up.json").read_text())).config()
        sequential, concurrent = asyncio.run(etcd_baseline(replace(config, timeout=10.0)))
        names = process_names(data)
        kids = descendants(up.pid)
        watch = PodWatch(kubeconfig, args.replicas)
        manifest = data / "bench.yaml"
        manifest.write_text(MANIFEST.format(replicas=args.replicas))
        time.sleep(1.0)  # a settling window, not a wait for a condition: kubectl's watch has listed (nothing yet)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            recorders = [pyspy.record(pid, args.profile / f"{name}.txt") for name, pid in names.items() if name != "etcd"]
            time.sleep(1.0)  # py-spy attaches
        cpu_before = {pid: cpu_seconds(pid) for pid in kids}
        reconciles_before = manager_metrics(names["controller-manager"])
        applied = time.monotonic()
        subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "apply", "-f", str(manifest)], check=True,
                       capture_output=True, timeout=120)
        apply_returned = time.monotonic()
        if not watch.all_running.wait(max(1.0, deadline - time.monotonic())):
            raise SystemExit(f"timed out: {len(watch.running)} of {args.replicas} pods Running; see {out.name}")
        done = time.monotonic()
        cpu = {pid: cpu_seconds(pid) - before for pid, before in cpu_before.items()}
        reconciles = manager_metrics(names["controller-manager"])
        pyspy.stop(recorders)
        listed, running = kubectl_running(kubeconfig)
        window = done - applied
        by_pid = {pid: name for name, pid in names.items()}

        def phase(seen: dict[str, float]) -> str:
            last = max(seen.values()) - applied
            return f"{last:6.2f} s  ({len(seen) / last:6.0f} pods/s)"

        print(f"kl up --nodes {args.nodes} --runtime sim; kubectl apply of 1 Deployment x {args.replicas} replicas")
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
        up.send_signal(signal.SIGINT)
        try:
            up.wait(120)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        if args.keep:
            print(f"kl up's data directory (logs in logs/): {data}", file=sys.stderr)
        else:
            shutil.rmtree(data, ignore_errors=True)
        os.unlink(out.name) if up.returncode == 0 else print(f"kl up's output: {out.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
