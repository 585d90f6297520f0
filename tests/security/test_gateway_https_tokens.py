"""The gateway over HTTPS with token auth, as a process, with real requests: every path but
/healthz, /livez (and /readyz, public in Kubernetes too) answers 401 without a valid bearer
token — and writes nothing; the read-only group cannot write; plain HTTP gets no API; the
real kubectl works with the CA and a token, and is refused without."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from kubelite.etcd.ops import range_
from kubelite.storage.store import Store
from kubelite.testing import Api, Processes, deployment_doc

TOKEN = "s3cure-admin-token-for-the-test"
READONLY_TOKEN = "read-only-token-for-the-test"
OPEN = {"/healthz", "/livez", "/readyz"}
KUBECTL = "/usr/bin/kubectl"

FIXED_PATHS = [
    "/", "/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/version", "/metrics", "/openapi/v3",
    "/openapi/v3/api/v1", "/openapi/v2", "/no/such/path", "/api/v1/pods", "/api/v1/namespaces/default/pods?watch=1",
    "/api/v1/namespaces/default/pods/x/log", "/apis/apps/v1/namespaces/default/deployments/x/scale",
    "/api/v1/namespaces/default/pods/x/eviction", "/healthz/../api/v1/nodes", "/livez/../api/v1/nodes",
]


async def revision(store: Store) -> int:
    return int((await range_(store.client, "/registry/", count_only=True, what="test")).header.revision)


async def api_paths(api: Api) -> list[tuple[str, str]]:
    """(method, path) of every operation in the gateway's OpenAPI documents, names filled in."""
    status, root = await api.call("GET", "/openapi/v3")
    assert status == 200
    found = []
    for gv in root["paths"]:
        status, doc = await api.call("GET", f"/openapi/v3/{gv}")
        assert status == 200
        for template, ops in doc["paths"].items():
            path = template.replace("{namespace}", "default").replace("{name}", "x")
            found += [(method.upper(), path) for method in ops]
    return found


async def test_every_path_but_health_needs_a_token_and_nothing_is_written_without(
    processes: Processes, pki: dict[str, str], tmp_path: Path,
) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f'{TOKEN},admin,1,"system:masters"\n{READONLY_TOKEN},viewer,2,"kubelite:readonly"\n')
    processes.start_gateway("gateway", "--token-file", str(tokens), "--tls-cert", pki["server.crt"],
                            "--tls-key", pki["server.key"])
    url = processes.gateway_url
    assert url.startswith("https://")
    store = await processes.connect_store()
    context = ssl.create_default_context(cafile=pki["ca.crt"])
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        async def healthy() -> bool:
            try:
                async with http.get(f"{url}/healthz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False
        from tests.helpers import wait_for
        await wait_for(healthy, 30, 0.1, message="the gateway answers over HTTPS")
        await processes.wait_gateway_ready()  # its start-up writes are done before revisions are compared

        async with Api(url, token=TOKEN, ca_file=pki["ca.crt"]) as admin:
            operations = await api_paths(admin)
            assert len(operations) > 30
            status, _ = await admin.call("POST", "/apis/apps/v1/namespaces/default/deployments",
                                         deployment_doc("web", 1))
            assert status == 201
        operations += [(m, p) for p in FIXED_PATHS for m in ("GET", "POST", "PUT", "PATCH", "DELETE")]
        body = json.dumps(deployment_doc("web", 7)).encode()
        before = await revision(store)
        refused: list[tuple[str, str, Any]] = []
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": "Bearer"}, {"Authorization": f"bearer  {TOKEN}x"}):
            for method, path in operations:
                async with http.request(method, f"{url}{path}", data=body, headers={
                        **headers, "Content-Type": "application/merge-patch+json" if method == "PATCH"
                        else "application/json"}) as response:
                    if response.status != 401:
                        refused.append((method, path, (headers, response.status)))
                    else:
                        doc = await response.json(content_type=None)
                        assert doc["kind"] == "Status" and doc["code"] == 401 and doc["reason"] == "Unauthorized"
        assert not refused, f"answered without a valid token: {refused[:10]}"
        assert await revision(store) == before, "an unauthenticated request wrote to etcd"

        for path in OPEN:
            async with http.get(f"{url}{path}") as response:
                assert response.status == 200, path
        async with Api(url, token=READONLY_TOKEN, ca_file=pki["ca.crt"]) as viewer:
            assert (await viewer.call("GET", "/apis/apps/v1/namespaces/default/deployments/web"))[0] == 200
            status, doc = await viewer.scale("web", 3)
            assert status == 403 and "read-only" in doc["message"]
        assert await revision(store) == before

    # Plain HTTP on the HTTPS port: no API answer.
    async with aiohttp.ClientSession() as plain:
        try:
            async with plain.get(f"{url.replace('https', 'http')}/api/v1/pods") as response:
                assert response.status == 400 and "pods" not in await response.text()
        except aiohttp.ClientError:
            pass  # the server dropped the connection: just as good

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    base = [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), "--server", url,
            "--certificate-authority", pki["ca.crt"], "--request-timeout", "20s"]
    ok = await _run(*base, "--token", TOKEN, "get", "deployments", "-o", "name")
    assert ok == (0, "deployment.apps/web"), ok
    code, out = await _run(*base, "get", "deployments")
    # Refused: kubectl 1.32 answers a 401 by asking for a user name (stdin is empty here).
    assert code != 0 and any(word in out for word in ("Unauthorized", "provide credentials", "Username")), out
    code, out = await _run(KUBECTL, "--kubeconfig", str(kubeconfig), "--server", url, "--token", TOKEN,
                           "get", "pods")
    assert code != 0 and "certificate" in out, "kubectl without the CA must not trust the gateway"
    processes.check_alive()


async def _run(*argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode().strip()
