"""Where a pod can be reached from the host: the ports the agent published.

The agent records the host ports the runtime assigned in the pod annotation
``kubelite.io/host-ports`` (JSON list: container, containerPort, protocol,
hostIP, hostPort), written through pods/status (a node may not update a pod);
a ``hostPort`` fixed in the pod spec counts too.
"""

from __future__ import annotations

import json
from typing import Any

HOST_PORTS_ANNOTATION = "kubelite.io/host-ports"


def published_ports(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Entries {container, containerPort, protocol, hostIP, hostPort}, one per published port."""
    default_host = (pod.get("status") or {}).get("hostIP") or "127.0.0.1"
    found: dict[tuple[str, int], dict[str, Any]] = {}
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(HOST_PORTS_ANNOTATION)
    try:
        entries = json.loads(raw) if raw else []
    except ValueError:
        entries = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                entries.append({"container": container.get("name"), "containerPort": port.get("containerPort"),
                                "protocol": port.get("protocol", "TCP"), "hostIP": port.get("hostIP"),
                                "hostPort": port["hostPort"]})
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not entry.get("hostPort"):
            continue
        host = entry.get("hostIP") or default_host
        host = "127.0.0.1" if host == "0.0.0.0" else host
        found.setdefault((host, int(entry["hostPort"])), {**entry, "hostIP": host,
                                                           "protocol": entry.get("protocol") or "TCP"})
    return sorted(found.values(), key=lambda e: (str(e.get("container")), int(e.get("containerPort") or 0)))


def pod_urls(pod: dict[str, Any]) -> list[str]:
    """``http://HOST:PORT/`` for each published TCP port."""
    return [f"http://{e['hostIP']}:{e['hostPort']}/" for e in published_ports(pod) if e["protocol"] == "TCP"]
