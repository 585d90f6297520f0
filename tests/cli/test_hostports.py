"""Reaching pods from the host: the agent's kubelite.io/host-ports annotation (no I/O)."""

from kubelite.cli.hostports import pod_urls, published_ports


def test_annotation_and_spec_host_ports() -> None:
    pod = {
        "metadata": {"annotations": {"kubelite.io/host-ports": (
            '[{"container":"web","containerPort":8080,"protocol":"TCP","hostIP":"127.0.0.1","hostPort":32781},'
            '{"container":"dns","containerPort":53,"protocol":"UDP","hostIP":"0.0.0.0","hostPort":31053}]')}},
        "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 8080}]},
                                {"name": "admin", "ports": [{"containerPort": 9000, "hostPort": 30900}]}]},
        "status": {"hostIP": "10.0.0.7"},
    }
    assert pod_urls(pod) == ["http://10.0.0.7:30900/", "http://127.0.0.1:32781/"]
    udp = [e for e in published_ports(pod) if e["protocol"] == "UDP"]
    assert udp == [{"container": "dns", "containerPort": 53, "protocol": "UDP", "hostIP": "127.0.0.1",
                    "hostPort": 31053}]


def test_nothing_published_or_garbage() -> None:
    assert pod_urls({}) == []
    assert pod_urls({"metadata": {"annotations": {"kubelite.io/host-ports": "not json"}}}) == []
