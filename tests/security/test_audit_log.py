"""The audit log (kube-apiserver's --audit-log-path / --audit-policy-file) with a real etcd, RBAC,
token authentication over HTTPS, and the real kubectl: writes are logged with kube's Event fields,
denials with their 403 and the authorizer's decision, failed authentication with 401 and no user,
each policy level records what kube's does, and a bad policy file stops the gateway with one line."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubelite.etcd.server import EmbeddedEtcd, free_port
from kubelite.gateway import Gateway
from kubelite.gateway.__main__ import config_from_args, parse_args
from kubelite.gateway.audit_log import AuditLog, AuditLogOptions, SizeRotatingFile
from tests.gateway.conftest import Kubectl, gateway_config
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(120)

TOKENS = ('admin-token,admin,1,"system:masters"\nviewer-token,viewer,2,kubelite:readonly\n'
          'quiet-token,quiet,3,"system:masters"\n')
ADMIN = {"Authorization": "Bearer admin-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
QUIET = {"Authorization": "Bearer quiet-token"}


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


async def wait_events(path: Path, want: Any, message: str) -> list[dict[str, Any]]:
    """The log's events once ``want(events)`` holds (the writer thread appends shortly after the answer)."""
    found: list[dict[str, Any]] = []

    async def ready() -> bool:
        nonlocal found
        found = events(path)
        return bool(want(found))
    await wait_for(ready, 15, 0.05, message=message)
    return found


async def audited_gateway(etcd: EmbeddedEtcd, tmp_path: Path, tls_files: tuple[Path, Path],
                          policy: str | None = None) -> Gateway:
    token_file = tmp_path / "tokens.csv"
    token_file.write_text(TOKENS)
    policy_file = None
    if policy is not None:
        policy_file = tmp_path / "policy.yaml"
        policy_file.write_text(policy)
    cert, key = tls_files
    gw = Gateway(gateway_config(etcd, token_file=token_file, tls_cert=cert, tls_key=key, authorization_mode="RBAC",
                                audit=AuditLogOptions(path=str(tmp_path / "audit" / "audit.log"),
                                                      policy_file=policy_file)))
    await gw.start()
    return gw


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",  # noqa: S607
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
async def default_policy(etcd: EmbeddedEtcd, tmp_path: Path, tls_files: tuple[Path, Path]) -> AsyncIterator[Gateway]:
    gw = await audited_gateway(etcd, tmp_path, tls_files)
    try:
        yield gw
    finally:
        await gw.stop()


async def test_default_policy_logs_writes_by_kubectl_and_denials(default_policy: Gateway, tmp_path: Path,
                                                                  tls_files: tuple[Path, Path]) -> None:
    log = tmp_path / "audit" / "audit.log"
    assert log.stat().st_mode & 0o777 == 0o600
    home = tmp_path / "home"
    home.mkdir()
    admin = Kubectl(default_policy.url, home, token="admin-token", ca_file=tls_files[0])
    await admin("create", "namespace", "team")  # a protobuf body: the name comes from the object
    await admin("create", "configmap", "settings", "-n", "team", "--from-literal", "color=blue")
    await admin("get", "configmaps", "-n", "team")  # a read: not logged by the default policy
    await admin("delete", "configmap", "settings", "-n", "team")
    viewer = Kubectl(default_policy.url, home, token="viewer-token", ca_file=tls_files[0])
    denied = await viewer("create", "namespace", "forbidden-ns", check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr
    async with aiohttp.ClientSession(base_url=default_policy.url, connector=aiohttp.TCPConnector(ssl=False)) as http:
        async with http.post("/api/v1/namespaces", json={"metadata": {"name": "x"}},
                             headers={"Authorization": "Bearer wrong", "Audit-ID": "my-own-id"}) as r:
            assert r.status == 401
            assert r.headers["Audit-Id"] == "my-own-id"
        async with http.post("/api/v1/namespaces/team/configmaps", json={"metadata": {"name": "y"}},
                             headers={**ADMIN, "Impersonate-User": "someone"}) as r:
            assert r.status == 403  # someone holds nothing

    found = await wait_events(log, lambda es: len(es) >= 6, "six audit events")
    assert all(e["kind"] == "Event" and e["apiVersion"] == "audit.k8s.io/v1" for e in found)
    assert [e["verb"] for e in found] == ["create", "create", "delete", "create", "create", "create"], found
    create_ns, create_cm, delete_cm, forbidden, unauthenticated, impersonating = found

    assert create_ns["level"] == "Metadata" and create_ns["stage"] == "ResponseComplete"
    assert create_ns["requestURI"].startswith("/api/v1/namespaces")
    assert create_ns["user"] == {"username": "admin", "uid": "1", "groups": ["system:masters", "system:authenticated"]}
    assert create_ns["objectRef"] == {"resource": "namespaces", "name": "team", "apiVersion": "v1"}
    assert create_ns["responseStatus"] == {"metadata": {}, "code": 201}
    assert create_ns["userAgent"].startswith("kubectl")
    assert create_ns["sourceIPs"] == ["127.0.0.1"]
    assert create_ns["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert "requestObject" not in create_ns and "responseObject" not in create_ns
    assert create_ns["requestReceivedTimestamp"] <= create_ns["stageTimestamp"]
    assert create_ns["requestReceivedTimestamp"].endswith("Z") and len(create_ns["requestReceivedTimestamp"]) == 27
    assert len({e["auditID"] for e in found}) == 6

    assert create_cm["objectRef"] == {"resource": "configmaps", "namespace": "team", "name": "settings",
                                      "apiVersion": "v1"}
    assert "color" not in json.dumps(create_cm)  # Metadata: no bodies
    assert delete_cm["objectRef"]["name"] == "settings" and delete_cm["responseStatus"]["code"] == 200

    assert forbidden["user"]["username"] == "viewer" and forbidden["responseStatus"]["code"] == 403
    assert forbidden["responseStatus"]["reason"] == "Forbidden"
    assert forbidden["annotations"]["authorization.k8s.io/decision"] == "forbid"

    assert unauthenticated["auditID"] == "my-own-id"
    assert unauthenticated["stage"] == "ResponseStarted" and unauthenticated["user"] == {}
    assert unauthenticated["responseStatus"]["code"] == 401
    assert unauthenticated["responseStatus"]["reason"] == "Unauthorized"
    assert "annotations" not in unauthenticated

    assert impersonating["user"]["username"] == "admin"  # who asked; the policy saw that user too
    assert impersonating["impersonatedUser"] == {"username": "someone", "groups": ["system:authenticated"]}
    assert impersonating["responseStatus"]["code"] == 403
    assert impersonating["annotations"]["authorization.k8s.io/decision"] == "forbid"


POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    users: [quiet]
  - level: Metadata
    resources: [{group: "", resources: [secrets]}]
    omitStages: [RequestReceived]
  - level: RequestResponse
    resources: [{group: "", resources: [configmaps]}]
    omitStages: [RequestReceived]
  - level: Request
    verbs: [create, patch]
    namespaces: [team]
    omitStages: [RequestReceived]
  - level: Metadata
    verbs: [watch]
    resources: [{group: "", resources: [pods]}]
    omitStages: [RequestReceived]
  - level: Metadata
    nonResourceURLs: [/version]
    omitStages: [ResponseComplete, RequestReceived]
  - level: Metadata
    nonResourceURLs: ["/openapi/*"]
"""


@pytest.fixture
async def with_policy(etcd: EmbeddedEtcd, tmp_path: Path, tls_files: tuple[Path, Path]) -> AsyncIterator[Gateway]:
    gw = await audited_gateway(etcd, tmp_path, tls_files, POLICY)
    try:
        yield gw
    finally:
        await gw.stop()


async def test_policy_levels(with_policy: Gateway, tmp_path: Path) -> None:
    log = tmp_path / "audit" / "audit.log"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "v1"}}
    async with aiohttp.ClientSession(base_url=with_policy.url, connector=aiohttp.TCPConnector(ssl=False),
                                     headers=ADMIN) as http:
        async with http.post("/api/v1/namespaces", json={"metadata": {"name": "team"}}) as r:
            assert r.status == 201  # no rule: None
        async with http.post("/api/v1/namespaces/team/secrets", json=secret) as r:
            assert r.status == 201
        async with http.post("/api/v1/namespaces/team/configmaps", json=configmap) as r:
            assert r.status == 201
        async with http.post("/api/v1/namespaces/team/serviceaccounts",
                             json={"metadata": {"name": "robot"}}) as r:
            assert r.status == 201
        async with http.post("/api/v1/namespaces/team/configmaps", json={"metadata": {"name": "q"}},
                             headers=QUIET) as r:
            assert r.status == 201  # quiet's requests: None, whatever else matches later
        async with http.get("/version") as r:
            assert r.status == 200
        async with http.get("/openapi/v3") as r:
            assert r.status == 200
        async with http.get("/api/v1/namespaces/team/pods?watch=1&timeoutSeconds=1") as r:
            assert r.status == 200
            await r.read()
    found = await wait_events(log, lambda es: any(e["verb"] == "watch" and e["stage"] == "ResponseComplete"
                                                  for e in es), "the watch's last event")
    by_resource = [(e.get("objectRef", {}).get("resource") or e["requestURI"], e["stage"], e["level"]) for e in found]
    assert by_resource == [
        ("secrets", "ResponseComplete", "Metadata"),
        ("configmaps", "ResponseComplete", "RequestResponse"),
        ("serviceaccounts", "ResponseComplete", "Request"),
        ("/openapi/v3", "RequestReceived", "Metadata"),  # /version: its only stages are omitted by its rule
        ("/openapi/v3", "ResponseComplete", "Metadata"),
        ("pods", "ResponseStarted", "Metadata"),  # long-running: started, then complete
        ("pods", "ResponseComplete", "Metadata"),
    ], by_resource
    secret_event, cm_event, sa_event = found[:3]
    assert "hunter2" not in json.dumps(secret_event) and "requestObject" not in secret_event
    assert cm_event["requestObject"]["data"] == {"k": "v1"}
    assert cm_event["responseObject"]["metadata"]["name"] == "cm" and cm_event["responseObject"]["metadata"]["uid"]
    assert sa_event["requestObject"]["metadata"]["name"] == "robot" and "responseObject" not in sa_event
    assert not any(e["user"]["username"] == "quiet" for e in found)
    received, complete = found[3:5]
    assert received["verb"] == "get" and "objectRef" not in received and received["auditID"] == complete["auditID"]
    assert received["stageTimestamp"] == received["requestReceivedTimestamp"] == complete["requestReceivedTimestamp"]
    assert "responseStatus" not in received and "annotations" not in received  # not answered nor authorized yet
    assert complete["annotations"]["authorization.k8s.io/decision"] == "allow"
    watch = [e for e in found if e["verb"] == "watch"]
    assert [e["stage"] for e in watch] == ["ResponseStarted", "ResponseComplete"]
    assert all(e["responseStatus"]["code"] == 200 for e in watch)
    assert [e["requestURI"] for e in found if e["stage"] == "RequestReceived"] == ["/openapi/v3"]


def test_bad_policy_file_stops_the_gateway_with_one_line(tmp_path: Path) -> None:
    """Read before etcd is dialled (the endpoint here is unreachable); every other bad policy's message:
    tests/unit/test_audit_policy.py."""
    path = tmp_path / "policy.yaml"
    path.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- verbs: [get]\n")
    done = subprocess.run([sys.executable, "-m", "kubelite.gateway", "--listen", "127.0.0.1:0",  # noqa: S603
                           "--etcd-endpoints", "127.0.0.1:1", "--audit-log-path", str(tmp_path / "a.log"),
                           "--audit-policy-file", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("{")]  # JSON logs aside
    assert lines == [f"error: --audit-policy-file {path}: rules[0].level: Required value"], done.stderr
    config = config_from_args(parse_args(["--audit-log-path", "-", "--audit-log-maxage", "-1"]))
    with pytest.raises(ValueError, match="--audit-log-maxage -1 can't be a negative number"):
        config.check()  # main() prints it as one line, exit code 2, like every flag mistake


async def test_stopping_flushes_the_log(etcd: EmbeddedEtcd, tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    gw = await audited_gateway(etcd, tmp_path, tls_files)
    try:
        async with aiohttp.ClientSession(base_url=gw.url, connector=aiohttp.TCPConnector(ssl=False),
                                         headers=ADMIN) as http:
            await asyncio.gather(*(http.post("/api/v1/namespaces/default/configmaps",
                                             json={"metadata": {"name": f"cm-{i}"}}) for i in range(20)))
    finally:
        await gw.stop()
    assert len(events(tmp_path / "audit" / "audit.log")) == 20


def test_blocking_mode_writes_each_event_before_write_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kube's default ``--audit-log-mode=blocking``: the event is written by the caller (the event
    loop, before the request is answered) and is in the file when ``write`` returns; ``batch`` hands
    it to a writer thread."""
    writers: list[str] = []
    emit = SizeRotatingFile.emit

    def recording_emit(self: SizeRotatingFile, record: logging.LogRecord) -> None:
        writers.append(threading.current_thread().name)
        emit(self, record)
    monkeypatch.setattr(SizeRotatingFile, "emit", recording_emit)
    for mode in ("blocking", "batch"):
        path = tmp_path / f"{mode}.log"
        log = AuditLog(AuditLogOptions(path=str(path), mode=mode))
        log.start()
        try:
            for i in range(3):
                log.write({"kind": "Event", "auditID": str(i)})
                if mode == "blocking":
                    assert [e["auditID"] for e in events(path)] == [str(n) for n in range(i + 1)]
        finally:
            log.stop()
        assert len(events(path)) == 3
    caller = threading.current_thread().name
    assert writers[:3] == [caller] * 3 and caller not in writers[3:] and len(writers) == 6
    with pytest.raises(ValueError, match='invalid audit log mode "blocking-strict", allowed modes are "batch, blocking"'):
        AuditLogOptions(path="-", mode="blocking-strict").check()


async def test_an_answered_write_is_in_the_log_after_a_sigkill(etcd: EmbeddedEtcd, tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubelite.gateway", "--etcd-endpoints", etcd.endpoint, "--listen", f"127.0.0.1:{port}",
        "--audit-log-path", str(path), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            async def ready() -> bool:
                async with http.get("/readyz") as r:
                    return r.status == 200
            await wait_for(ready, 30, ignore=(aiohttp.ClientError,), message="gateway /readyz")
            for i in range(10):
                async with http.post("/api/v1/namespaces/default/configmaps",
                                     json={"metadata": {"name": f"killed-{i}"}}) as r:
                    assert r.status == 201
        proc.kill()  # at once: nothing is flushed on the way out
        await asyncio.wait_for(proc.wait(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
    logged = [e["objectRef"]["name"] for e in events(path) if e["stage"] == "ResponseComplete"]
    assert logged == [f"killed-{i}" for i in range(10)]
