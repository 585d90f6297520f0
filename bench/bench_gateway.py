"""Gateway benchmark: GET and LIST (1,000 pods) requests/s and p99, watch fan-out delivery p99.

Runs an embedded etcd and a gateway process (``python -m kubelite.gateway``),
seeds 1,000 pods through the store, then measures:

- GET of one pod, with ``--concurrency`` clients;
- LIST of all 1,000 pods (JSON) and as a Table (what ``kubectl get`` asks for);
- 50 watchers on pods while 1,000 pod updates are written: the time from
  just before each write to each watcher reading the event.

GET and LIST load comes from ``wrk`` (Debian's package: a second process in C, so the load
generator does not eat the gateway's core) when it is installed, else from this process's
aiohttp client. Baseline, same run, same load: a bare aiohttp server (no etcd, no auth)
answering the same bytes — the floor of any Python HTTP server on this machine.

``--profile DIR`` samples the gateway with py-spy during each of its wrk figures (one file per
figure, idle included) and prints each profile's top frames.

Usage: ``.venv/bin/python bench/bench_gateway.py [--pods 1000] [--watchers 50] [--updates 1000] [--profile DIR]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyspy  # noqa: E402  (bench/ is on sys.path when run as a script)
from procstat import cpu_seconds  # noqa: E402
from kubelite.api.resources import PODS  # noqa: E402
from kubelite.client.bootstrap import ensure_system_namespaces  # noqa: E402
from kubelite.etcd.client import EtcdConfig, connect  # noqa: E402
from kubelite.etcd.server import EmbeddedEtcd, free_port  # noqa: E402
from kubelite.storage.store import Store  # noqa: E402
from tests.factories import make_pod  # noqa: E402

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


# a selected LIST: one node's pods of ten (the byte pre-filter skips the others undecoded)
SELECTED = "?fieldSelector=spec.nodeName%3Dnode-1"


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def report(name: str, latencies: list[float], elapsed: float) -> None:
    print(f"{name:<28} {len(latencies) / elapsed:9.1f} req/s   p50 {statistics.median(latencies) * 1000:7.2f} ms"
          f"   p99 {p99(latencies) * 1000:7.2f} ms   ({len(latencies)} requests)")


async def hammer(http: aiohttp.ClientSession, url: str, *, total: int, concurrency: int,
                 headers: dict[str, str] | None = None) -> tuple[list[float], float]:
    latencies: list[float] = []
    remaining = total

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            async with http.get(url, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def wrk(url: str, *, connections: int, seconds: float, headers: dict[str, str] | None = None) -> tuple[float, float]:
    """(requests/s, p99 latency in s) from ``wrk --latency``."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rate, float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


async def bare_server(bodies: dict[str, bytes]) -> tuple[web.AppRunner, str]:
    """The baseline: aiohttp answering fixed bytes per path."""
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.path_qs], content_type="application/json")

    app = web.Application()
    for path in bodies:
        app.router.add_get(path, answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def load_with_wrk(http: aiohttp.ClientSession, base: str, args: argparse.Namespace, gateway_pid: int) -> None:
    print(f"gateway benchmark: {args.pods} pods, load from wrk ({args.seconds:g} s per figure; GET with "
          f"{args.concurrency} connections, LIST with 2); baseline: bare aiohttp answering the same bytes")
    get_path, list_path = "/api/v1/namespaces/default/pods/pod-1", "/api/v1/namespaces/default/pods"
    bodies = {}
    for path in (get_path, list_path, list_path + SELECTED):
        async with http.get(base + path) as response:
            bodies[path] = await response.read()
    runner, bare = await bare_server(bodies)
    try:
        print(f"{'':<28}{'gateway':>26}{'bare aiohttp':>28}{'ratio':>8}")
        for name, path, connections, headers in (
                ("GET pod", get_path, args.concurrency, None),
                (f"LIST {args.pods} pods (JSON)", list_path, 2, None),
                (f"LIST {args.pods} pods (Table)", list_path, 2, {"Accept": TABLE}),
                ("LIST spec.nodeName (1/10)", list_path + SELECTED, 2, None)):
            recorders = []
            if args.profile:
                profile = args.profile / (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".txt")
                recorders.append(pyspy.record(gateway_pid, profile))
            used = cpu_seconds(gateway_pid)
            rate, tail = await asyncio.to_thread(wrk, base + path, connections=connections, seconds=args.seconds,
                                                 headers=headers)
            used = cpu_seconds(gateway_pid) - used
            pyspy.stop(recorders)
            floor, floor_tail = await asyncio.to_thread(wrk, bare + path, connections=connections,
                                                        seconds=args.seconds)
            # the gateway's CPU per request: steadier than req/s on a shared machine (wrk's rate moves
            # with what else runs; the work per request does not)
            print(f"{name:<28}{rate:>9.0f} req/s p99 {tail * 1000:>5.0f} ms"
                  f"{floor:>11.0f} req/s p99 {floor_tail * 1000:>5.0f} ms{rate / floor:>8.2f}"
                  f"   gateway CPU {used * 1000 / max(rate * args.seconds, 1):.3f} ms/request")
            if recorders:
                print(pyspy.summary(profile, top=25))
    finally:
        await runner.cleanup()


async def load_with_python(http: aiohttp.ClientSession, base: str, args: argparse.Namespace) -> None:
    print(f"gateway benchmark: {args.pods} pods, GET/LIST from {args.concurrency} concurrent clients in "
          f"this process (no wrk: client and gateway share the 2 cores; no baseline)")
    latencies, elapsed = await hammer(http, f"{base}/api/v1/namespaces/default/pods/pod-1",
                                      total=args.gets, concurrency=args.concurrency)
    report("GET pod", latencies, elapsed)
    latencies, elapsed = await hammer(http, f"{base}/api/v1/namespaces/default/pods",
                                      total=args.lists, concurrency=2)
    report(f"LIST {args.pods} pods (JSON)", latencies, elapsed)
    latencies, elapsed = await hammer(http, f"{base}/api/v1/namespaces/default/pods",
                                      total=args.lists, concurrency=2, headers={"Accept": TABLE})
    report(f"LIST {args.pods} pods (Table)", latencies, elapsed)
    latencies, elapsed = await hammer(http, f"{base}/api/v1/namespaces/default/pods{SELECTED}",
                                      total=args.lists, concurrency=2)
    report("LIST spec.nodeName (1/10)", latencies, elapsed)
    latencies, elapsed = await hammer(http, f"{base}/api/v1/namespaces/default/pods?limit=500",
                                      total=args.lists, concurrency=2)
    report("LIST limit=500 (1st page)", latencies, elapsed)


async def watch_fanout(http: aiohttp.ClientSession, store: Store, base: str, *, watchers: int,
                       updates: int) -> list[float]:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    rv = (await store.list(PODS, "default", limit=1)).resource_version
    ready = asyncio.Event()
    connected = 0

    async def watcher() -> None:
        nonlocal connected
        url = f"{base}/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}&fieldSelector=metadata.name%3Dpod-0"
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=None)) as stream:
            connected += 1
            if connected == watchers:
                ready.set()
            seen = 0
            async for line in stream.content:
                event = json.loads(line)
                stamp = event["object"]["metadata"]["annotations"]["bench/seq"]
                latencies.append(time.perf_counter() - sent[stamp])
                seen += 1
                if seen == updates:
                    return

    tasks = [asyncio.create_task(watcher()) for _ in range(watchers)]
    await asyncio.wait_for(ready.wait(), 30)
    await asyncio.sleep(0.5)  # every watcher's etcd watch is registered
    pod = await store.get(PODS, "pod-0", "default")
    for seq in range(updates):
        pod.metadata.annotations = {"bench/seq": str(seq)}
        sent[str(seq)] = time.perf_counter()
        pod = await store.update(PODS, pod)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return latencies


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        etcd = EmbeddedEtcd(data_dir=Path(tmp) / "etcd")
        await etcd.start()
        port = free_port()
        gateway = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kubelite.gateway", "--etcd-endpoints", etcd.endpoint,
            "--listen", f"127.0.0.1:{port}", "--log-level", "WARNING", stderr=asyncio.subprocess.DEVNULL,
        )
        client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=10.0))
        base = f"http://127.0.0.1:{port}"
        try:
            store = Store(client)
            await ensure_system_namespaces(store)
            semaphore = asyncio.Semaphore(32)

            async def seed(i: int) -> None:
                async with semaphore:
                    await store.create(PODS, make_pod(f"pod-{i}", node=f"node-{i % 10}", app="bench"))

            await asyncio.gather(*(seed(i) for i in range(args.pods)))
            async with aiohttp.ClientSession() as http:
                for _ in range(100):
                    try:
                        async with http.get(f"{base}/readyz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                if shutil.which("wrk") and not args.python_client:
                    await load_with_wrk(http, base, args, gateway.pid)
                else:
                    await load_with_python(http, base, args)
                started = time.perf_counter()
                deliveries = await watch_fanout(http, store, base, watchers=args.watchers, updates=args.updates)
                elapsed = time.perf_counter() - started
                print(f"watch fan-out {args.watchers} watchers x {args.updates} updates: {len(deliveries)} deliveries "
                      f"in {elapsed:.1f} s, delivery p50 {statistics.median(deliveries) * 1000:.1f} ms, "
                      f"p99 {p99(deliveries) * 1000:.1f} ms, max {max(deliveries) * 1000:.1f} ms")
        finally:
            gateway.terminate()
            await gateway.wait()
            await client.close()
            await etcd.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--gets", type=int, default=3000)
    parser.add_argument("--lists", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0, help="wrk: seconds per figure")
    parser.add_argument("--python-client", action="store_true", help="load from this process even if wrk exists")
    parser.add_argument("--profile", type=Path, help="py-spy the gateway during each wrk figure; files here")
    parser.add_argument("--updates", type=int, default=1000)
    arguments = parser.parse_args()
    if arguments.profile:
        arguments.profile.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(arguments))
