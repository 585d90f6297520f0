"""Per-node agent credentials, and where a node's agent is reached.

Until nodes have client certificates, the gateway authenticates to each agent
with a token of that node alone: ``HMAC-SHA256(cluster agent secret, node)``
(stdlib ``hmac``; the secret never leaves the gateway and ``kl up``). An agent
is given only its own token, so a token obtained from one node (or phished by
a forged endpoint) opens no other node's agent.

The agent's address comes from the fields the kubelet itself reports in
Kubernetes — ``status.addresses`` (InternalIP) and
``status.daemonEndpoints.kubeletEndpoint.Port`` — written through the status
subresource, never from metadata any API user may annotate. Limit: the gateway
cannot yet tell an agent's status write from a user's (no node identities), so
whoever may write ``nodes/status`` can still point the gateway at an address of
their choosing; it then receives only that node's token. Addresses that are
never an agent (unspecified, link-local such as cloud metadata at
169.254.169.254, multicast) are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from typing import Any

_CONTEXT = b"kubelite agent token v1\x00"


def node_token(secret: str, node: str) -> str:
    """The bearer token of ``node``'s agent API (URL-safe base64, 43 characters)."""
    if not secret:
        raise ValueError("the agent secret is empty")
    digest = hmac.new(secret.encode(), _CONTEXT + node.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class NoAgentEndpoint(ValueError):
    """The Node reports no usable agent address (the message says why)."""


def agent_endpoint(node_name: str, status: Any) -> str:
    """``http://IP:PORT`` of a node's agent from its NodeStatus; raises NoAgentEndpoint."""
    addresses = (getattr(status, "addresses", None) or []) if status is not None else []
    internal = next((a.address for a in addresses if a.type == "InternalIP"), None)
    endpoints = getattr(status, "daemon_endpoints", None) if status is not None else None
    kubelet = getattr(endpoints, "kubelet_endpoint", None) if endpoints is not None else None
    port = getattr(kubelet, "port", None) if kubelet is not None else None
    if not internal or not port:
        raise NoAgentEndpoint(f"node {node_name} reports no agent address "
                              "(status.addresses InternalIP and status.daemonEndpoints.kubeletEndpoint.Port)")
    try:
        ip = ipaddress.ip_address(internal)
    except ValueError:
        raise NoAgentEndpoint(f"node {node_name}: InternalIP {internal!r} is not an IP address") from None
    if ip.is_unspecified or ip.is_link_local or ip.is_multicast:
        raise NoAgentEndpoint(f"node {node_name}: InternalIP {internal} cannot be an agent's address")
    if not 0 < int(port) < 65536:
        raise NoAgentEndpoint(f"node {node_name}: agent port {port} is out of range")
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"http://{host}:{int(port)}"


def main(argv: list[str] | None = None) -> int:
    """``python -m kubelite.node.agent_auth --secret-file FILE NODE``: print NODE's agent token
    (to give each node's agent only its own; see docs/operations.md)."""
    import argparse
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m kubelite.node.agent_auth", description=main.__doc__)
    parser.add_argument("--secret-file", required=True, type=Path, help="the cluster's agent secret")
    parser.add_argument("node")
    args = parser.parse_args(argv)
    try:
        secret = args.secret_file.read_text().strip()
        print(node_token(secret, args.node))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
