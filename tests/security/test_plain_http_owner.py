"""kl up's default: HTTPS with client certificates and RBAC, and plain HTTP on the same port for the
cluster's local owner only (kubelite.gateway.tlssniff, --plain-http-uid).

The gateway runs as a process with TLS, a client CA, RBAC and ``--plain-http-uid 4321``. Real clients
run as other Unix users (``setpriv``), since the socket's owner is what is checked:
- uid 4321 (the owner) and root get in over plain HTTP, as ``kubelite:uid:<uid>`` in system:masters;
- uid 4322 gets kube's 401 and writes nothing;
- a browser-borne request (foreign Host, foreign Origin) gets 403 and writes nothing;
- HTTPS still works on the same port; a gateway without the flag answers plain HTTP with Go's
  ``400 Client sent an HTTP request to an HTTPS server.``, as kube-apiserver does;
- a client that connects and sends nothing is dropped after the header timeout.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kubelite.auth import pki
from kubelite.etcd.ops import range_
from kubelite.storage.store import Store
from kubelite.testing import Processes
from kubelite.util import clock
from tests.helpers import wait_for

OWNER, OTHER = 4321, 4322
# a client in the standard library only: it runs as another user, outside the venv
CLIENT = """
import json, sys, urllib.request, urllib.error
url, method, body, headers = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
request = urllib.request.Request(url, data=body.encode() or None, method=method,
                                 headers={"Content-Type": "application/json", **headers})
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        print(json.dumps([response.status, response.read().decode()]))
except urllib.error.HTTPError as error:
    print(json.dumps([error.code, error.read().decode()]))
"""


def call(url: str, method: str = "GET", body: object = None, *, uid: int | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, object] | str]:
    """(status, Status or text) of one plain-HTTP request made by a process of ``uid`` (None: ours)."""
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if uid is not None else []
    python = "/usr/bin/python3" if uid is not None else sys.executable
    done = subprocess.run([*as_user, python, "-c", CLIENT, url, method, json.dumps(body) if body else "",
                           json.dumps(headers or {})], capture_output=True, text=True, timeout=60, check=True)
    status, text = json.loads(done.stdout)
    return status, json.loads(text) if text.startswith("{") else text


async def revision(store: Store) -> int:
    return int((await range_(store.client, "/registry/", count_only=True, what="test")).header.revision)


@pytest.fixture
def tls_flags(tmp_path: Path) -> list[str]:
    d = tmp_path / "pki"
    pki.ensure_cluster_pki(d, ("127.0.0.1", "localhost"))
    return ["--tls-cert", str(d / "apiserver.crt"), "--tls-key", str(d / "apiserver.key"),
            "--client-ca-file", str(d / "ca.crt"), "--authorization-mode", "RBAC"]


async def test_plain_http_is_the_local_owner_s_only(processes: Processes, tls_flags: list[str]) -> None:
    processes.start_gateway("gateway", *tls_flags, "--plain-http-uid", str(OWNER), "--request-header-timeout", "2")
    await processes.wait_gateway_ready()
    plain = processes.gateway_url.replace("https://", "http://")
    store = await processes.connect_store()
    namespace = {"metadata": {"name": "owned"}}

    # the owner: a cluster admin over plain HTTP, who may write
    status, doc = call(f"{plain}/apis/authentication.k8s.io/v1/selfsubjectreviews", "POST",
                       {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, uid=OWNER)
    assert status == 201, doc
    assert isinstance(doc, dict)
    user = doc["status"]["userInfo"]  # type: ignore[index]
    assert user["username"] == f"kubelite:uid:{OWNER}" and "system:masters" in user["groups"], user
    status, doc = call(f"{plain}/api/v1/namespaces", "POST", namespace, uid=OWNER)
    assert status == 201, doc
    # root too (it can read the admin kubeconfig anyway)
    status, doc = call(f"{plain}/api/v1/namespaces/owned", uid=0)
    assert status == 200, doc

    before = await revision(store)
    # another user of the machine: no credentials, kube's 401, nothing written
    status, doc = call(f"{plain}/api/v1/namespaces", "POST", {"metadata": {"name": "intruder"}}, uid=OTHER)
    assert status == 401 and isinstance(doc, dict) and doc["reason"] == "Unauthorized", doc
    # the owner's browser on a web page: DNS rebinding (a foreign Host) and a cross-site Origin are refused
    port = plain.rsplit(":", 1)[1]
    for headers in ({"Host": f"attacker.example:{port}"}, {"Origin": "http://attacker.example"}):
        status, doc = call(f"{plain}/api/v1/namespaces", "POST", {"metadata": {"name": "csrf"}}, uid=OWNER,
                           headers=headers)
        assert status == 403 and isinstance(doc, dict) and doc["reason"] == "Forbidden", (headers, doc)
    # the same origin (the dashboard's own requests) is fine
    status, doc = call(f"{plain}/api/v1/namespaces/owned", uid=OWNER, headers={"Origin": plain})
    assert status == 200, doc
    assert await revision(store) == before

    # HTTPS on the same port: no credentials is 401 there, whoever the caller is
    done = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                           f"{processes.gateway_url}/api/v1/namespaces"], capture_output=True, text=True, timeout=30)
    assert done.stdout == "401", done
    # a client that connects and says nothing is dropped after the header timeout (2 s)
    host, port_number = "127.0.0.1", int(port)
    with socket.create_connection((host, port_number)) as silent:
        silent.settimeout(30)
        started = clock.monotonic()
        assert silent.recv(1) == b""  # closed by the gateway, not by our timeout
        assert 1.5 < clock.monotonic() - started < 20


async def test_without_an_owner_plain_http_gets_kube_apiserver_s_400(processes: Processes,
                                                                    tls_flags: list[str]) -> None:
    processes.start_gateway("gateway", *tls_flags)
    await processes.wait_gateway_ready()
    plain = processes.gateway_url.replace("https://", "http://")
    store = await processes.connect_store()
    before = await revision(store)
    host, port = plain.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(b"POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        conn.settimeout(30)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 400 Bad Request"), answer
    assert b"Client sent an HTTP request to an HTTPS server." in answer
    assert await revision(store) == before

    async def https_answers() -> bool:
        done = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                               f"{processes.gateway_url}/api/v1/namespaces"], capture_output=True, text=True,
                              timeout=30)
        return done.stdout == "401"  # HTTPS served on the same port: no credentials is kube's 401
    await wait_for(https_answers, 30, 0.2, message="HTTPS answers 401 without credentials")
