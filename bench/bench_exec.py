"""Streaming benchmark: `kubectl exec -- true` round trips and `kubectl port-forward` throughput, next to
`docker exec` and a direct connection to the pod's host port, in the same run.

    .venv/bin/python bench/bench_exec.py [--runs 50] [--megabytes 100]

Starts the real `kl up --runtime docker --nodes 1` on a free port with a temporary data dir, runs one
pod (busybox httpd from kubelite/demo, a random file of --megabytes in its web root), then:
- exec: `kubectl exec web -- true` --runs times one after another (kubectl → gateway → agent →
  Docker exec, WebSocket v5), `docker exec <container> true` as many times, and `kubectl get pod web`
  (kubectl's own start and one API call, no stream) for scale;
- port-forward: curl downloads the file through `kubectl port-forward pod/web` (SPDY over a
  WebSocket, gateway → agent → the pod's network namespace) and straight from the host port Docker
  published for the pod, three times each (best and median MB/s, 1 MB = 10^6 bytes).
Everything is removed at the end (kl up is stopped with SIGINT and removes its containers).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubelite.etcd.server import free_port  # noqa: E402

KL = REPO / ".venv" / "bin" / "kl"
POD = """apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: kubelite/demo:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "head -c %d /dev/urandom > /www/big && exec httpd -f -p 80 -h /www"]
    ports: [{containerPort: 80}]
    readinessProbe: {exec: {command: ["test", "-s", "/www/big"]}, periodSeconds: 1}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def timed(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Seconds per run of ``argv`` (each must exit 0)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def download(url: str) -> float:
    """MB/s of one curl download of ``url`` to /dev/null."""
    out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url],
                         check=True, capture_output=True, text=True, timeout=600).stdout.split()
    size, seconds = float(out[0]), float(out[1])
    return size / seconds / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--megabytes", type=int, default=100)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="kl-bench-exec."))
    port = free_port()
    up = subprocess.Popen([str(KL), "up", "--runtime", "docker", "--nodes", "1", "--listen", f"127.0.0.1:{port}",
                           "--data-dir", str(data / "up")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, start_new_session=True)
    env = {**os.environ, "KUBECONFIG": str(data / "up" / "kubeconfig")}
    forward: subprocess.Popen[str] | None = None
    try:
        assert up.stdout is not None
        for line in up.stdout:
            if "kubelite is up" in line:
                break
        else:
            print("kl up did not come up", file=sys.stderr)
            return 2
        threading.Thread(target=lambda: [None for _ in up.stdout], daemon=True).start()  # keep draining it
        kubectl = ["kubectl"]
        subprocess.run([*kubectl, "apply", "-f", "-"], input=POD % (args.megabytes * 1_000_000), text=True,
                       check=True, env=env, capture_output=True)
        subprocess.run([*kubectl, "wait", "--for=condition=Ready", "pod/web", "--timeout=180s"], check=True, env=env,
                       capture_output=True)
        pod = json.loads(subprocess.run([*kubectl, "get", "pod", "web", "-o", "json"], check=True, env=env,
                                        capture_output=True, text=True).stdout)
        container = pod["status"]["containerStatuses"][0]["containerID"].partition("://")[2]
        host_ports = json.loads(pod["metadata"]["annotations"]["kubelite.io/host-ports"])
        host_port = next(p["hostPort"] for p in host_ports if p["containerPort"] == 80)

        kubectl_exec = timed([*kubectl, "exec", "web", "--", "true"], args.runs, env)
        docker_exec = timed(["docker", "exec", container, "true"], args.runs, env)
        kubectl_get = timed([*kubectl, "get", "pod", "web"], args.runs, env)
        print(f"exec round trip, {args.runs} runs one after another (ms):")
        for name, times in (("kubectl exec -- true", kubectl_exec), ("docker exec true", docker_exec),
                            ("kubectl get pod (no exec)", kubectl_get)):
            print(f"  {name:26} p50 {percentile(times, 50) * 1000:7.1f}   p99 {percentile(times, 99) * 1000:7.1f}"
                  f"   mean {statistics.mean(times) * 1000:7.1f}")

        local = free_port()
        forward = subprocess.Popen([*kubectl, "port-forward", "pod/web", f"{local}:80"], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert forward.stdout is not None
        forward.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 80": listening
        through = [download(f"http://127.0.0.1:{local}/big") for _ in range(3)]
        direct = [download(f"http://127.0.0.1:{host_port}/big") for _ in range(3)]
        print(f"download of {args.megabytes} MB with curl, 3 times each (MB/s, best / median):")
        for name, rates in (("kubectl port-forward", through), ("pod's host port", direct)):
            print(f"  {name:26} {max(rates):8.1f} / {statistics.median(rates):8.1f}")
        return 0
    finally:
        if forward is not None:
            forward.kill()
            forward.wait()
        up.send_signal(signal.SIGINT)
        try:
            up.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
        subprocess.run(["rm", "-rf", str(data)], check=False)


if __name__ == "__main__":
    raise SystemExit(main())
