"""Store throughput and watch latency against an embedded etcd, next to raw aetcd puts.

Run: .venv/bin/python bench/bench_store.py [--objects 2000]
Prints one line per figure; nothing is asserted (figures, not pass/fail).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from kubelite.api.core import Container, Pod, PodSpec
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import PODS
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.etcd.client import EtcdConfig, connect
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.client.informer import FuncHandler, Informer
from kubelite.storage.store import Store

CONCURRENCY = 50


def make_pod(name: str, **labels: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default", labels=labels or None),
        spec=PodSpec(containers=[Container(name="c", image="kubelite/demo:latest")]),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(label: str, count: int, run: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await run()
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    print(f"{label:<44} {rate:10.0f} /s   ({count} in {elapsed:.2f} s)")
    return rate


async def concurrently(count: int, one: Callable[[int], Awaitable[object]]) -> None:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def limited(i: int) -> None:
        async with semaphore:
            await one(i)

    await asyncio.gather(*(limited(i) for i in range(count)))


async def main(objects: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EmbeddedEtcd(data_dir=Path(tmp) / "etcd") as etcd:
            client = await connect(EtcdConfig(endpoints=(etcd.endpoint,)))
            store = Store(client)
            await ensure_system_namespaces(store)
            value = make_pod("x").model_dump_json(by_alias=True).encode()
            print(f"etcd {etcd.endpoint}, {objects} objects, concurrency {CONCURRENCY}")

            async def raw_sequential() -> None:
                for i in range(objects):
                    await client.put(f"/bench/raw/{i}".encode(), value)

            await timed("raw aetcd put, sequential", objects, raw_sequential)
            await timed("raw aetcd put, concurrent", objects,
                        lambda: concurrently(objects, lambda i: client.put(f"/bench/rawc/{i}".encode(), value)))

            async def create_sequential() -> None:
                for i in range(objects):
                    await store.create(PODS, make_pod(f"s{i}", app="bench"))

            await timed("store.create, sequential", objects, create_sequential)
            await timed("store.create, concurrent", objects,
                        lambda: concurrently(objects, lambda i: store.create(PODS, make_pod(f"c{i}", app="bench"))))

            async def relabel(i: int) -> None:
                pod = await store.get(PODS, f"s{i}", "default")
                pod.metadata.labels = {"app": "bench", "round": "2"}
                await store.update(PODS, pod)

            await timed("store.get + update, concurrent", objects, lambda: concurrently(objects, relabel))

            total = 2 * objects
            lists = 5

            async def full_lists() -> None:
                for _ in range(lists):
                    result = await store.list(PODS, "default")
                    assert len(result.items) == total

            rate = await timed(f"store.list of {total} pods (objects decoded)", lists * total, full_lists)
            print(f"{'  = one full list takes':<44} {total / rate * 1000:10.1f} ms")
            await watch_latency(store, objects)
            await client.close()


async def watch_latency(store: Store, objects: int) -> None:
    """Put → informer handler, for updates spaced so each is measured alone."""
    sent: dict[str, float] = {}
    delays: list[float] = []

    def seen(_old: object, new: object) -> None:
        marker = (new.metadata.labels or {}).get("mark")  # type: ignore[attr-defined]
        if marker in sent:
            delays.append(time.perf_counter() - sent.pop(marker))

    informer = Informer(store, PODS, resync_period=0)
    informer.add_handler(FuncHandler(update=seen))
    await informer.start()
    await informer.wait_synced(60)
    samples = min(objects, 1000)
    for i in range(samples):
        pod = informer.get(f"default/s{i}").deep_copy()
        pod.metadata.labels = {"mark": str(i)}
        sent[str(i)] = time.perf_counter()
        await store.update(PODS, pod)
    deadline = time.perf_counter() + 10
    while len(delays) < samples and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    await informer.stop()
    ms = [d * 1000 for d in delays]
    print(f"{'watch latency put→handler (ms)':<44} p50 {statistics.median(ms):.2f}  p99 {percentile(ms, 0.99):.2f}"
          f"  max {max(ms):.2f}  ({len(ms)} samples)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=2000)
    asyncio.run(main(parser.parse_args().objects))
