"""The gateway as a process with x509 client certificates and RBAC (kube-apiserver's
--client-ca-file and --authorization-mode RBAC), with real TLS clients and the real kubectl:
401 (no credentials; a certificate from another CA, out of date or not for client authentication:
the handshake completes and kube's 401 Status answers) and 403 (a user without bindings,
privilege escalation through a Role), each with kube's Status and nothing written."""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from kubelite.auth import pki, satokens
from kubelite.etcd.ops import range_
from kubelite.storage.store import Store
from kubelite.testing import Processes
from tests.helpers import wait_for

KUBECTL = "/usr/bin/kubectl"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


async def revision(store: Store) -> int:
    return int((await range_(store.client, "/registry/", count_only=True, what="test")).header.revision)


@dataclass
class Secure:
    url: str
    dir: Path
    ca: pki.Issued
    store: Store

    def context(self, pair: pki.Issued | None, name: str = "client") -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca.cert_pem.decode())
        if pair is not None:
            pki.write_pair(self.dir, name, pair)
            context.load_cert_chain(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        return context

    async def call(self, pair: pki.Issued | None, method: str, path: str, body: Any = None, *,
                   token: str | None = None) -> tuple[int, Any]:
        """(status, document); status 0 when the TLS handshake is refused."""
        connector = aiohttp.TCPConnector(ssl=self.context(pair))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with aiohttp.ClientSession(connector=connector) as http:
                async with http.request(method, self.url + path, json=body, headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=15)) as response:
                    text = await response.text()
                    return response.status, json.loads(text) if text.startswith("{") else text
        except (aiohttp.ClientConnectionError, ssl.SSLError):
            return 0, None

    def user(self, name: str, *groups: str) -> pki.Issued:
        return pki.issue(self.ca, common_name=name, organizations=groups)

    def kubeconfig(self, pair: pki.Issued, name: str) -> Path:
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
               "clusters": [{"name": "c", "cluster": {"server": self.url, "certificate-authority-data":
                                                      base64.b64encode(self.ca.cert_pem).decode()}}],
               "users": [{"name": "u", "user": {
                   "client-certificate-data": base64.b64encode(pair.cert_pem).decode(),
                   "client-key-data": base64.b64encode(pair.key_pem).decode()}}],
               "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
        path = self.dir / f"kubeconfig-{name}"
        path.write_text(yaml.safe_dump(doc))
        return path


@pytest.fixture
async def secure(processes: Processes, tmp_path: Path) -> AsyncIterator[Secure]:
    made = pki.ensure_cluster_pki(tmp_path / "pki", ("127.0.0.1", "localhost"))
    d = tmp_path / "pki"
    satokens.ensure_signing_key(d / "sa.key")
    processes.start_gateway("gateway", "--tls-cert", str(d / "apiserver.crt"), "--tls-key", str(d / "apiserver.key"),
                            "--client-ca-file", str(d / "ca.crt"), "--authorization-mode", "RBAC",
                            "--service-account-signing-key-file", str(d / "sa.key"))
    s = Secure(processes.gateway_url, tmp_path / "clients", made["ca"], await processes.connect_store())
    admin = made["admin"]

    async def ready() -> bool:
        status, _ = await s.call(admin, "GET", "/api/v1/namespaces/default")
        return status == 200
    await wait_for(ready, 60, 0.2, message="the gateway answers the admin over HTTPS")
    await processes.wait_gateway_ready()  # its start-up writes are done: tests compare etcd revisions
    yield s


def assert_status(doc: Any, code: int, reason: str) -> None:
    assert isinstance(doc, dict) and doc["kind"] == "Status", doc
    assert doc["code"] == code and doc["reason"] == reason, doc


async def test_x509_authentication_and_rbac(secure: Secure, tmp_path: Path) -> None:
    admin = pki.read_pair(tmp_path / "pki", "admin")
    assert admin is not None
    assert (tmp_path / "pki" / "ca.key").stat().st_mode & 0o777 == 0o600
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    status, _ = await secure.call(admin, "POST", "/api/v1/namespaces", {"metadata": {"name": "dev"}})
    assert status == 201

    before = await revision(secure.store)
    # no credentials at all: 401 Status
    status, doc = await secure.call(None, "POST", "/api/v1/namespaces/dev/pods", pod)
    assert status == 401
    assert_status(doc, 401, "Unauthorized")
    # a certificate from another CA (even one named like ours), and one out of date: the handshake completes
    # and the answer is kube-apiserver's 401 Status, as its x509 authenticator gives
    other_ca = pki.new_ca("kubernetes")
    foreign = pki.issue(other_ca, common_name="kubernetes-admin", organizations=("system:masters",))
    status, doc = await secure.call(foreign, "POST", "/api/v1/namespaces/dev/pods", pod)
    assert status == 401, doc
    assert_status(doc, 401, "Unauthorized")
    expired = pki.issue(secure.ca, common_name="kubernetes-admin", organizations=("system:masters",), days=1,
                        not_before=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3))
    status, doc = await secure.call(expired, "POST", "/api/v1/namespaces/dev/pods", pod)
    assert status == 401, doc
    assert_status(doc, 401, "Unauthorized")
    server_only = pki.issue(secure.ca, common_name="kubernetes-admin", organizations=("system:masters",),
                            hosts=("127.0.0.1",), server=True)  # our CA, but not for client authentication
    assert (await secure.call(server_only, "GET", "/api/v1/namespaces"))[0] == 401
    done = subprocess.run([KUBECTL, "get", "pods", "-n", "dev"], capture_output=True, text=True, timeout=60,
                          env={"KUBECONFIG": str(secure.kubeconfig(foreign, "foreign")), "HOME": str(tmp_path)})
    assert done.returncode != 0
    assert "error: You must be logged in to the server" in done.stderr, done.stderr  # client-go's words for a 401
    assert "tls" not in done.stderr.lower(), done.stderr
    # a user with no bindings: 403 worded as kube-apiserver's
    alice = secure.user("alice", "devs")
    status, doc = await secure.call(alice, "POST", "/api/v1/namespaces/dev/pods", pod)
    assert status == 403
    assert_status(doc, 403, "Forbidden")
    assert doc["message"] == ('pods is forbidden: User "alice" cannot create resource "pods" in API group "" '
                              'in the namespace "dev"')
    status, doc = await secure.call(alice, "GET", "/api/v1/namespaces/default/pods")
    assert status == 403 and 'cannot list resource "pods" in API group "" in the namespace "default"' in doc["message"]
    assert await revision(secure.store) == before, "a refused request wrote to etcd"

    # alice's group may manage Roles in dev, and read pods, but holds no more
    role_admin = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "role-admin"},
                  "rules": [{"verbs": ["get", "list", "create", "update", "delete"],  # not "*": that includes escalate/bind
                             "apiGroups": ["rbac.authorization.k8s.io"],
                             "resources": ["roles", "rolebindings"]},
                            {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "devs"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "role-admin"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"}]}
    assert (await secure.call(admin, "POST", f"{RBAC}/namespaces/dev/roles", role_admin))[0] == 201
    assert (await secure.call(admin, "POST", f"{RBAC}/namespaces/dev/rolebindings", binding))[0] == 201

    async def alice_reads() -> bool:  # the gateway's informers see the binding (watch-driven)
        return (await secure.call(alice, "GET", "/api/v1/namespaces/dev/pods"))[0] == 200
    await wait_for(alice_reads, 30, 0.1, message="alice may list pods in dev once bound")
    assert (await secure.call(alice, "GET", "/api/v1/namespaces/default/pods"))[0] == 403

    before = await revision(secure.store)
    grab = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "grab"},
            "rules": [{"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}]}
    status, doc = await secure.call(alice, "POST", f"{RBAC}/namespaces/dev/roles", grab)
    assert status == 403, doc
    assert_status(doc, 403, "Forbidden")
    assert "attempting to grant RBAC permissions not currently held" in doc["message"]
    assert 'Resources:["pods"]' in doc["message"] and 'Verbs:["delete"]' in doc["message"]
    bind_edit = {**binding, "metadata": {"name": "self-edit"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}}
    status, doc = await secure.call(alice, "POST", f"{RBAC}/namespaces/dev/rolebindings", bind_edit)
    assert status == 403, doc
    assert await revision(secure.store) == before, "a refused escalation wrote to etcd"
    # within what she holds, she may
    reader = {**grab, "metadata": {"name": "reader"},
              "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}
    assert (await secure.call(alice, "POST", f"{RBAC}/namespaces/dev/roles", reader))[0] == 201

    # the real kubectl with a certificate kubeconfig
    env = {"KUBECONFIG": str(secure.kubeconfig(admin, "admin")), "HOME": str(tmp_path)}
    done = subprocess.run([KUBECTL, "get", "namespace", "dev", "-o", "name"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "namespace/dev", done.stderr
    env = {"KUBECONFIG": str(secure.kubeconfig(alice, "alice")), "HOME": str(tmp_path)}
    done = subprocess.run([KUBECTL, "get", "pods", "-n", "default"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert 'User "alice" cannot list resource "pods" in API group "" in the namespace "default"' in done.stderr

    # kubectl auth whoami / can-i (SelfSubjectReview, SelfSubjectAccessReview; protobuf bodies), and --as
    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60)
    env = {"KUBECONFIG": str(secure.kubeconfig(alice, "alice")), "HOME": str(tmp_path)}
    done = kubectl("auth", "whoami", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"]["userInfo"] == {"username": "alice",
                                                             "groups": ["devs", "system:authenticated"]}
    assert kubectl("auth", "can-i", "list", "pods", "-n", "dev").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "delete", "pods", "-n", "dev").stdout.strip() == "no"
    assert kubectl("auth", "can-i", "get", "pods", "-n", "default").stdout.strip() == "no"
    done = kubectl("get", "pods", "-n", "dev", "--as", "bob")  # alice may not impersonate
    assert done.returncode != 0 and 'cannot impersonate resource "users"' in done.stderr, done.stderr
    env = {"KUBECONFIG": str(secure.kubeconfig(admin, "admin")), "HOME": str(tmp_path)}
    assert kubectl("auth", "can-i", "create", "roles", "-n", "dev", "--as", "alice",
                   "--as-group", "devs").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "escalate", "roles", "-n", "dev", "--as", "alice",
                   "--as-group", "devs").stdout.strip() == "no"
    # SubjectAccessReview for another user (the admin may create them; alice may not)
    sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
           "spec": {"user": "carol", "groups": ["devs"], "resourceAttributes": {
               "namespace": "dev", "verb": "list", "resource": "pods"}}}
    status, doc = await secure.call(admin, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar)
    assert status == 201 and doc["status"]["allowed"] is True, doc
    status, doc = await secure.call(alice, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar)
    assert status == 403, doc


async def test_service_account_tokens(secure: Secure, tmp_path: Path) -> None:
    """TokenRequest through kubectl create token; the token authenticates as the ServiceAccount until
    it expires, its pod is deleted, or it is for another audience or signed by another key (401,
    nothing written); the OIDC discovery documents are served."""
    admin = pki.read_pair(tmp_path / "pki", "admin")
    assert admin is not None
    await secure.call(admin, "POST", "/api/v1/namespaces", {"metadata": {"name": "apps"}})
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci"}}
    assert (await secure.call(admin, "POST", "/api/v1/namespaces/apps/serviceaccounts", sa))[0] == 201
    env = {"KUBECONFIG": str(secure.kubeconfig(admin, "admin")), "HOME": str(tmp_path)}
    done = subprocess.run([KUBECTL, "create", "token", "ci", "-n", "apps", "--duration", "20m"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    status, doc = await secure.call(None, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                    {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                                    token=token)
    assert status == 201, doc
    assert doc["status"]["userInfo"]["username"] == "system:serviceaccount:apps:ci"
    assert "system:serviceaccounts:apps" in doc["status"]["userInfo"]["groups"]
    status, doc = await secure.call(None, "GET", "/api/v1/namespaces/apps/pods", token=token)
    assert status == 403 and 'User "system:serviceaccount:apps:ci" cannot list' in doc["message"]
    done = subprocess.run([KUBECTL, "create", "token", "ci", "-n", "apps", "--duration", "1m"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "spec.expirationSeconds" in done.stderr

    status, conf = await secure.call(None, "GET", "/.well-known/openid-configuration", token=token)
    assert status == 200 and conf["issuer"] == satokens.DEFAULT_ISSUER
    status, keys = await secure.call(None, "GET", "/openid/v1/jwks", token=token)
    assert status == 200 and keys["keys"][0]["kty"] == "EC"

    # TokenReview (the admin may create them): this token is the account's
    review_path = "/apis/authentication.k8s.io/v1/tokenreviews"
    status, doc = await secure.call(admin, "POST", review_path, {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
    assert status == 201 and doc["status"]["authenticated"] is True, doc
    assert doc["status"]["user"]["username"] == "system:serviceaccount:apps:ci"

    # tokens that must not authenticate
    signer = satokens.TokenSigner.from_file(tmp_path / "pki" / "sa.key")
    stranger_key = tmp_path / "other-sa.key"
    satokens.ensure_signing_key(stranger_key)
    stranger = satokens.TokenSigner.from_file(stranger_key)
    account = await secure.store.get(__import__("kubelite.api.resources", fromlist=["x"]).SERVICEACCOUNTS, "ci", "apps")
    uid = str(account.metadata.uid)
    now = datetime.datetime.now(datetime.UTC)
    common = {"namespace": "apps", "name": "ci", "uid": uid, "seconds": 600}
    expired, _ = signer.issue(audiences=None, now=now - datetime.timedelta(hours=1), **common)  # type: ignore[arg-type]
    wrong_key, _ = stranger.issue(audiences=None, now=now, **common)  # type: ignore[arg-type]
    wrong_audience, _ = signer.issue(audiences=["https://elsewhere"], now=now, **common)  # type: ignore[arg-type]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    status, created = await secure.call(admin, "POST", "/api/v1/namespaces/apps/pods", pod)
    assert status == 201
    status, bound_doc = await secure.call(admin, "POST", "/api/v1/namespaces/apps/serviceaccounts/ci/token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}, "expirationSeconds": 600}})
    assert status == 201, bound_doc
    bound = bound_doc["status"]["token"]
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    assert (await secure.call(None, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", review,
                              token=bound))[0] == 201
    # NodeRestriction: a node (system:node:<name>, RBAC's system:node role) gets tokens only for its pods
    on_node = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "on1"},
               "spec": {"nodeName": "node-1", "serviceAccountName": "ci", "containers": [{"name": "c", "image": "b"}]}}
    status, made = await secure.call(admin, "POST", "/api/v1/namespaces/apps/pods", on_node)
    assert status == 201, made
    token_path = "/api/v1/namespaces/apps/serviceaccounts/ci/token"
    bound_to_on1 = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "on1", "uid": made["metadata"]["uid"]},
        "expirationSeconds": 3607}}
    node1, node2 = secure.user("system:node:node-1", "system:nodes"), secure.user("system:node:node-2", "system:nodes")
    status, doc = await secure.call(node1, "POST", token_path, bound_to_on1)
    assert status == 201 and doc["status"]["token"], doc
    before = await revision(secure.store)
    for who, body in ((node2, bound_to_on1), (node1, {"apiVersion": "authentication.k8s.io/v1",
                                                       "kind": "TokenRequest", "spec": {}})):
        status, doc = await secure.call(who, "POST", token_path, body)
        assert status == 403, doc
        assert_status(doc, 403, "Forbidden")
    assert await revision(secure.store) == before

    status, _ = await secure.call(admin, "DELETE", "/api/v1/namespaces/apps/pods/p?gracePeriodSeconds=0")
    assert status == 200

    async def pod_gone() -> bool:
        return (await secure.call(admin, "GET", "/api/v1/namespaces/apps/pods/p"))[0] == 404
    await wait_for(pod_gone, 30, 0.1, message="the bound pod is deleted")
    before = await revision(secure.store)
    for bad in (expired, wrong_key, wrong_audience, bound, token + "x"):
        status, doc = await secure.call(None, "POST", "/api/v1/namespaces/apps/configmaps",
                                        {"metadata": {"name": "x"}}, token=bad)
        assert status == 401, doc
        assert_status(doc, 401, "Unauthorized")
    assert await revision(secure.store) == before
    for bad in (expired, wrong_key, wrong_audience, bound):
        status, doc = await secure.call(admin, "POST", review_path, {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": bad}})
        assert status == 201 and doc["status"]["authenticated"] is False, doc
