"""A full etcd (its space quota reached, NOSPACE alarm raised): clients get a prompt 500 that says so, etcd is
left unchanged, and the operator steps of docs/operations.md (compact, defragment, disarm) bring writes back."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from kubelite.etcd.client import EtcdClient, EtcdConfig, connect
from kubelite.etcd.ops import EtcdSpaceExceeded, compact, op_put, range_, txn
from kubelite.etcd.server import EmbeddedEtcd, find_etcdctl_binary
from kubelite.gateway import Gateway
from tests.gateway.conftest import gateway_config, stop_or_explain

pytestmark = pytest.mark.timeout(120)
QUOTA = 4 * 1024 * 1024  # bytes; etcd's default is 2 GiB
CHUNK = b"x" * (256 * 1024)
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "after-full"},
       "spec": {"containers": [{"name": "c", "image": "example/x:1"}]}}
PODS_PATH = "/api/v1/namespaces/default/pods"


@pytest.fixture
async def small_etcd(tmp_path: Path) -> AsyncIterator[EmbeddedEtcd]:
    server = EmbeddedEtcd(data_dir=tmp_path / "etcd", quota_backend_bytes=QUOTA)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def etcdctl(etcd: EmbeddedEtcd, *args: str) -> str:
    result = subprocess.run([str(find_etcdctl_binary()), f"--endpoints={etcd.endpoint}", *args],
                            capture_output=True, text=True, timeout=30, check=True)
    return result.stdout


async def fill(client: EtcdClient) -> int:
    """Write big values until etcd refuses; returns how many it took."""
    for i in range(200):
        try:
            await txn(client, [], [op_put(f"/fill/{i:04d}", CHUNK)], [], what="fill etcd")
        except EtcdSpaceExceeded:
            return i
    raise AssertionError("etcd never reported its space quota exceeded")


async def head(client: EtcdClient) -> int:
    return int((await range_(client, "/", count_only=True, what="test head")).header.revision)


async def test_a_full_etcd_gives_a_prompt_clear_500_and_writes_recover_after_compact_defrag_disarm(
    small_etcd: EmbeddedEtcd,
) -> None:
    client = await connect(EtcdConfig(endpoints=(small_etcd.endpoint,), timeout=3.0))
    gateway = Gateway(gateway_config(small_etcd))
    await gateway.start()
    try:
        assert await fill(client) > 0
        assert "NOSPACE" in etcdctl(small_etcd, "alarm", "list")
        before = await head(client)
        async with aiohttp.ClientSession(base_url=gateway.url) as api:
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with api.post(PODS_PATH, data=json.dumps(POD), headers={"Content-Type": "application/json"}) as r:
                status = await r.json()
                code = r.status
            took = loop.time() - started
            assert code == 500, status  # kube-apiserver's answer: retrying cannot help
            assert (status["kind"], status["reason"], status["code"]) == ("Status", "InternalError", 500)
            assert "database space exceeded" in status["message"] and "NOSPACE" in status["message"], status
            assert took < 5.0, f"the refusal took {took:.1f} s"
            assert await head(client) == before  # nothing written
            async with api.get(f"{PODS_PATH}/after-full") as r:
                assert r.status == 404
            # reads keep working while etcd is full
            async with api.get(PODS_PATH) as r:
                assert r.status == 200

            # the restart of a full etcd must come up (it serves reads and deletes, which the operator needs)
            await small_etcd.restart()

            # the operator's steps (docs/operations.md): free space, compact, defragment, disarm
            await client.delete_prefix(b"/fill/")
            await compact(client, await head(client), what="operator compaction")
            etcdctl(small_etcd, "defrag")
            etcdctl(small_etcd, "alarm", "disarm")
            assert "NOSPACE" not in etcdctl(small_etcd, "alarm", "list")
            async with api.post(PODS_PATH, data=json.dumps(POD), headers={"Content-Type": "application/json"}) as r:
                assert r.status == 201, await r.text()
    finally:
        await stop_or_explain(gateway)
        await client.close()

