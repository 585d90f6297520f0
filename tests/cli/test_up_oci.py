"""`kl up --runtime oci`: a Service's pods reached by name from another pod, through the cluster DNS
(listening on node-1's CNI bridge) and the node proxy's rules, as with the docker runtime (issue 18)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from kubelite.cli.up_support import cluster_dns_ip
from kubelite.testing.manifests import as_yaml, client_pod, service, web_deployment
from tests.agent.runtimes import remove_portmap_chains, sh
from tests.cli.cluster import KlUp, run_sync
from tests.helpers import wait_for

pytestmark = pytest.mark.docker  # the shared demo image fixture; the cluster itself runs no Docker
SERVICE_RANGE = "10.234.0.0/16"  # not the default: another cluster on this host may use that one
WEB = as_yaml(web_deployment(1), service("web"), client_pod(termination_grace_period=1))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KlUp]:
    up = KlUp(tmp_path_factory.mktemp("upoci") / "kl",
              ["--runtime", "oci", "--nodes", "1", "--service-cluster-ip-range", SERVICE_RANGE])
    up.start()
    try:
        run_sync(up.wait_up())
        yield up
    finally:
        code = up.stop()
        up.kill_leftovers()
        remove_portmap_chains()  # CNI's shared chains, once no pod uses them
        if "master kl-cni1" not in sh("ip -o link"):  # the bridge kl up made, unless another cluster's pods use it
            subprocess.run(["ip", "link", "delete", "kl-cni1"], capture_output=True, check=False)  # noqa: S603,S607
        assert code == 0, f"after Ctrl-C: exit {code}"


def kubectl(up: KlUp, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["kubectl", "--kubeconfig", up.state["kubeconfig"], *args], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 or not check, done.stderr
    return done


def test_pods_find_a_service_by_name_through_the_cluster_dns(cluster: KlUp) -> None:
    up = cluster
    kubectl(up, "apply", "-f", "-", stdin=WEB)

    def ready() -> bool:
        pods = json.loads(kubectl(up, "get", "pods", "-o", "json").stdout)["items"]
        return len(pods) == 2 and all(any(c["type"] == "Ready" and c["status"] == "True"
                                          for c in (p.get("status") or {}).get("conditions") or []) for p in pods)

    run_sync(wait_for(ready, 120, 0.5, message="web and client ready"))
    resolv = kubectl(up, "exec", "client", "--", "cat", "/etc/resolv.conf").stdout
    assert f"nameserver {cluster_dns_ip(SERVICE_RANGE)}" in resolv and "default.svc.cluster.local" in resolv
    web = json.loads(kubectl(up, "get", "pods", "-l", "app=web", "-o", "json").stdout)["items"][0]["metadata"]["name"]

    def fetched() -> bool:  # busybox nc: its static wget cannot resolve names (see test_services_docker.py)
        done = kubectl(up, "exec", "client", "--", "sh", "-c",
                       "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80", check=False)
        return "200 OK" in done.stdout and web in done.stdout

    run_sync(wait_for(fetched, 60, 1, message=f"web answers by name with its hostname {web}"))
