"""`kl up`'s secure default (sim runtime): a cluster CA in the data dir with private keys 0600, HTTPS,
a kubeconfig with certificate-authority-data and the kubernetes-admin client certificate that the
real kubectl, kl and the official Python client use unchanged; no credentials get 401, and plain HTTP
on the same port answers kl up's own Unix user only."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from kubelite.etcd.server import find_etcdctl_binary
from tests.cli.cluster import KlUp, kl_argv, run_sync
from tests.security.test_plain_http_owner import call

KUBECTL = "/usr/bin/kubectl"


@pytest.fixture(scope="module")
def secure_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KlUp]:
    data = tmp_path_factory.mktemp("secure") / "kl"
    data.mkdir(mode=0o755)  # a data dir others can read: kl up tightens it, it holds the keys
    data.chmod(0o755)
    up = KlUp(data, args=["--runtime", "sim", "--nodes", "1"])
    up.start()
    try:
        run_sync(up.wait_up())
        yield up
    finally:
        code = up.stop()
        up.kill_leftovers()
        assert code == 0, up.output()


def test_kl_up_secure(secure_up: KlUp, tmp_path: Path) -> None:
    data = secure_up.data_dir
    server = f"https://127.0.0.1:{secure_up.port}"
    assert secure_up.state["server"] == server
    assert data.stat().st_mode & 0o777 == 0o700 and "was mode 755: made 0700" in secure_up.output()
    for key in ("ca.key", "apiserver.key", "admin.key"):
        assert (data / "pki" / key).stat().st_mode & 0o777 == 0o600, key
    doc = yaml.safe_load((data / "kubeconfig").read_text())
    cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
    assert cluster["server"] == server and "certificate-authority-data" in cluster
    assert "token" not in user
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"

    env = {"KUBECONFIG": str(data / "kubeconfig"), "HOME": str(tmp_path)}
    done = subprocess.run([KUBECTL, "get", "nodes", "-o", "name"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["node/node-1"], done.stderr
    done = subprocess.run([KUBECTL, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == "kubernetes-admin", done.stderr
    done = subprocess.run(kl_argv("get", "nodes", "-o", "name"), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "node-1" in done.stdout, done.stderr
    script = ("from kubernetes import client, config\n"
              f"config.load_kube_config({str(data / 'kubeconfig')!r})\n"
              "print(' '.join(n.metadata.name for n in client.CoreV1Api().list_node().items))")
    done = subprocess.run([__import__("sys").executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "node-1", done.stderr

    # no credentials: 401 Status; plain HTTP: no API at all
    context = ssl.create_default_context(cafile=str(data / "pki" / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server}/api/v1/nodes", context=context, timeout=10)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["reason"] == "Unauthorized"
    # plain HTTP on the same port: this user (kl up's) is a cluster admin there, another user gets 401
    plain = f"http://127.0.0.1:{secure_up.port}"
    status, doc = call(f"{plain}/apis/authentication.k8s.io/v1/selfsubjectreviews", "POST",
                       {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert status == 201 and doc["status"]["userInfo"]["username"] == f"kubelite:uid:{os.getuid()}", doc  # type: ignore[index]
    status, doc = call(f"{plain}/api/v1/nodes", uid=os.getuid() + 4322)
    assert status == 401 and doc["reason"] == "Unauthorized", doc  # type: ignore[index]


def test_kl_up_s_etcd_answers_only_its_own_client_certificate(secure_up: KlUp) -> None:
    """etcd's client port: the etcd CA's client pair works; no certificate, or the admin's of the
    cluster CA, fails the handshake (etcdctl, the real client)."""
    state = secure_up.state_now()
    pki = secure_up.data_dir / "pki"
    endpoint = f"https://{state['etcd']}"
    assert state["etcd_tls"]["certfile"] == str(pki / "etcd" / "client.crt")
    assert (pki / "etcd" / "ca.key").stat().st_mode & 0o777 == 0o600

    def etcdctl(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([find_etcdctl_binary(), "--endpoints", endpoint, "--command-timeout=5s",
                               "--dial-timeout=3s", *flags, "get", "/registry/namespaces/default", "--keys-only"],
                              capture_output=True, text=True, timeout=60)

    ca = ["--cacert", str(pki / "etcd" / "ca.crt")]
    allowed = etcdctl(*ca, "--cert", str(pki / "etcd" / "client.crt"), "--key", str(pki / "etcd" / "client.key"))
    assert allowed.returncode == 0 and "/registry/namespaces/default" in allowed.stdout, allowed.stderr
    for refused in (etcdctl(*ca), etcdctl(*ca, "--cert", str(pki / "admin.crt"), "--key", str(pki / "admin.key"))):
        assert refused.returncode != 0 and "/registry/" not in refused.stdout, refused.stdout
        assert "bad certificate" in refused.stderr or "certificate required" in refused.stderr, refused.stderr
    # etcd's own auth is on (kubelite.etcd.auth): the components' certificate is a root-role user
    admin = [find_etcdctl_binary(), "--endpoints", endpoint, "--command-timeout=5s", *ca, "--cert",
             str(pki / "etcd" / "client.crt"), "--key", str(pki / "etcd" / "client.key")]
    status = subprocess.run([*admin, "auth", "status"], capture_output=True, text=True, timeout=60)
    assert "Authentication Status: true" in status.stdout, status.stdout + status.stderr
    users = subprocess.run([*admin, "user", "get", "kubelite-etcd-client"], capture_output=True, text=True, timeout=60)
    assert "Roles: root" in users.stdout, users.stdout + users.stderr
