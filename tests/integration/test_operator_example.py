"""examples/operator against `kl up --runtime sim` and the real kubectl: a WebApp becomes a Deployment
whose ready replicas come back in the WebApp's status; scaling the WebApp scales the Deployment;
deleting it deletes the Deployment."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.cli.cluster import KlUp, run_sync
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(300)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "operator"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webapp_operator", EXAMPLE / "webapp_operator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KlUp]:
    up = KlUp(tmp_path_factory.mktemp("operator") / "data", ["--runtime", "sim", "--nodes", "1"])
    up.start()
    try:
        run_sync(up.wait_up())
        yield up
    finally:
        up.stop()
        up.kill_leftovers()


def kubectl(cluster: KlUp, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["kubectl", "--server", cluster.server, "--request-timeout=20s", *args],
                          capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def get(cluster: KlUp, *args: str) -> Any:
    done = kubectl(cluster, "get", "-o", "json", *args, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def test_desired_deployment_is_owned_and_labelled() -> None:
    example = _load_example()
    webapp = {"metadata": {"name": "hello", "namespace": "default", "uid": "u1"},
              "spec": {"image": "img", "replicas": 3, "port": 80}}
    deployment = example.desired_deployment(webapp)
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["selector"]["matchLabels"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]


async def test_webapp_operator_reconciles_to_a_deployment(cluster: KlUp) -> None:
    example = _load_example()
    kubectl(cluster, "apply", "-f", str(EXAMPLE / "crd.yaml"))
    kubectl(cluster, "apply", "-f", str(EXAMPLE / "webapp.yaml"))
    operator = example.Operator(cluster.server)
    await operator.start()
    try:
        def ready(replicas: int) -> bool:
            webapp, deployment = get(cluster, "webapp", "hello"), get(cluster, "deployment", "hello")
            return (deployment is not None and deployment["spec"]["replicas"] == replicas
                    and (webapp.get("status") or {}).get("readyReplicas") == replicas)

        await wait_for(lambda: ready(2), 60, 0.5, message="the WebApp's 2 replicas ready in its status")
        table = kubectl(cluster, "get", "webapps").stdout.split()
        assert table[:5] == ["NAME", "IMAGE", "DESIRED", "READY", "AGE"] and table[5:9] == [
            "hello", "kubelite/demo:latest", "2", "2"]

        kubectl(cluster, "scale", "webapp", "hello", "--replicas=3")
        await wait_for(lambda: ready(3), 60, 0.5, message="the scaled WebApp's 3 replicas ready")

        kubectl(cluster, "delete", "webapp", "hello")
        await wait_for(lambda: get(cluster, "deployment", "hello") is None, 30, 0.5,
                       message="the WebApp's Deployment deleted with it")
    finally:
        await operator.stop()
