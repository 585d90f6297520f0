"""The node proxy's rules and the pods' service env / DNS settings, pure (no iptables, no Docker)."""

from __future__ import annotations

from typing import Any

from agent.proxy.rules import chain_prefix, chains_in, cleanup, render, service_ports
from agent.service_env import dns_settings, service_env
from kubelite.api.core import Pod


def svc(name: str, ip: str, *, ns: str = "default", **spec: Any) -> dict[str, Any]:
    spec.setdefault("ports", [{"name": "http", "port": 80, "protocol": "TCP"}])
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterIP": ip, **spec}}


def slice_(service: str, *endpoints: tuple[str, dict[str, bool]], port: int = 8080) -> dict[str, Any]:
    return {"metadata": {"name": f"{service}-x", "namespace": "default", "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": c} for ip, c in endpoints]}


READY = {"ready": True, "serving": True, "terminating": False}
DRAINING = {"ready": False, "serving": True, "terminating": True}
UNREADY = {"ready": False, "serving": False, "terminating": False}


def test_ready_endpoints_spread_affinity_node_ports_and_terminating_fallback() -> None:
    services = [svc("web", "10.96.0.5", type="NodePort", sessionAffinity="ClientIP",
                    sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}},
                    ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]),
                svc("old", "10.96.0.6"), svc("none", "10.96.0.7"), svc("db", "None")]
    slices = [slice_("web", ("10.1.0.1", READY), ("10.1.0.2", READY), ("10.1.0.3", READY), ("10.1.0.4", UNREADY)),
              slice_("old", ("10.1.1.1", DRAINING), ("10.1.1.2", UNREADY))]
    ports = {p.name: p for p in service_ports(services, slices)}
    assert set(ports) == {"web", "old", "none"}  # headless: no rules
    assert ports["web"].endpoints == (("10.1.0.1", 8080), ("10.1.0.2", 8080), ("10.1.0.3", 8080))
    assert ports["old"].endpoints == (("10.1.1.1", 8080),)  # only terminating ones left: they still serve
    assert ports["none"].endpoints == ()
    text = render("KLTEST01", list(ports.values()), existing={"KLTEST01-SVC-GONE", "OTHER-CHAIN"})
    lines = text.splitlines()
    web_svc = next(line.split()[-1] for line in lines if "-d 10.96.0.5/32" in line)
    spread = [line for line in lines if line.startswith(f"-A {web_svc} -m statistic")]
    assert [line.split("--probability ")[1].split()[0] for line in spread] == ["0.3333333333", "0.5000000000"]
    assert sum(1 for line in lines if line.startswith(f"-A {web_svc} -m recent") and "--seconds 600" in line) == 3
    assert any("--dport 30080" in line for line in lines)
    assert sum("DNAT --to-destination" in line for line in lines) == 4
    assert [line for line in lines if "10.96.0.7" in line] == [  # no endpoints: rejected, not forwarded
        '-A KLTEST01-REJECT -d 10.96.0.7/32 -p tcp -m tcp --dport 80 -m comment --comment '
        '"default/none:http/TCP has no endpoints" -j REJECT --reject-with icmp-port-unreachable']
    assert ":KLTEST01-SVC-GONE - [0:0]" in lines and "-X KLTEST01-SVC-GONE" in lines  # stale: emptied, removed
    assert "OTHER-CHAIN" not in text  # never touches chains that are not ours
    assert all(len(name) <= 28 for name in chains_in(text))
    nat = chains_in(text.split("*filter")[0])
    assert cleanup("KLTEST01", {"nat": nat | {"OTHER"}, "filter": {"KLTEST01-REJECT"}}).count("-X KLTEST01-") == (
        len(nat) + 1)  # every chain of ours in both tables, not OTHER


def test_chain_prefix_differs_per_cluster_and_node() -> None:
    assert len({chain_prefix(uid, node) for uid in ("a", "b") for node in ("n1", "n2")}) == 4
    assert chain_prefix("a", "n1") == chain_prefix("a", "n1")


def test_service_env_and_dns_settings() -> None:
    pod = Pod.model_validate({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": []}})
    env = service_env(pod, [svc("my-web", "10.96.0.5", ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                                             {"name": "dns", "port": 53, "protocol": "UDP"}]),
                            svc("other", "10.96.0.9", ns="elsewhere"), svc("db", "None")])
    assert env["MY_WEB_SERVICE_HOST"] == "10.96.0.5" and env["MY_WEB_SERVICE_PORT"] == "80"
    assert env["MY_WEB_SERVICE_PORT_DNS"] == "53" and env["MY_WEB_PORT"] == "tcp://10.96.0.5:80"
    assert env["MY_WEB_PORT_53_UDP_ADDR"] == "10.96.0.5" and env["MY_WEB_PORT_53_UDP_PROTO"] == "udp"
    assert not any(k.startswith(("OTHER_", "DB_")) for k in env)
    no_links = Pod.model_validate({"metadata": {"name": "p", "namespace": "default"},
                                   "spec": {"containers": [], "enableServiceLinks": False}})
    assert service_env(no_links, [svc("web", "10.96.0.5")]) == {}
    settings = dns_settings(pod, "10.96.0.10", "cluster.local")
    assert settings is not None and settings.servers == ("10.96.0.10",) and settings.options == ("ndots:5",)
    assert settings.search == ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")
    host_dns = Pod.model_validate({"metadata": {"name": "p", "namespace": "x"}, "spec": {"containers": [],
                                                                                        "dnsPolicy": "Default"}})
    assert dns_settings(host_dns, "10.96.0.10", "cluster.local") is None and dns_settings(pod, None, "c") is None
