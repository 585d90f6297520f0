"""Services on the docker runtime: the node proxy's cost, endpoint propagation, and DNS.

Starts ``kl up --runtime docker --nodes 2`` (its own data dir, port and service range), applies a
web Deployment (busybox httpd) behind a Service and a client pod, then prints:

1. requests per second and p50/p99 latency of HTTP GETs (a new TCP connection each: busybox httpd
   closes it) from inside the client pod's network namespace (``nsenter -n`` into its sandbox, so
   the packets take a pod's path: PREROUTING DNAT, the bridge) — through the ClusterIP, and to one
   pod's IP directly beside it, same run: the ratio is the proxy's cost;
2. for ``--pods`` pods scaled up at once: from the pod seen Ready to its address ready in the
   EndpointSlice to the DNAT rule for it present on every node (pods, slices and ``iptables-save``
   polled together about every 50 ms, the figures' resolution): p50/p99 of each step;
3. the cluster DNS: queries per second and p50/p99 for ``web.default.svc.cluster.local`` A, over
   UDP from the host with ``--dns-concurrency`` queries in flight.

Then stops ``kl up`` (SIGINT). Needs root (nsenter, iptables-save) and a Docker Engine.

    .venv/bin/python bench/bench_service.py [--seconds 5] [--concurrency 8] [--pods 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import dnslib  # noqa: E402
import docker  # noqa: E402

from kubelite.etcd.server import free_port  # noqa: E402
from kubelite.testing.manifests import as_yaml, client_pod, service, web_deployment  # noqa: E402

SERVICE_RANGE = "10.232.0.0/16"
MANIFEST = as_yaml(web_deployment(3), service("web"), client_pod())

# Runs inside the client pod's network namespace (nsenter -n): N workers, each GET on a new connection.
HTTP_CLIENT = r"""
import asyncio, json, sys, time
host, port, seconds, concurrency = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
latencies, errors = [], 0
async def worker(deadline):
    global errors
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            await asyncio.wait_for(reader.read(), 3)
            writer.close()
            latencies.append(time.monotonic() - start)
        except Exception:
            errors += 1
async def main():
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(worker(deadline) for _ in range(concurrency)))
asyncio.run(main())
print(json.dumps({"latencies": latencies, "errors": errors}), flush=True)
"""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout


def wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def ready_ips(kubeconfig: str) -> list[str]:
    doc = json.loads(kubectl(kubeconfig, "get", "endpoints", "web", "-o", "json"))
    return sorted(a["ip"] for s in doc.get("subsets") or [] for a in s.get("addresses") or [])


def client_pid(uid: str) -> int:
    client = docker.from_env(timeout=30)
    try:
        sandboxes = client.containers.list(filters={"label": [
            f"kubelite.cluster.uid={uid}", "kubelite.pod.name=client", "kubelite.container.name=POD"]})
        if not sandboxes:
            sandboxes = [c for c in client.containers.list(filters={"label": [
                f"kubelite.cluster.uid={uid}", "kubelite.pod.name=client"]})]
        return int(sandboxes[0].attrs["State"]["Pid"])
    finally:
        client.close()


def http_load(pid: int, host: str, port: int, seconds: float, concurrency: int) -> dict[str, float]:
    done = subprocess.run(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", HTTP_CLIENT, host, str(port),
                           str(seconds), str(concurrency)], capture_output=True, text=True, timeout=seconds + 60)
    result = json.loads(done.stdout)
    latencies = result["latencies"]
    return {"rps": len(latencies) / seconds, "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000, "errors": result["errors"]}


def dnat_targets() -> str:
    return subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout


def propagation(server: str, kubeconfig: str, pods: int, nodes: int) -> dict[str, list[float]]:
    """Scale to ``pods``; per new pod, when it was first seen Ready, ready in the slice, and DNAT-ed
    by every node (all three polled together, one round per ~50 ms: that is the resolution)."""
    before = set(ready_ips(kubeconfig))
    seen_ready: dict[str, float] = {}
    in_slice: dict[str, float] = {}
    in_rules: dict[str, float] = {}

    def get(path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{server}{path}", timeout=10) as response:
            return json.loads(response.read())

    kubectl(kubeconfig, "scale", "deployment", "web", "--replicas", str(pods))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and len(in_rules) < pods - len(before):
        pod_list = get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")["items"]
        slices = get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
                     "?labelSelector=kubernetes.io%2Fservice-name%3Dweb")["items"]
        rules = dnat_targets()
        now = time.monotonic()
        for pod in pod_list:
            status = pod.get("status") or {}
            ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
            if ready and status.get("podIP") and status["podIP"] not in before:
                seen_ready.setdefault(status["podIP"], now)
        for slice_ in slices:
            for endpoint in slice_.get("endpoints") or []:
                ip = endpoint["addresses"][0]
                if (endpoint.get("conditions") or {}).get("ready") and ip not in before:
                    in_slice.setdefault(ip, now)
        for ip in in_slice:
            if ip not in in_rules and rules.count(f"--to-destination {ip}:8080") >= nodes:
                in_rules[ip] = now
        time.sleep(0.05)
    common = [ip for ip in in_rules if ip in seen_ready and ip in in_slice]
    return {"ready_to_slice": [max(0.0, in_slice[ip] - seen_ready[ip]) for ip in common],
            "slice_to_rules": [max(0.0, in_rules[ip] - in_slice[ip]) for ip in common],
            "ready_to_rules": [max(0.0, in_rules[ip] - seen_ready[ip]) for ip in common]}


async def dns_load(server: tuple[str, int], seconds: float, concurrency: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failures = 0

    class Client(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.waiting: asyncio.Future[bytes] | None = None

        def datagram_received(self, data: bytes, addr: Any) -> None:
            if self.waiting is not None and not self.waiting.done():
                self.waiting.set_result(data)

    async def worker(deadline: float) -> None:
        nonlocal failures
        transport, protocol = await loop.create_datagram_endpoint(Client, remote_addr=server)
        try:
            while time.monotonic() < deadline:
                query = dnslib.DNSRecord.question("web.default.svc.cluster.local", "A").pack()
                protocol.waiting = loop.create_future()
                start = time.monotonic()
                transport.sendto(query)
                try:
                    reply = dnslib.DNSRecord.parse(await asyncio.wait_for(protocol.waiting, 2))
                    if reply.rr:
                        latencies.append(time.monotonic() - start)
                    else:
                        failures += 1
                except TimeoutError:
                    failures += 1
        finally:
            transport.close()

    deadline = time.monotonic() + seconds
    await asyncio.gather(*(worker(deadline) for _ in range(concurrency)))
    return {"qps": len(latencies) / seconds, "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000, "failures": failures}


def main() -> int:  # noqa: C901 - the steps in order
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--dns-concurrency", type=int, default=16)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-service-"))
    port = free_port()
    out = open(data_dir / "kl-up.out", "wb")  # noqa: SIM115 - closed at the end
    proc = subprocess.Popen([sys.executable, "-m", "kubelite.cli", "up", "--runtime", "docker", "--nodes", "2",
                             "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir / "kl"),
                             "--service-cluster-ip-range", SERVICE_RANGE], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait(lambda: b"kubelite is up" in (data_dir / "kl-up.out").read_bytes(), 120, "kl up")
        state = json.loads((data_dir / "kl" / "up.json").read_text())
        kubeconfig = state["kubeconfig"]
        kubectl(kubeconfig, "apply", "-f", "-", stdin=MANIFEST)
        wait(lambda: len(ready_ips(kubeconfig)) == 3, 120, "3 ready endpoints")
        cluster_ip = json.loads(kubectl(kubeconfig, "get", "svc", "web", "-o", "json"))["spec"]["clusterIP"]
        pid = wait(lambda: client_pid(state["cluster_uid"]), 60, "the client pod")
        pod_ip = ready_ips(kubeconfig)[0]
        http_load(pid, pod_ip, 8080, 1.0, args.concurrency)  # warm-up
        direct = http_load(pid, pod_ip, 8080, args.seconds, args.concurrency)
        via_service = http_load(pid, cluster_ip, 80, args.seconds, args.concurrency)
        print(f"HTTP GET from a client pod, new connection each, {args.concurrency} in flight, {args.seconds:g} s each:", flush=True)
        for name, figures in (("pod IP directly", direct), ("ClusterIP (3 endpoints)", via_service)):
            print(f"  {name:24s} {figures['rps']:8.0f} req/s  p50 {figures['p50_ms']:6.2f} ms  "
                  f"p99 {figures['p99_ms']:6.2f} ms  errors {figures['errors']:.0f}")
        print(f"  ClusterIP / direct: {via_service['rps'] / direct['rps']:.2f} of the rate, "
              f"p99 x{via_service['p99_ms'] / direct['p99_ms']:.2f}")
        dns_ip = [line for line in (data_dir / "kl" / "logs" / "dns.log").read_text().splitlines() if "cluster DNS on" in line]
        dns_host, dns_port = json.loads(dns_ip[-1])["msg"].split()[3].rsplit(":", 1)
        dns = asyncio.run(dns_load((dns_host, int(dns_port)), args.seconds, args.dns_concurrency))
        print(f"cluster DNS, A web.default.svc.cluster.local over UDP, {args.dns_concurrency} in flight: "
              f"{dns['qps']:.0f} queries/s  p50 {dns['p50_ms']:.2f} ms  p99 {dns['p99_ms']:.2f} ms  "
              f"failures {dns['failures']:.0f}")
        steps = propagation(f"http://127.0.0.1:{port}", kubeconfig, args.pods, nodes=2)
        print(f"endpoint propagation, {len(steps['ready_to_rules'])} new pods (scaled 3 -> {args.pods}):", flush=True)
        for name, values in steps.items():
            print(f"  {name:16s} p50 {statistics.median(values) * 1000 if values else float('nan'):8.0f} ms  "
                  f"p99 {percentile(values, 0.99) * 1000:8.0f} ms")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()
        print(f"kl up stopped (exit {proc.returncode}); its output: {data_dir / 'kl-up.out'}", flush=True)
    return 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root: nsenter into the client pod, iptables-save")
    sys.exit(main())
