"""The real kubectl 1.32 against a `kl up --runtime sim` cluster: expose a Deployment, create
services (protobuf bodies), and read them back with kubectl's columns and `describe svc`. The sim
runtime moves no packets but gives every pod an address, so the EndpointSlices are the real ones."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.cluster import KlUp, run_sync
from tests.helpers import wait_for

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KlUp]:
    up = KlUp(tmp_path_factory.mktemp("svc") / "kl", ["--runtime", "sim", "--nodes", "2"])
    up.start()
    try:
        run_sync(up.wait_up())
        yield up
    finally:
        up.stop()
        up.kill_leftovers()


async def kubectl(up: KlUp, *args: str, check: bool = True) -> str:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", up.state["kubeconfig"], *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {err.decode()}{out.decode()}")
    return out.decode() + err.decode()


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines() if line.strip()]


def test_expose_create_get_and_describe(cluster: KlUp) -> None:
    run_sync(_scenario(cluster))


async def _scenario(up: KlUp) -> None:
    await kubectl(up, "create", "deployment", "web", "--image", "kubelite/demo:latest", "--replicas", "3",
                  "--port", "8080")
    await kubectl(up, "expose", "deployment", "web", "--port", "80", "--target-port", "8080")
    await kubectl(up, "expose", "deployment", "web", "--name", "web-np", "--port", "80", "--target-port", "8080",
                  "--type", "NodePort")
    await kubectl(up, "create", "service", "clusterip", "plain", "--tcp", "5678:8080")
    await kubectl(up, "create", "service", "nodeport", "np2", "--tcp", "5679:8080", "--node-port", "30123")
    svc = json.loads(await kubectl(up, "get", "svc", "web", "-o", "json"))
    assert svc["spec"]["selector"] == {"app": "web"} and svc["spec"]["ports"][0]["targetPort"] == 8080
    np = json.loads(await kubectl(up, "get", "svc", "web-np", "-o", "json"))
    node_port = np["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767

    # endpoints of 3 ready pods, on both kinds, with kubectl's columns
    async def three_endpoints() -> list[list[str]] | None:
        table = rows(await kubectl(up, "get", "endpointslices", "-l", "kubernetes.io/service-name=web"))
        return table if len(table) == 2 and table[1][3].count(",") == 2 else None

    table = await wait_for(three_endpoints, 60, 0.5, message="3 endpoints in web's slice")
    assert table[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert table[1][0].startswith("web-") and table[1][1:3] == ["IPv4", "8080"]
    ep = rows(await kubectl(up, "get", "ep", "web"))
    assert ep[0] == ["NAME", "ENDPOINTS", "AGE"] and ep[1][1].count(":8080") == 3
    listed = rows(await kubectl(up, "get", "svc,endpointslices,ep"))
    names = {r[0] for r in listed}
    assert {"service/kubernetes", "service/web", "service/web-np", "service/plain", "service/np2",
            "endpoints/web", "endpoints/kubernetes"} <= names
    svc_rows = {r[0]: r for r in rows(await kubectl(up, "get", "svc"))}
    assert svc_rows["web"][1:3] == ["ClusterIP", svc["spec"]["clusterIP"]] and svc_rows["web"][4] == "80/TCP"
    assert svc_rows["web-np"][4] == f"80:{node_port}/TCP" and svc_rows["np2"][4] == "5679:30123/TCP"
    assert svc_rows["kubernetes"][2] == "10.96.0.1"

    described = await kubectl(up, "describe", "svc", "web")
    lines = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in described.splitlines() if ":" in line}
    assert lines["Type"] == "ClusterIP" and lines["IP"] == svc["spec"]["clusterIP"], described
    assert lines["TargetPort"] == "8080/TCP" and lines["Selector"] == "app=web", described
    assert lines["Endpoints"].count(":8080") == 3, described

    # scale to 1: the slice and the Endpoints follow
    await kubectl(up, "scale", "deployment", "web", "--replicas", "1")

    async def one_endpoint() -> Any:
        ep = rows(await kubectl(up, "get", "ep", "web"))
        return len(ep) == 2 and ep[1][1].count(":8080") == 1

    await wait_for(one_endpoint, 60, 0.5, message="web's Endpoints down to 1 address")
    taken = await kubectl(up, "create", "service", "nodeport", "np3", "--tcp", "1:1", "--node-port", "30123",
                          check=False)
    assert "provided port is already allocated" in taken, taken
