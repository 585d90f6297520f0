"""``kl up --secure``: the cluster's PKI and what the gateway and kubeconfig get from it.

As kind and kubeadm: a cluster CA in ``<data-dir>/pki`` (keys 0600, kept across
restarts), a serving certificate for 127.0.0.1, localhost and the listen host, and a
kubeconfig embedding ``certificate-authority-data`` and the admin client certificate
(``kubernetes-admin`` in ``system:masters``). The gateway then serves HTTPS only,
authenticates client certificates (``--client-ca-file``) and authorizes every
request with RBAC; ``sa.key`` signs ServiceAccount tokens (TokenRequest). Internal clients (``kl up`` itself, the controller-manager's
metrics client) use the admin token of ``tokens.csv`` over the same HTTPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubelite import pki, satokens


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
                "--service-account-signing-key-file", str(d / "sa.key")]


def prepare(data_dir: Path, listen_host: str) -> SecureSetup:
    hosts = tuple(dict.fromkeys(("127.0.0.1", "localhost", listen_host)))
    directory = data_dir / "pki"
    satokens.ensure_signing_key(directory / "sa.key")
    return SecureSetup(directory, pki.ensure_cluster_pki(directory, hosts))
