"""``kl up --prometheus``: a Prometheus scrape configuration for every process the cluster runs.

Written to ``<data-dir>/prometheus.yml`` once the cluster is up (the agents'
ports are known only then: each listens on port 0 and reports its address in
its Node's status, ``status.addresses`` InternalIP and
``daemonEndpoints.kubeletEndpoint.Port``). Jobs, each target labelled
``instance`` by Prometheus and, for agents, ``node``:

- ``kubelite-etcd``: the embedded etcd's ``/metrics`` (client port; omitted with ``--etcd-endpoints``);
- ``kubelite-gateway``: the gateway (with the admin token when it wants one);
- ``kubelite-controller-manager``: its status port;
- ``kubelite-agent-<node>``: one job per node, each with that node's own agent token file (an
  agent's API accepts no other), so a token never opens another node.

Run it with ``prometheus --config.file=<data-dir>/prometheus.yml``. YAML by PyYAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SCRAPE_INTERVAL = "5s"


def scrape_config(*, etcd: str | None, gateway: str, gateway_token_file: Path | None, controller_manager: str,
                  agents: dict[str, tuple[str, Path]], gateway_ca_file: Path | None = None) -> dict[str, Any]:
    """The configuration document. Addresses are ``host:port``; ``agents``: node → (address, token file);
    ``gateway_ca_file``: the gateway serves HTTPS with a certificate of this CA."""
    def job(name: str, target: str, token_file: Path | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"job_name": name, "static_configs": [{"targets": [target], **(
            {"labels": labels} if labels else {})}]}
        if token_file is not None:
            entry["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
        return entry

    jobs = []
    if etcd:
        jobs.append(job("kubelite-etcd", etcd))
    gateway_job = job("kubelite-gateway", gateway, gateway_token_file)
    if gateway_ca_file is not None:
        gateway_job |= {"scheme": "https", "tls_config": {"ca_file": str(gateway_ca_file)}}
    jobs.append(gateway_job)
    jobs.append(job("kubelite-controller-manager", controller_manager))
    for node, (address, token_file) in sorted(agents.items()):
        jobs.append(job(f"kubelite-agent-{node}", address, token_file, {"node": node}))
    return {"global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "scrape_configs": jobs}


def agent_address(node: dict[str, Any]) -> str | None:
    """``IP:PORT`` of a Node document's agent, from its status (None when it reports none)."""
    status = node.get("status") or {}
    ip = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None)
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    return f"{ip}:{port}" if ip and port else None


def write(path: Path, document: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
