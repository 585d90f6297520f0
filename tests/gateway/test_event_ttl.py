"""Events created through the gateway expire, as kube-apiserver's ``--event-ttl`` (1 h) makes them:
their etcd key hangs on a lease of 1 h to 1 h 10 min. Real etcd, real gateway."""

from __future__ import annotations

import aiohttp
import pytest

from kubelite.etcd.ops import range_
from kubelite.gateway import Gateway

from kubelite.client.events import EVENT_TTL_SECONDS


def _event(name: str, api_version: str) -> dict[str, object]:
    doc: dict[str, object] = {"apiVersion": api_version, "kind": "Event",
                              "metadata": {"name": name, "namespace": "default"}, "reason": "Tested", "type": "Normal"}
    if api_version == "v1":
        doc["involvedObject"] = {"kind": "Pod", "name": "p", "namespace": "default"}
        doc["message"] = "a message"
    else:
        doc.update(regarding={"kind": "Pod", "name": "p", "namespace": "default"}, note="a note",
                   action="Testing", reportingController="tests", reportingInstance="tests-1",
                   eventTime="2026-12-01T00:00:00.000000Z")
    return doc


@pytest.mark.parametrize("path, api_version", [
    ("/api/v1/namespaces/default/events", "v1"),
    ("/apis/events.k8s.io/v1/namespaces/default/events", "events.k8s.io/v1"),
])
async def test_an_event_written_through_the_gateway_expires(
    gateway: Gateway, api: aiohttp.ClientSession, path: str, api_version: str,
) -> None:
    async with api.post(path, json=_event("e1", api_version)) as response:
        assert response.status == 201, await response.text()
    async with api.post(path + "?dryRun=All", json=_event("e2", api_version)) as response:
        assert response.status == 201, await response.text()
    assert gateway.state is not None
    client = gateway.state.client
    [kv] = (await range_(client, "/registry/events/default/e1", what="test event")).kvs
    assert kv.lease != 0
    ttl = await client.get_lease_info(kv.lease)
    assert EVENT_TTL_SECONDS - 5 <= ttl.TTL <= EVENT_TTL_SECONDS + 600
    assert not (await range_(client, "/registry/events/default/e2", what="test event")).kvs
