"""Which gateway and token kl uses, and the kubeconfig `kl config` writes (no network)."""

from __future__ import annotations

from pathlib import Path

from kubelite.cli import kubeconfig


def doc(server: str = "http://10.0.0.1:8080", token: str = "t0k", namespace: str | None = None) -> dict:
    return kubeconfig.with_entry({}, name="kubelite", server=server, token=token, namespace=namespace)


def test_flag_beats_env_beats_file_beats_default() -> None:
    conn = kubeconfig.resolve_connection(server="http://a:1", token=None, namespace=None,
                                         env={"KUBELITE_SERVER": "http://b:2"}, kubeconfig=doc())
    assert conn.server == "http://a:1" and conn.token is None  # the file's token is not sent elsewhere
    conn = kubeconfig.resolve_connection(server=None, token=None, namespace=None,
                                         env={"KUBELITE_SERVER": "http://b:2/"}, kubeconfig=doc())
    assert conn.server == "http://b:2"
    conn = kubeconfig.resolve_connection(server=None, token=None, namespace=None, env={}, kubeconfig=doc())
    assert (conn.server, conn.token, conn.namespace) == ("http://10.0.0.1:8080", "t0k", "default")
    conn = kubeconfig.resolve_connection(server=None, token=None, namespace=None, env={}, kubeconfig={})
    assert conn.server == "http://127.0.0.1:8080"


def test_namespace_from_flag_or_context() -> None:
    conn = kubeconfig.resolve_connection(server=None, token="x", namespace=None, env={},
                                         kubeconfig=doc(namespace="team"))
    assert conn.namespace == "team" and conn.token == "x"
    conn = kubeconfig.resolve_connection(server=None, token=None, namespace="other", env={},
                                         kubeconfig=doc(namespace="team"))
    assert conn.namespace == "other"


def test_with_entry_replaces_own_entries_and_keeps_others() -> None:
    other = {"apiVersion": "v1", "kind": "Config", "current-context": "prod",
             "clusters": [{"name": "prod", "cluster": {"server": "https://prod"}}],
             "users": [{"name": "prod", "user": {"token": "p"}}],
             "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}]}
    merged = kubeconfig.with_entry(other, name="kubelite", server="http://x:1", token="a")
    merged = kubeconfig.with_entry(merged, name="kubelite", server="http://x:2", token="b")
    assert [c["name"] for c in merged["clusters"]] == ["prod", "kubelite"]
    assert merged["current-context"] == "kubelite"
    assert kubeconfig.current_settings(merged) == {"server": "http://x:2", "insecure": False, "token": "b"}
    assert other["current-context"] == "prod"  # input untouched


def test_write_is_private_and_readable_back(tmp_path: Path) -> None:
    path = tmp_path / "kube" / "config"
    kubeconfig.write(path, doc())
    assert path.stat().st_mode & 0o777 == 0o600
    assert kubeconfig.current_settings(kubeconfig.load(path))["token"] == "t0k"
    assert kubeconfig.default_path({"KUBECONFIG": f"{path}:/other"}) == path


def test_certificate_authority_is_used_for_its_server() -> None:
    import base64

    pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    doc_ = doc(server="https://127.0.0.1:6443")
    doc_["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(pem.encode()).decode()
    conn = kubeconfig.resolve_connection(server=None, token=None, namespace=None, env={}, kubeconfig=doc_)
    assert conn.ca_pem == pem and conn.ca_file is None
    other = kubeconfig.resolve_connection(server="https://elsewhere", token=None, namespace=None, env={},
                                          kubeconfig=doc_)
    assert other.ca_pem is None
