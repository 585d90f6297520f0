"""Service environment variables and DNS settings for a pod's containers, as the kubelet makes them.

- ``service_env(pod, services)``: for every Service of the pod's namespace that has a cluster IP
  when the pod starts (only ``default/kubernetes`` when ``enableServiceLinks`` is false; it is
  added in every namespace, as kubelet's ``getServiceEnvVarMap`` does): ``<NAME>_SERVICE_HOST``, ``<NAME>_SERVICE_PORT``,
  ``<NAME>_SERVICE_PORT_<PORTNAME>`` and the docker-links variables ``<NAME>_PORT``,
  ``<NAME>_PORT_<port>_<PROTO>``, ``..._PROTO``, ``..._PORT``, ``..._ADDR``
  (``pkg/kubelet/envvars/envvars.go``). Names are upper-cased with ``-`` → ``_``.
  The container's own ``env`` wins over these.
- ``pod_hostname(pod)``: the hostname its containers see (the sandbox's UTS namespace);
- ``dns_settings(pod, cluster_dns, domain)``: for ``dnsPolicy: ClusterFirst`` (the default), the
  cluster DNS server, the search path ``<ns>.svc.<domain> svc.<domain> <domain>`` and
  ``ndots:5`` (``pkg/kubelet/network/dns/dns.go``); ``None`` for other policies or without a
  cluster DNS address (the runtime's own resolv.conf then).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubelite.api.core import Pod

Doc = dict[str, Any]


def _env_name(service: str) -> str:
    return service.upper().replace("-", "_")


def service_env(pod: Pod, services: list[Doc]) -> dict[str, str]:
    if pod.spec.enable_service_links is False:
        chosen = [s for s in services if _is_master(s)]
    else:
        namespace = pod.metadata.namespace
        chosen = [s for s in services if (s.get("metadata") or {}).get("namespace") == namespace or _is_master(s)]
    env: dict[str, str] = {}
    for service in sorted(chosen, key=lambda s: (s.get("metadata") or {}).get("name", "")):
        spec = service.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or spec.get("type") == "ExternalName":
            continue
        name = _env_name((service.get("metadata") or {}).get("name", ""))
        ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
        if not ports:
            continue
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0].get("port"))
        for port in ports:
            if port.get("name"):
                env[f"{name}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port.get("port"))
        first = ports[0]
        env[f"{name}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first.get('port')}"
        for port in ports:
            protocol = port.get("protocol", "TCP")
            prefix = f"{name}_PORT_{port.get('port')}_{protocol.upper()}"
            env[prefix] = f"{protocol.lower()}://{ip}:{port.get('port')}"
            env[f"{prefix}_PROTO"] = protocol.lower()
            env[f"{prefix}_PORT"] = str(port.get("port"))
            env[f"{prefix}_ADDR"] = ip
    return env


def _is_master(service: Doc) -> bool:
    meta = service.get("metadata") or {}
    return meta.get("namespace") == "default" and meta.get("name") == "kubernetes"


@dataclass(frozen=True)
class DnsSettings:
    servers: tuple[str, ...]
    search: tuple[str, ...]
    options: tuple[str, ...]


def pod_hostname(pod: Pod) -> str:
    """The pod's hostname: ``spec.hostname`` or its name, at most 63 characters (kubelet GeneratePodHostNameAndDomain)."""
    return (pod.spec.hostname or pod.metadata.name or "")[:63].rstrip("-.")


def dns_settings(pod: Pod, cluster_dns: str | None, domain: str) -> DnsSettings | None:
    policy = pod.spec.dns_policy or "ClusterFirst"
    if policy != "ClusterFirst" or not cluster_dns:
        return None
    namespace = pod.metadata.namespace or "default"
    return DnsSettings(servers=(cluster_dns,), search=(f"{namespace}.svc.{domain}", f"svc.{domain}", domain),
                       options=("ndots:5",))
