"""Services with real packets: one `kl up --runtime docker --nodes 2` cluster (its own service range),
a 3-replica web Deployment behind a Service, a client pod, the node proxy's iptables rules and the
cluster DNS. The steps share the cluster and run in order (issue 13's "Done means").

The client fetches with busybox ``nc`` (an HTTP/1.0 GET over TCP to the service's DNS name): the
demo image's static busybox ``wget`` crashes (SIGSEGV) before sending anything, on host names and
with ``-T`` (static glibc without its NSS modules), so it cannot be the test's client.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
import docker
import pytest

from agent.proxy.rules import chain_prefix
from agent.runtime.base import LABEL_CLUSTER, LABEL_CONTAINER, LABEL_POD_NAME
from kubelite.cli.up_support import docker_bridge_gateway
from kubelite.testing.manifests import as_yaml, client_pod, service, web_deployment
from tests.cli.cluster import KlUp, alive, run_sync
from tests.helpers import wait_for

pytestmark = pytest.mark.docker
CLUSTER: dict[str, str] = {}  # the module's cluster uid (scopes docker lookups to its containers)
SERVICE_RANGE = "10.233.0.0/16"  # not the default: another cluster on this host may use that one
WEB = as_yaml(web_deployment(3, port_name="http"), service("web", target_port="http"),
              service("web-np", type="NodePort"), service("sticky", sessionAffinity="ClientIP"),
              service("nothing", selector="nothing", target_port=None), client_pod())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, demo_image: str) -> Iterator[KlUp]:
    up = KlUp(tmp_path_factory.mktemp("svcdocker") / "kl",
              ["--runtime", "docker", "--nodes", "2", "--service-cluster-ip-range", SERVICE_RANGE])
    up.start()
    try:
        run_sync(up.wait_up())
        CLUSTER["uid"] = up.state_now()["cluster_uid"]
        yield up
    finally:
        prefixes = [chain_prefix(up.state_now().get("cluster_uid", ""), node) for node in ("node-1", "node-2")]
        code = up.stop()
        up.kill_leftovers()
        leftover = [line for line in _nat() if any(p in line for p in prefixes)]
        assert code == 0 and not leftover, f"after Ctrl-C: exit {code}, rules left: {leftover[:5]}"


def kubectl(up: KlUp, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", up.state["kubeconfig"], *args], input=stdin,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _nat() -> list[str]:
    return subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout.splitlines()


def client_exec(command: str) -> str:
    client = docker.from_env(timeout=30)
    try:
        (container,) = client.containers.list(filters={"label": [
            f"{LABEL_CLUSTER}={CLUSTER['uid']}", f"{LABEL_POD_NAME}=client", f"{LABEL_CONTAINER}=client"]})
        result = container.exec_run(["sh", "-c", command])
        return result.output.decode(errors="replace")
    finally:
        client.close()


def fetch(name: str, port: int = 80) -> str:
    """One HTTP GET from the client pod by name; the responding replica's hostname ('' on failure)."""
    out = client_exec(f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {name} {port}")
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    return lines[-1] if lines and "200 OK" in out else ""


def answers(name: str, count: int) -> list[str]:
    return [fetch(name) for _ in range(count)]


def ready_ips(up: KlUp) -> list[str]:
    """The ready addresses of the web Service's Endpoints; none while the endpoints controller has not
    written them yet (right after the apply)."""
    out = kubectl(up, "get", "endpoints", "web", "-o", "json", "--ignore-not-found")
    doc = json.loads(out) if out.strip() else {}
    return sorted(a["ip"] for s in doc.get("subsets") or [] for a in s.get("addresses") or [])


def hostname_of(ip: str) -> str:
    return fetch(ip, 8080)


def test_traffic_reaches_ready_pods_by_service_name(cluster: KlUp) -> None:
    up = cluster
    kubectl(up, "apply", "-f", "-", stdin=WEB)
    run_sync(wait_for(lambda: len(ready_ips(up)) == 3, 120, 0.5, message="3 ready endpoints"))
    run_sync(wait_for(lambda: client_exec("echo ok").strip() == "ok", 60, 0.5, ignore=(ValueError, docker.errors.APIError),
                      message="the client pod running"))
    replicas = {hostname_of(ip) for ip in ready_ips(up)}
    pods = json.loads(kubectl(up, "get", "pods", "-l", "app=web", "-o", "json"))["items"]
    assert replicas == {p["metadata"]["name"] for p in pods}  # each pod's hostname is its name, as in kube
    # by the full name and the short one (search path), through the cluster DNS and the node proxy
    assert fetch("web.default.svc.cluster.local") in replicas
    assert fetch("web") in replicas
    seen: set[str] = set()

    def all_three() -> bool:
        seen.update(answers("web", 5))
        return seen >= replicas

    run_sync(wait_for(all_three, 60, 0, message=f"answers from all of {replicas}"))
    assert len(set(answers("sticky", 10))) == 1  # ClientIP affinity: one client, one replica
    started = time.monotonic()  # no endpoints: refused at once (REJECT), not left to time out (nc -w 5)
    refused = client_exec("nc -w 5 nothing.default.svc.cluster.local 80 </dev/null; echo rc=$?")
    assert "rc=0" not in refused and time.monotonic() - started < 3, refused
    env = client_exec("env")
    assert "WEB_SERVICE_HOST=10.233." in env and "WEB_SERVICE_PORT=80" in env  # existed when the client started
    resolv = client_exec("cat /etc/resolv.conf")
    assert "nameserver 10.233.0.10" in resolv and "default.svc.cluster.local" in resolv and "ndots:5" in resolv


def test_pods_and_services_proxy_through_the_gateway(cluster: KlUp) -> None:
    """kubectl get --raw through pods/proxy (by port name and number) and services/proxy (the port's
    target resolved through the EndpointSlices); a pod with no listener is kube's 503."""
    up = cluster
    pods = {p["metadata"]["name"] for p in json.loads(kubectl(up, "get", "pods", "-l", "app=web", "-o", "json"))["items"]}
    name = sorted(pods)[0]
    base = "/api/v1/namespaces/default"
    assert kubectl(up, "get", "--raw", f"{base}/pods/{name}:8080/proxy/").strip() == name
    assert kubectl(up, "get", "--raw", f"{base}/pods/{name}:http/proxy/index.html").strip() == name
    served = {kubectl(up, "get", "--raw", f"{base}/services/web:80/proxy/").strip() for _ in range(12)}
    assert served <= pods and served, served
    assert kubectl(up, "get", "--raw", f"{base}/services/http:web:/proxy/").strip() in pods  # [scheme:]name[:port]
    missing = subprocess.run(["kubectl", "--kubeconfig", up.state["kubeconfig"], "get", "--raw",
                              f"{base}/pods/{name}:9/proxy/"], capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "ServiceUnavailable" in missing.stderr, missing.stderr


def routed_to(up: KlUp, ips: set[str]) -> set[str]:
    """Which of ``ips`` this cluster's node proxies' DNAT rules still send traffic to (only its own
    chains: a pod IP may be reused by another cluster's leftovers)."""
    nodes = kubectl(up, "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").split()
    chains = tuple(f"-A {chain_prefix(CLUSTER['uid'], node)}" for node in nodes)
    return {ip for line in _nat() if line.startswith(chains) for ip in ips if f"--to-destination {ip}:" in line}


def test_scaled_down_and_deleted_pods_get_no_traffic(cluster: KlUp) -> None:
    """Once the node proxies have the new endpoints (their iptables rules, which follow the
    EndpointSlice a moment later, as kube-proxy's), a removed pod gets no traffic."""
    up = cluster
    before = set(ready_ips(up))
    kubectl(up, "scale", "deployment", "web", "--replicas", "1")
    run_sync(wait_for(lambda: len(ready_ips(up)) == 1, 60, 0.3, message="1 endpoint after scaling to 1"))
    (only,) = ready_ips(up)
    survivor = hostname_of(only)
    run_sync(wait_for(lambda: not routed_to(up, before - {only}), 30, 0.1, message="the proxies' rules without the removed pods"))
    assert set(answers("web", 12)) == {survivor}
    kubectl(up, "scale", "deployment", "web", "--replicas", "2")
    run_sync(wait_for(lambda: len(ready_ips(up)) == 2, 60, 0.3, message="2 endpoints"))
    pods = json.loads(kubectl(up, "get", "pods", "-l", "app=web", "-o", "json"))["items"]
    victim = next(p for p in pods if p["status"].get("podIP") == only)
    kubectl(up, "delete", "pod", victim["metadata"]["name"], "--wait=false")
    run_sync(wait_for(lambda: only not in ready_ips(up), 30, 0.2, message="the deleted pod out of the endpoints"))
    run_sync(wait_for(lambda: not routed_to(up, {only}), 30, 0.1, message="the proxies' rules without the deleted pod"))
    assert survivor not in set(answers("web", 12))


def test_node_port_answers_on_the_host(cluster: KlUp) -> None:
    service = json.loads(kubectl(cluster, "get", "svc", "web-np", "-o", "json"))
    node_port = service["spec"]["ports"][0]["nodePort"]
    host_ip = docker_bridge_gateway()
    with urllib.request.urlopen(f"http://{host_ip}:{node_port}/", timeout=10) as response:
        assert response.status == 200 and response.read().strip()
    cluster_ip = service["spec"]["clusterIP"]
    with urllib.request.urlopen(f"http://{cluster_ip}/", timeout=10) as response:  # the ClusterIP, from the host
        assert response.status == 200


def test_a_restarted_agent_repairs_its_rules(cluster: KlUp) -> None:
    up = cluster
    pid = up.state_now()["processes"]["node-1"]
    os.kill(pid, signal.SIGKILL)  # no clean-up: its rules stay, and go stale below
    run_sync(wait_for(lambda: not alive(pid), 10, 0.1))
    kubectl(up, "scale", "deployment", "web", "--replicas", "3")
    run_sync(wait_for(lambda: len(ready_ips(up)) == 3, 90, 0.5, message="3 endpoints again"))
    run_sync(wait_for(lambda: up.state_now()["processes"]["node-1"] != pid, 60, 0.5, message="node-1 restarted"))

    def node1_rules_current() -> bool:
        rules = [line for line in _nat() if line.startswith("-A ") and "-j DNAT" in line]
        jumps = [line for line in _nat() if "kubelite node proxy node-1 " in line]
        prefix = jumps[0].rsplit(" -j ", 1)[1].split("-")[0] if jumps else None
        mine = [line for line in rules if prefix and line.startswith(f"-A {prefix}-SEP-") and ":8080" in line]
        return len(jumps) == 3 and {line.rsplit("--to-destination ", 1)[1].split(":")[0] for line in mine} == set(
            ready_ips(up))

    run_sync(wait_for(node1_rules_current, 60, 0.5, message="node-1's DNAT rules = the 3 ready endpoints"))
    seen: set[str] = set()
    replicas = {hostname_of(ip) for ip in ready_ips(up)}
    run_sync(wait_for(lambda: seen.update(answers("web", 5)) or seen >= replicas, 60, 0, message="all 3 answer"))


