"""Where an httpGet/tcpSocket probe connects (agent.probes.probe_address): the pod's IP, or the
probe's own host — but never this node's loopback or an unspecified address, which would reach the
node's own services (the gateway's plain port answers the agent's user as an admin), not the pod."""

from __future__ import annotations

import pytest

from agent.probes import probe_address


@pytest.mark.parametrize(("host", "expected"), [
    ("", "10.88.0.7"),                # no host: the pod's IP, as the kubelet
    ("10.1.2.3", "10.1.2.3"),
    ("fd00::5", "fd00::5"),
])
async def test_the_pod_s_ip_or_the_probe_s_own_host(host: str, expected: str) -> None:
    assert await probe_address(host, "10.88.0.7") == expected


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1", "localhost", "0.0.0.0", "::",
                                  "::ffff:127.0.0.1"])
async def test_the_node_s_own_addresses_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="not the pod's"):
        await probe_address(host, "10.88.0.7")
