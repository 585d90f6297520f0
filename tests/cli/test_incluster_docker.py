"""In-cluster clients (issue 15): one `kl up --secure --runtime docker` cluster (its own service
range), the official Python client inside a pod with ``load_incluster_config()``.

What it proves, through real parts only (the gateway over HTTPS with RBAC, the agent's
TokenRequest with its node certificate, the node proxy's DNAT of the ``kubernetes`` Service to the
gateway on the Docker bridge, the image of tests/incluster/image.py):

- the pod gets ``KUBERNETES_SERVICE_HOST``/``PORT`` (the service range's first address, 443) and
  the projected ``token``/``ca.crt``/``namespace`` at /var/run/secrets/kubernetes.io/serviceaccount;
- the token is bound to the pod and expires in 3607 s; ``ca.crt`` is the cluster CA;
- with a RoleBinding to ``view`` in its namespace the client lists pods there, and gets 403
  elsewhere (RBAC applies to the ServiceAccount);
- ``automountServiceAccountToken: false`` gives no volume and no mount.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.cli.cluster import KlUp, run_sync
from tests.helpers import wait_for
from tests.incluster import image

pytestmark = pytest.mark.docker
SERVICE_RANGE = "10.235.0.0/16"  # not the default, nor another test cluster's: clusters on one host share its nat table
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
CLIENT = f"""
import base64, json, os
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_incluster_config()
out = {{"host": os.environ["KUBERNETES_SERVICE_HOST"], "port": os.environ["KUBERNETES_SERVICE_PORT"],
        "namespace": open("{MOUNT}/namespace").read(), "ca": open("{MOUNT}/ca.crt").read()}}
token = open("{MOUNT}/token").read()
out["claims"] = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
api = client.CoreV1Api()
out["pods"] = sorted(p.metadata.name for p in api.list_namespaced_pod("apps").items)
try:
    api.list_namespaced_pod("kube-system")
    out["elsewhere"] = 200
except ApiException as exc:
    out["elsewhere"] = exc.status
print("RESULT " + json.dumps(out))
"""


def manifest(name: str, container: dict[str, object], **spec: object) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "apps"},
                       "spec": {"restartPolicy": "Never", "containers": [container], **spec}})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, demo_image: str) -> Iterator[KlUp]:
    image.ensure()
    up = KlUp(tmp_path_factory.mktemp("incluster") / "kl",
              ["--runtime", "docker", "--nodes", "1", "--secure", "--service-cluster-ip-range", SERVICE_RANGE])
    up.start()
    try:
        run_sync(up.wait_up())
        yield up
    finally:
        code = up.stop()
        up.kill_leftovers()
        assert code == 0, up.output()


def kubectl(up: KlUp, *args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", up.state["kubeconfig"], *args], input=stdin,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 or not check, done.stderr
    return done.stdout


def finished(up: KlUp, name: str) -> str:
    """Wait for the pod to end; its logs (the test fails with them if it did not succeed)."""
    def phase() -> bool:
        return kubectl(up, "-n", "apps", "get", "pod", name, "-o", "jsonpath={.status.phase}") in ("Succeeded",
                                                                                                  "Failed")
    run_sync(wait_for(phase, 180, 0.5, message=f"pod {name} finishes"))
    logs = kubectl(up, "-n", "apps", "logs", name)
    assert kubectl(up, "-n", "apps", "get", "pod", name, "-o", "jsonpath={.status.phase}") == "Succeeded", logs
    return logs


def test_official_client_in_a_pod_lists_pods(cluster: KlUp) -> None:
    kubectl(cluster, "create", "namespace", "apps")
    kubectl(cluster, "-n", "apps", "create", "rolebinding", "default-view", "--clusterrole=view",
            "--serviceaccount=apps:default")
    kubectl(cluster, "apply", "-f", "-", stdin=manifest("client", {
        "name": "client", "image": image.IMAGE, "imagePullPolicy": "Never", "args": ["-c", CLIENT]}))
    spec = json.loads(kubectl(cluster, "-n", "apps", "get", "pod", "client", "-o", "json"))["spec"]
    assert spec["serviceAccountName"] == "default"
    (volume,) = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-")
    assert spec["containers"][0]["volumeMounts"] == [{"name": volume["name"], "mountPath": MOUNT, "readOnly": True}]

    logs = finished(cluster, "client")
    result = json.loads(next(line for line in logs.splitlines() if line.startswith("RESULT "))[len("RESULT "):])
    # the `kubernetes` Service: the first address of the cluster's service range
    assert (result["host"], result["port"]) == (str(ipaddress.ip_network(SERVICE_RANGE)[1]), "443")
    assert result["namespace"] == "apps"
    assert result["ca"] == (cluster.data_dir / "pki" / "ca.crt").read_text()
    claims = result["claims"]
    assert claims["sub"] == "system:serviceaccount:apps:default"
    assert claims["kubernetes.io"]["pod"]["name"] == "client"
    assert claims["exp"] - claims["iat"] == 3607
    assert result["pods"] == ["client"]
    assert result["elsewhere"] == 403


def test_automount_false_gives_no_token(cluster: KlUp) -> None:
    kubectl(cluster, "apply", "-f", "-", stdin=manifest(
        "no-token", {"name": "c", "image": "kubelite/demo:latest", "imagePullPolicy": "Never",
                     "command": ["sh", "-c", f"test -e {MOUNT} && echo mounted || echo absent"]},
        automountServiceAccountToken=False))
    spec = json.loads(kubectl(cluster, "-n", "apps", "get", "pod", "no-token", "-o", "json"))["spec"]
    assert "volumes" not in spec and "volumeMounts" not in spec["containers"][0]
    assert finished(cluster, "no-token").strip() == "absent"
