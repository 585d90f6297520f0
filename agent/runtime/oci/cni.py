"""Pod networking through the standard CNI plugins (containernetworking-plugins, ``/usr/lib/cni``).

Per pod: a named network namespace (``ip netns add``, bind-mounted at ``/var/run/netns/<name>``),
then the plugins are executed as the CNI spec (SPEC.md, "Execution protocol") prescribes: each
plugin binary gets ``CNI_COMMAND``/``CNI_CONTAINERID``/``CNI_NETNS``/``CNI_IFNAME``/``CNI_PATH`` in
its environment and its network configuration (with ``name``, ``cniVersion``, the previous
plugin's ``prevResult`` and the ``runtimeConfig`` of the capabilities it declares) on stdin,
and answers a JSON result or error. The list is:

- ``bridge`` (``eth0`` into a Linux bridge, gateway on the bridge so the host reaches pod IPs,
  hairpin so a pod reaches itself through a Service) with ``host-local`` IPAM from the node's pod
  CIDR (its allocations under ``<state>/cni/ipam``);
- ``firewall`` (iptables ``CNI-FORWARD`` accepts to and from the pod's IP): a host whose FORWARD policy
  is DROP (Docker sets it) would otherwise drop pod-to-pod traffic, bridged or through a Service;
- ``portmap`` for ``hostPort`` (iptables DNAT; capability ``portMappings``);
- ``loopback`` as its own one-plugin network on ``lo`` (as cri-o does).

DEL runs the list in reverse with the ADD's cached result, which releases the IP and removes the
veth and every iptables rule the plugins made; then the namespace is deleted. Everything blocks:
run it in a thread. No Python CNI library is maintained; the protocol is small and fixed by the spec.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.runtime.base import ContainerRuntimeError, PortMapping

CNI_VERSION = "1.0.0"
NETNS_DIR = Path("/var/run/netns")


@dataclass(frozen=True)
class CniConfig:
    network: str = "kubelite-oci"  # CNI network name (its iptables rules are commented with it)
    bridge: str = "kl-cni0"
    subnet: str = "10.244.0.0/24"  # the node's pod CIDR
    plugin_dir: str = "/usr/lib/cni"
    ipam_dir: str = "/var/lib/kubelite/oci/cni/ipam"

    def plugins(self) -> list[dict[str, Any]]:
        return [
            {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]], "dataDir": self.ipam_dir,
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "firewall", "backend": "iptables"},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ]


def netns_path(name: str) -> str:
    return str(NETNS_DIR / name)


def _run(argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=timeout, check=False)


def _plugin(config: CniConfig, conf: dict[str, Any], command: str, container_id: str, netns: str,
            ifname: str) -> dict[str, Any]:
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
           "CNI_PATH": config.plugin_dir, "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    result = _run([str(Path(config.plugin_dir) / conf["type"])], stdin=json.dumps(conf), env=env)
    if result.returncode != 0:
        try:
            error = json.loads(result.stdout)
            message = f"{error.get('msg', '')} {error.get('details', '')}".strip()
        except ValueError:
            message = (result.stderr or result.stdout).strip()
        raise ContainerRuntimeError(f"CNI {conf['type']} {command} failed: {message}")
    return dict(json.loads(result.stdout)) if result.stdout.strip() else {}


def _conf(config: CniConfig, plugin: dict[str, Any], name: str, prev: dict[str, Any] | None,
          runtime_config: dict[str, Any]) -> dict[str, Any]:
    conf = {**plugin, "cniVersion": CNI_VERSION, "name": name}
    if prev is not None:
        conf["prevResult"] = prev
    wanted = {k: v for k, v in runtime_config.items() if (plugin.get("capabilities") or {}).get(k)}
    if wanted:
        conf["runtimeConfig"] = wanted
    return conf


def port_mappings(ports: tuple[PortMapping, ...]) -> list[dict[str, Any]]:
    """hostPort mappings for portmap; ports without a host port are reached on the pod IP instead."""
    return [{"hostPort": p.host_port, "containerPort": p.container_port, "protocol": p.protocol.lower(),
             "hostIP": p.host_ip} for p in ports if p.host_port]


def add(config: CniConfig, ns: str, container_id: str, ports: tuple[PortMapping, ...]) -> dict[str, Any]:
    """Create netns ``ns`` and run ADD → {"result": <bridge/portmap result>, "ip": "10.…", "runtimeConfig": …}.
    On failure everything done so far is undone and ContainerRuntimeError says which plugin failed why."""
    created = _run(["ip", "netns", "add", ns])
    if created.returncode != 0:
        raise ContainerRuntimeError(f"ip netns add {ns}: {created.stderr.strip()}")
    runtime_config = {"portMappings": port_mappings(ports)}
    record: dict[str, Any] = {"runtimeConfig": runtime_config, "result": None}
    try:
        _plugin(config, {"type": "loopback", "cniVersion": CNI_VERSION, "name": "lo"}, "ADD", container_id,
                netns_path(ns), "lo")
        prev: dict[str, Any] | None = None
        for plugin in config.plugins():
            prev = _plugin(config, _conf(config, plugin, config.network, prev, runtime_config), "ADD",
                           container_id, netns_path(ns), "eth0")
            record["result"] = prev
    except (ContainerRuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
        delete(config, ns, container_id, record)
        raise ContainerRuntimeError(str(exc)) from exc
    ips = (record["result"] or {}).get("ips") or []
    record["ip"] = ips[0]["address"].split("/")[0] if ips else None
    return record


def delete(config: CniConfig, ns: str, container_id: str, record: dict[str, Any] | None) -> None:
    """DEL (reverse order, prevResult from ADD), then remove the netns. Idempotent: DEL of what is
    gone succeeds, as the spec requires of plugins; errors are raised after every step was tried."""
    record = record or {}
    runtime_config = record.get("runtimeConfig") or {"portMappings": []}
    errors: list[str] = []
    path = netns_path(ns) if (NETNS_DIR / ns).exists() else ""
    for plugin in reversed(config.plugins()):
        try:
            _plugin(config, _conf(config, plugin, config.network, record.get("result"), runtime_config), "DEL",
                    container_id, path, "eth0")
        except (ContainerRuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
            errors.append(str(exc))
    if path:
        removed = _run(["ip", "netns", "delete", ns])
        if removed.returncode != 0 and (NETNS_DIR / ns).exists():  # gone meanwhile (a concurrent DEL) is done
            errors.append(f"ip netns delete {ns}: {removed.stderr.strip()}")
    if errors:
        raise ContainerRuntimeError("; ".join(errors))
