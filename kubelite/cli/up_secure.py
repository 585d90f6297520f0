"""``kl up --secure``: the cluster's PKI and what the gateway and kubeconfig get from it.

As kind and kubeadm: a cluster CA in ``<data-dir>/pki`` (keys 0600, kept across
restarts), a serving certificate for 127.0.0.1, localhost and the listen host, and a
kubeconfig embedding ``certificate-authority-data`` and the admin client certificate
(``kubernetes-admin`` in ``system:masters``). This is ``kl up``'s default. The gateway then serves HTTPS
(plain HTTP on the same port only to loopback clients of the user who ran ``kl up``, or root:
:mod:`kubelite.gateway.tlssniff`), authenticates client certificates (``--client-ca-file``) and authorizes every
request with RBAC; ``sa.key`` signs ServiceAccount tokens (TokenRequest). Internal clients (``kl up`` itself, the controller-manager's
metrics client) use the admin token of ``tokens.csv`` over the same HTTPS.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kubelite.auth import pki, satokens
from kubelite.cli.errors import CliError
from kubelite.etcd import auth as etcd_auth
from kubelite.etcd import auth_plan
from kubelite.etcd.auth_plan import node_user
from kubelite.etcd.client import EtcdConfig, connect


@dataclass(frozen=True)
class SecureSetup:
    directory: Path
    made: dict[str, pki.Issued]

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_pem(self) -> bytes:
        return self.made["ca"].cert_pem

    @property
    def admin(self) -> tuple[bytes, bytes]:
        return self.made["admin"].cert_pem, self.made["admin"].key_pem

    def gateway_flags(self) -> list[str]:
        d = self.directory
        return ["--tls-cert", str(d / "apiserver.crt"), "--tls-key", str(d / "apiserver.key"),
                "--client-ca-file", str(self.ca_file), "--authorization-mode", "RBAC",
                "--service-account-signing-key-file", str(d / "sa.key"),
                # plain HTTP on the same port stays for this user's loopback clients (kubelite.gateway.tlssniff)
                "--plain-http-uid", str(os.getuid())]


    def node_credentials(self, node: str) -> tuple[Path, Path]:
        """(certificate, key) of ``node``'s agent towards the gateway: CN ``system:node:<node>``,
        O ``system:nodes`` (as kubeadm's kubelet client certificates), made when absent."""
        stem = f"node-{node}"
        if pki.read_pair(self.directory, stem) is None:
            pki.write_pair(self.directory, stem, pki.issue(self.made["ca"], common_name=f"system:node:{node}",
                                                           organizations=("system:nodes",)))
        return self.directory / f"{stem}.crt", self.directory / f"{stem}.key"


    def etcd_files(self) -> EtcdFiles:
        """The embedded etcd's TLS, from an etcd CA of its own (``pki/etcd/``, as kubeadm's
        ``/etc/kubernetes/pki/etcd``): serving and peer certificates for 127.0.0.1 and localhost, and the one
        client certificate every component presents (``--client-cert-auth``). A separate CA, so that
        no certificate of the cluster CA (users', nodes') opens etcd. Made when absent."""
        d = self.directory / "etcd"
        ca = pki.read_pair(d, "ca")
        if ca is None:
            ca = pki.new_ca("etcd-ca")
            pki.write_pair(d, "ca", ca)
        server = pki.read_pair(d, "server")
        if server is None or not pki.covers_hosts(server, ETCD_HOSTS):
            pki.write_pair(d, "server", pki.issue(ca, common_name="kubelite-etcd", hosts=ETCD_HOSTS, server=True))
        peer = pki.read_pair(d, "peer")
        if peer is None or not pki.covers_hosts(peer, ETCD_HOSTS):
            pki.write_pair(d, "peer", pki.issue(ca, common_name="kubelite-etcd-peer", hosts=ETCD_HOSTS, peer=True))
        client = pki.read_pair(d, "client")
        if client is None or not pki.still_valid(client):  # else, a year on, no component reaches etcd
            pki.write_pair(d, "client", pki.issue(ca, common_name="kubelite-etcd-client"))
        return EtcdFiles(ca_file=d / "ca.crt", server_cert=d / "server.crt", server_key=d / "server.key",
                         peer_cert=d / "peer.crt", peer_key=d / "peer.key",
                         client_cert=d / "client.crt", client_key=d / "client.key")

    def etcd_node_credentials(self, node: str) -> tuple[Path, Path]:
        """(certificate, key) of ``node``'s agent towards etcd: CN ``system:node:<node>`` (etcd's user
        of that name, kubelite.etcd.auth_plan: reads ``/registry/``, writes its node Lease only), from
        the etcd CA (made by :meth:`etcd_files` first). Made when absent, renewed once expired."""
        d = self.directory / "etcd"
        ca = pki.read_pair(d, "ca")
        if ca is None:
            raise FileNotFoundError(f"no etcd CA in {d}: etcd_files() makes it")
        stem = f"node-{node}"
        pair = pki.read_pair(d, stem)
        if pair is None or not pki.still_valid(pair):
            pki.write_pair(d, stem, pki.issue(ca, common_name=node_user(node)))
        return d / f"{stem}.crt", d / f"{stem}.key"


    def agent_etcd_flags(self, node: str) -> list[str]:
        """What ``node``'s docker/oci agent adds to the components' etcd flags (argparse: the last
        ``--etcd-certfile`` wins): with :data:`RESTRICTED_NODE_AGENTS`, its own etcd certificate and
        :data:`NODE_AGENT_FLAGS`; else nothing (the components' identity, as simulated agents keep)."""
        if not RESTRICTED_NODE_AGENTS:
            return []
        cert, key = self.etcd_node_credentials(node)
        return ["--etcd-certfile", str(cert), "--etcd-keyfile", str(key), *NODE_AGENT_FLAGS]


# The one switch for docker/oci agents' own etcd identity: True once the agent has --write-through-api
# (its writes then go through the gateway, where NodeRestriction applies; the node's etcd role allows
# only reads and its node Lease). Until then an agent with the node certificate could not write its
# Node and pods' status. Simulated agents (many nodes in one process) keep the components' certificate:
# a simulation-only trust boundary (docs/security.md).
RESTRICTED_NODE_AGENTS = True
NODE_AGENT_FLAGS = ("--write-through-api",)


async def ensure_etcd_auth(endpoint: str, files: EtcdFiles | None, nodes: Iterable[str]) -> list[auth_plan.Step]:
    """kl up's embedded etcd, just started. Secure (``files``): etcd's users and roles (the components'
    with root, one per node of ``nodes``: the docker/oci agents) and auth on, as the components'
    certificate; idempotent (a restart re-checks, a node added or gone since is added or removed).
    Plain (``--insecure-http``, ``files`` None): CliError when the data dir's etcd has auth on (a
    secure kl up turned it on; no plain client could use it). Else raises what
    :func:`kubelite.etcd.auth.ensure` raises."""
    config = EtcdConfig(endpoints=(endpoint,), timeout=10.0)
    if files is not None:
        config = EtcdConfig(endpoints=(endpoint,), timeout=10.0, ca_file=str(files.ca_file),
                            cert_file=str(files.client_cert), key_file=str(files.client_key))
    client = await connect(config)
    try:
        if files is not None:
            return await etcd_auth.ensure(client, nodes)
        if await etcd_auth.is_enabled(client):
            raise CliError("this data dir's etcd has authentication on (a secure `kl up` turned it on): "
                           "start `kl up` without --insecure-http, or give it another --data-dir")
        return []
    finally:
        await client.close()


@dataclass(frozen=True)
class EtcdFiles:
    """Paths of the embedded etcd's CA, serving pair and the components' client pair."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    peer_cert: Path
    peer_key: Path
    client_cert: Path
    client_key: Path

    def client_flags(self) -> list[str]:
        """The etcd flags every component takes (kubelite.etcd.flags)."""
        return ["--etcd-cafile", str(self.ca_file), "--etcd-certfile", str(self.client_cert),
                "--etcd-keyfile", str(self.client_key)]


ETCD_HOSTS = ("127.0.0.1", "localhost")

# names in-cluster clients reach the gateway by (kubeadm puts them in kube-apiserver's certificate)
SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")


def prepare(data_dir: Path, listen_host: str, *, extra_hosts: tuple[str, ...] = ()) -> SecureSetup:
    """``extra_hosts``: more names/IPs for the serving certificate (the kubernetes Service's cluster IP,
    the address pods reach the gateway at)."""
    hosts = tuple(dict.fromkeys(("127.0.0.1", "localhost", listen_host, *SERVICE_NAMES, *extra_hosts)))
    directory = data_dir / "pki"
    satokens.ensure_signing_key(directory / "sa.key")
    return SecureSetup(directory, pki.ensure_cluster_pki(directory, hosts))
