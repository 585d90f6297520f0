"""Racing unconditional writes all land (as kube-apiserver's GuaranteedUpdate retries them), and odd
bodies get a 4xx, never a 500. Found by the chaos update burst and the gateway fuzzer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from kubelite.etcd.client import EtcdConfig
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway, GatewayConfig

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
        "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "demo"}]}}},
}
PATH = "/apis/apps/v1/namespaces/default/deployments"


async def test_concurrent_unconditional_patches_all_land(tmp_path: Path) -> None:
    async with EmbeddedEtcd(data_dir=tmp_path / "etcd") as etcd:
        gateway = Gateway(GatewayConfig(etcd=EtcdConfig(endpoints=(etcd.endpoint,), timeout=3.0), port=0))
        await gateway.start()
        try:
            async with aiohttp.ClientSession(gateway.url, timeout=aiohttp.ClientTimeout(total=60)) as http:
                async with http.post(PATH, json=DEPLOYMENT) as response:
                    assert response.status == 201

                async def scale(n: int) -> int:
                    async with http.patch(f"{PATH}/web", data=json.dumps({"spec": {"replicas": n}}),
                                          headers={"Content-Type": "application/merge-patch+json"}) as response:
                        return response.status

                codes = await asyncio.gather(*(scale(i % 10 + 1) for i in range(200)))
                async with http.patch(f"{PATH}/web/scale", data=json.dumps({"spec": {"replicas": 3}}),
                                      headers={"Content-Type": "application/merge-patch+json"}) as response:
                    assert response.status == 200
                scale_codes = []
                for batch in range(2):
                    async def scale_sub(n: int) -> int:
                        async with http.patch(f"{PATH}/web/scale", data=json.dumps({"spec": {"replicas": n}}),
                                              headers={"Content-Type": "application/merge-patch+json"}) as r:
                            return r.status
                    scale_codes += await asyncio.gather(*(scale_sub(i % 10 + 1) for i in range(100)))
            assert codes.count(200) == 200, f"{codes.count(409)} of 200 unconditional patches refused with 409"
            assert scale_codes.count(200) == 200, f"{scale_codes.count(409)} of 200 /scale patches refused with 409"
        finally:
            await gateway.stop()




async def _gateway_call(tmp_path: Path, method: str, path: str, body: bytes) -> tuple[int, str]:
    async with EmbeddedEtcd(data_dir=tmp_path / "etcd") as etcd:
        gateway = Gateway(GatewayConfig(etcd=EtcdConfig(endpoints=(etcd.endpoint,), timeout=3.0), port=0))
        await gateway.start()
        try:
            async with aiohttp.ClientSession(gateway.url) as http:
                async with http.request(method, path, data=body,
                                        headers={"Content-Type": "application/json"}) as response:
                    return response.status, await response.text()
        finally:
            await gateway.stop()


async def test_delete_with_a_body_that_is_not_utf8_is_a_400(tmp_path: Path) -> None:
    status, text = await _gateway_call(tmp_path, "DELETE", "/api/v1/namespaces/default/pods/x", b"\x80")
    assert status == 400, (status, text)


async def test_an_empty_field_name_in_a_body_is_a_4xx(tmp_path: Path) -> None:
    status, text = await _gateway_call(tmp_path, "POST", "/api/v1/namespaces", b'{"": null}')
    assert 400 <= status < 500, (status, text)
