"""Kubeconfig files (the ``~/.kube/config`` format): which gateway and token ``kl``
uses, and the file ``kl config`` writes so kubectl can use the gateway too.

Precedence for the server: ``--server`` > ``$KUBELITE_SERVER`` > the kubeconfig's
current context > http://127.0.0.1:8080. The token: ``--token`` >
``$KUBELITE_TOKEN`` > the kubeconfig user's token (only if the server came
from the kubeconfig too, so a token is never sent to another server).
"""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from kubelite.cli.client import Connection
from kubelite.cli.errors import CliError

DEFAULT_SERVER = "http://127.0.0.1:8080"
CONTEXT_NAME = "kubelite"


def default_path(env: Mapping[str, str] = os.environ) -> Path:
    """The first file of ``$KUBECONFIG``, else ``~/.kube/config``."""
    listed = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    return Path(listed[0]).expanduser() if listed else Path.home() / ".kube" / "config"


def load(path: Path) -> dict[str, Any]:
    """The kubeconfig at ``path`` ({} if absent)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read kubeconfig {path}: {exc}") from None
    return doc if isinstance(doc, dict) else {}


def _named(doc: Mapping[str, Any], section: str, name: str | None) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            inner = entry.get(section[:-1])
            return inner if isinstance(inner, dict) else {}
    return {}


def current_settings(doc: Mapping[str, Any]) -> dict[str, Any]:
    """server, token, namespace and insecure of the current context (missing keys absent)."""
    context = _named(doc, "contexts", doc.get("current-context"))
    cluster = _named(doc, "clusters", context.get("cluster"))
    user = _named(doc, "users", context.get("user"))
    settings: dict[str, Any] = {}
    if cluster.get("server"):
        settings["server"] = cluster["server"]
        settings["insecure"] = bool(cluster.get("insecure-skip-tls-verify"))
        if cluster.get("certificate-authority-data"):
            try:
                settings["ca_pem"] = base64.b64decode(cluster["certificate-authority-data"]).decode()
            except (ValueError, UnicodeDecodeError):
                raise CliError("the kubeconfig's certificate-authority-data is not base64 PEM") from None
        elif cluster.get("certificate-authority"):
            settings["ca_file"] = str(Path(cluster["certificate-authority"]).expanduser())
    for key, field_name in (("client-certificate", "client_cert_pem"), ("client-key", "client_key_pem")):
        if user.get(f"{key}-data"):
            try:
                settings[field_name] = base64.b64decode(user[f"{key}-data"]).decode()
            except (ValueError, UnicodeDecodeError):
                raise CliError(f"the kubeconfig's {key}-data is not base64 PEM") from None
        elif user.get(key):
            try:
                settings[field_name] = Path(user[key]).expanduser().read_text()
            except OSError as exc:
                raise CliError(f"cannot read the kubeconfig's {key} {user[key]}: {exc.strerror}") from None
    if user.get("token"):
        settings["token"] = user["token"]
    elif user.get("tokenFile"):
        try:
            settings["token"] = Path(user["tokenFile"]).expanduser().read_text().strip()
        except OSError:
            pass
    if context.get("namespace"):
        settings["namespace"] = context["namespace"]
    return settings


def resolve_connection(
    *, server: str | None, token: str | None, namespace: str | None,
    env: Mapping[str, str], kubeconfig: Mapping[str, Any],
) -> Connection:
    """Pure: the connection from flags, environment and a loaded kubeconfig."""
    from_file = current_settings(kubeconfig)
    chosen_server = server or env.get("KUBELITE_SERVER") or from_file.get("server") or DEFAULT_SERVER
    server_from_file = not server and not env.get("KUBELITE_SERVER") and "server" in from_file
    chosen_token = token or env.get("KUBELITE_TOKEN") or (from_file.get("token") if server_from_file else None)
    return Connection(
        server=chosen_server.rstrip("/"),
        token=chosen_token or None,
        insecure=bool(from_file.get("insecure")) if server_from_file else False,
        ca_file=from_file.get("ca_file") if server_from_file else None,
        ca_pem=from_file.get("ca_pem") if server_from_file else None,
        client_cert_pem=from_file.get("client_cert_pem") if server_from_file else None,
        client_key_pem=from_file.get("client_key_pem") if server_from_file else None,
        namespace=namespace or from_file.get("namespace") or "default",
    )


def with_entry(doc: Mapping[str, Any], *, name: str, server: str, token: str | None,
               namespace: str | None = None, ca_pem: bytes | None = None,
               client_cert: tuple[bytes, bytes] | None = None) -> dict[str, Any]:
    """Pure: ``doc`` with cluster/user/context ``name`` set (replacing any) and made current;
    ``ca_pem`` and ``client_cert`` (certificate, key) are embedded as ``*-data`` as kubeadm does."""
    result = copy.deepcopy(dict(doc))
    result.setdefault("apiVersion", "v1")
    result.setdefault("kind", "Config")
    result.setdefault("preferences", {})
    user: dict[str, Any] = {"token": token} if token else {}
    if client_cert is not None:
        user["client-certificate-data"] = base64.b64encode(client_cert[0]).decode()
        user["client-key-data"] = base64.b64encode(client_cert[1]).decode()
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    context: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    for section, value in (("clusters", cluster), ("users", user), ("contexts", context)):
        entries = [e for e in result.get(section) or [] if isinstance(e, dict) and e.get("name") != name]
        entries.append({"name": name, section[:-1]: value})
        result[section] = entries
    result["current-context"] = name
    return result


def write(path: Path, doc: Mapping[str, Any]) -> None:
    """Write ``doc`` to ``path`` (mode 0600: it holds a token), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(dict(doc), out, sort_keys=False)
    os.replace(tmp, path)
