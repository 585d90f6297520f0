"""Which etcd identity kl up gives each agent (no processes): a docker/oci node's agent its own etcd
certificate (CN ``system:node:<node>``, the etcd CA) with --write-through-api, as the agent's own
argument parser reads them after the components' flags; simulated agents the components'. The
etcd-level rights of that identity: tests/security/test_etcd_node_roles.py."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from agent.__main__ import build_parser
from kubelite.cli import up_secure
from kubelite.cli.up import Cluster, UpOptions
from kubelite.etcd.flags import etcd_config_from_args


def cluster(tmp_path: Path, runtime: str) -> Cluster:
    up = Cluster(UpOptions(nodes=2, runtime=runtime, data_dir=tmp_path / "kl"), say=lambda _: None)
    up.runtime = runtime
    up.secure = up_secure.prepare(tmp_path / "kl", "127.0.0.1")
    up.etcd_files = up.secure.etcd_files()
    return up


def test_a_docker_agent_reaches_etcd_as_its_node(tmp_path: Path) -> None:
    assert up_secure.RESTRICTED_NODE_AGENTS, "the switch is off: docker/oci agents share the components' etcd user"
    up = cluster(tmp_path, "docker")
    assert up.etcd_files is not None
    components = up.etcd_files.client_flags()
    argv = ["--node", "node-1", "--runtime", "docker", "--etcd-endpoints", "127.0.0.1:2379", *components,
            "--api-server", "https://127.0.0.1:1", *up._agent_etcd_flags("node-1")]
    args = build_parser().parse_args(argv)
    assert args.write_through_api
    config = etcd_config_from_args(args)
    assert config.ca_file == str(up.etcd_files.ca_file)
    cert = x509.load_pem_x509_certificate(Path(config.cert_file or "").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=system:node:node-1"
    assert cert.issuer == x509.load_pem_x509_certificate(up.etcd_files.ca_file.read_bytes()).subject
    assert config.key_file is not None and Path(config.key_file).stat().st_mode & 0o777 == 0o600


def test_simulated_agents_keep_the_components_identity(tmp_path: Path) -> None:
    assert cluster(tmp_path, "sim")._agent_etcd_flags("node-1") == []
