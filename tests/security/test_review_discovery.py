"""The review APIs in discovery (kube-apiserver 1.32's authentication.k8s.io/v1 and
authorization.k8s.io/v1 resources, ``create`` only) as the real kubectl sees them, and
SelfSubjectRulesReview (``kubectl auth can-i --list``) and LocalSubjectAccessReview answered from
the RBAC policy."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from tests.gateway.conftest import Kubectl, gateway_config

pytestmark = pytest.mark.timeout(120)

TOKENS = 'admin-token,admin,1,"system:masters"\nviewer-token,viewer,2,kubelite:readonly\nnobody-token,nobody,3\n'
AUTHZ = "/apis/authorization.k8s.io/v1"


@pytest.fixture
async def rbac_gateway(etcd: EmbeddedEtcd, tmp_path: Path) -> AsyncIterator[tuple[Gateway, Path]]:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",  # noqa: S607
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    token_file = tmp_path / "tokens.csv"
    token_file.write_text(TOKENS)
    gw = Gateway(gateway_config(etcd, token_file=token_file, tls_cert=cert, tls_key=key, authorization_mode="RBAC"))
    await gw.start()
    try:
        yield gw, cert
    finally:
        await gw.stop()


async def test_reviews_in_discovery_and_can_i_list(rbac_gateway: tuple[Gateway, Path], tmp_path: Path) -> None:
    gw, ca = rbac_gateway
    admin = Kubectl(gw.url, tmp_path, token="admin-token", ca_file=ca)
    listed = (await admin("api-resources", "--api-group", "authorization.k8s.io", "-o", "wide")).stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in listed[1:]}
    assert set(rows) == {"localsubjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews",
                         "subjectaccessreviews"}, listed
    assert rows["localsubjectaccessreviews"][1:5] == ["authorization.k8s.io/v1", "true", "LocalSubjectAccessReview",
                                                      "create"]
    assert all(row[-1] == "create" for row in rows.values())  # VERBS is the last column
    listed = (await admin("api-resources", "--api-group", "authentication.k8s.io")).stdout.splitlines()
    assert sorted(line.split()[0] for line in listed[1:]) == ["selfsubjectreviews", "tokenreviews"]
    # and in OpenAPI v3, so kubectl explain finds their fields
    explained = (await admin("explain", "selfsubjectaccessreview.spec.resourceAttributes.verb")).stdout
    assert "KIND:       SelfSubjectAccessReview" in explained and "FIELD: verb <string>" in explained
    explained = (await admin("explain", "tokenreview.status.user")).stdout
    assert "GROUP:      authentication.k8s.io" in explained and "username" in explained

    everything = (await admin("auth", "can-i", "--list")).stdout.splitlines()
    assert everything[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert any(line.split() == ["*.*", "[]", "[]", "[*]"] for line in everything), everything

    viewer = Kubectl(gw.url, tmp_path, token="viewer-token", ca_file=ca)
    rules = (await viewer("auth", "can-i", "--list", "-n", "default")).stdout.splitlines()
    pods = next(line.split() for line in rules if line.split()[0] == "pods")
    assert pods[-3:] == ["[get", "list", "watch]"], rules  # the read-only group is bound to view
    assert any(line.split()[0] == "selfsubjectrulesreviews.authorization.k8s.io" for line in rules)  # basic-user
    assert not any("*.*" in line for line in rules)
    nobody = Kubectl(gw.url, tmp_path, token="nobody-token", ca_file=ca)
    lonely = (await nobody("auth", "can-i", "--list", "-n", "default")).stdout
    assert "pods" not in lonely.split() and "selfsubjectaccessreviews.authorization.k8s.io" in lonely


async def test_local_subject_access_review(rbac_gateway: tuple[Gateway, Path]) -> None:
    gw, _ = rbac_gateway
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
              "spec": {"user": "viewer", "groups": ["kubelite:readonly"],
                       "resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}}}
    async with aiohttp.ClientSession(base_url=gw.url, connector=aiohttp.TCPConnector(ssl=False),
                                     headers={"Authorization": "Bearer admin-token"}) as http:
        async with http.post(f"{AUTHZ}/namespaces/default/localsubjectaccessreviews", json=review) as r:
            doc = await r.json()
        assert r.status == 201 and doc["status"]["allowed"] is True and doc["metadata"]["namespace"] == "default"
        denied = {**review, "spec": {**review["spec"], "resourceAttributes": {
            "namespace": "default", "verb": "delete", "resource": "pods"}}}
        async with http.post(f"{AUTHZ}/namespaces/default/localsubjectaccessreviews", json=denied) as r:
            assert r.status == 201 and (await r.json())["status"]["allowed"] is False
        async with http.post(f"{AUTHZ}/namespaces/other/localsubjectaccessreviews", json=review) as r:
            doc = await r.json()
        assert r.status == 422 and doc["details"]["causes"][0]["field"] == "spec.resourceAttributes.namespace"
        async with http.post(f"{AUTHZ}/localsubjectaccessreviews", json=review) as r:
            assert r.status == 404  # namespaced only
        async with http.post(f"{AUTHZ}/namespaces/default/selfsubjectaccessreviews", json=review) as r:
            assert r.status == 404  # cluster-scoped only
        async with http.get(f"{AUTHZ}/selfsubjectrulesreviews") as r:
            assert r.status == 405
        async with http.post(f"{AUTHZ}/selfsubjectrulesreviews", json={"spec": {"namespace": "default"}}) as r:
            doc = await r.json()
        assert r.status == 201 and doc["kind"] == "SelfSubjectRulesReview" and doc["status"]["incomplete"] is False
        assert {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]} in doc["status"]["resourceRules"]
    async with aiohttp.ClientSession(base_url=gw.url, connector=aiohttp.TCPConnector(ssl=False),
                                     headers={"Authorization": "Bearer viewer-token"}) as http:
        async with http.post(f"{AUTHZ}/namespaces/default/localsubjectaccessreviews", json=review) as r:
            assert r.status == 403  # view does not grant reviews of others
