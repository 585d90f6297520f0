"""A node's writes through the gateway (agent ``--write-through-api``, agent/apiwrites.py): node-1's
writes go to an HTTPS gateway with RBAC and NodeRestriction as ``system:node:node-1``, so they may
change its own Node, its own pods' status, delete its own pods and write Events, and every write
about node-2's pod or Node is kube's 403 with nothing written. Then a real Docker agent with the
flag runs a pod that uses a Secret to Running: the Secret came through the gateway as the node, and the
status reached etcd through the gateway (the field manager is the agent's), not around it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.apiclient import USER_AGENT, GatewayConnection
from agent.apiwrites import ApiWriteStore
from kubelite.api import errors
from kubelite.api.core import Event, Node, ObjectReference, Pod
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import EVENTS, NODES, PODS
from kubelite.auth import pki
from kubelite.etcd.ops import range_
from kubelite.testing.processes import Processes, node_ready
from kubelite.testing.waiting import wait_for
from tests.agent.test_node_writes import node_scenario
from tests.security.test_gateway_x509_rbac import Secure, revision
from tests.security.test_gateway_x509_rbac import secure as secure  # noqa: F401 - the gateway fixture

pytestmark = pytest.mark.timeout(180)


def pod(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "kubelite/demo:latest", "command": ["sleep", "3600"]}]}}


def node_connection(secure: Secure, node: str) -> tuple[GatewayConnection, Path, Path]:
    pki.write_pair(secure.dir, f"node-{node}", secure.user(f"system:node:{node}", "system:nodes"))
    pki.write_pair(secure.dir, "ca", secure.ca)
    cert, key = secure.dir / f"node-{node}.crt", secure.dir / f"node-{node}.key"
    return GatewayConnection(secure.url, ca_file=secure.dir / "ca.crt", client_cert=cert, client_key=key), cert, key


async def admin_creates(secure: Secure, tmp_path: Path, path: str, doc: dict[str, Any]) -> None:
    admin = pki.read_pair(tmp_path / "pki", "admin")
    status, created = await secure.call(admin, "POST", path, doc)
    assert status == 201, created


async def test_a_nodes_writes_through_the_gateway_are_its_own_only(secure: Secure, tmp_path: Path) -> None:
    connection, _, _ = node_connection(secure, "node-1")
    node1 = ApiWriteStore(secure.store.client, connection)
    try:
        mine = await node1.create(NODES, Node(metadata=ObjectMeta(name="node-1")))
        assert mine.metadata.resource_version
        await admin_creates(secure, tmp_path, "/api/v1/nodes", {"metadata": {"name": "node-2"}})
        for name, node in (("p1", "node-1"), ("p2", "node-2")):
            await admin_creates(secure, tmp_path, "/api/v1/namespaces/default/pods", pod(name, node))

        def running(p: Pod) -> Pod:
            p.status = p.status.model_copy(update={"phase": "Running"}) if p.status else None
            return p
        written = await node1.guaranteed_update(PODS, "p1", "default", running, subresource="status")
        assert written.phase == "Running"
        assert (await secure.store.get(PODS, "p1", "default")).phase == "Running"
        managers = [(m.manager, m.subresource) for m in written.metadata.managed_fields or []]
        assert (USER_AGENT, "status") in managers  # written by the gateway, as the agent

        before = await revision(secure.store)
        refusals = {
            "node-2's pod status": node1.guaranteed_update(PODS, "p2", "default", running, subresource="status"),
            "its own pod's metadata": node1.guaranteed_update(
                PODS, "p1", "default", lambda p: p.model_copy(update={"metadata": p.metadata.model_copy(
                    update={"labels": {"x": "y"}})})),
            "node-2's Node": node1.guaranteed_update(
                NODES, "node-2", None, lambda n: n.model_copy(update={"metadata": n.metadata.model_copy(
                    update={"labels": {"x": "y"}})})),
            "node-2's pod": node1.delete(PODS, "p2", "default", grace_period_seconds=0),
        }
        for what, write in refusals.items():
            with pytest.raises(errors.ApiError) as refused:
                await write
            assert refused.value.code == 403, (what, refused.value.status)
        assert await revision(secure.store) == before, "a refused write reached etcd"

        event = Event(metadata=ObjectMeta(name="p1.test", namespace="default"), reason="Tested", message="m",
                      involved_object=ObjectReference(kind="Pod", name="p1", namespace="default"), type="Normal")
        await node1.create(EVENTS, event, lease=12345)  # the gateway's TTL lease, not the caller's
        [kv] = (await range_(secure.store.client, "/registry/events/default/p1.test", what="test")).kvs
        assert kv.lease not in (0, 12345)

        gone, now = await node1.delete(PODS, "p1", "default", grace_period_seconds=0,
                                       uid=(await secure.store.get(PODS, "p1", "default")).metadata.uid)
        assert now and gone.name == "p1"
        with pytest.raises(errors.ApiError) as missing:
            await secure.store.get(PODS, "p1", "default")
        assert missing.value.code == 404
    finally:
        await node1.close()


async def test_a_docker_agent_writing_through_the_gateway_runs_its_pod(
    secure: Secure, processes: Processes, tmp_path: Path,
) -> None:
    node = f"{processes.prefix}n1"
    _, cert, key = node_connection(secure, node)
    processes.start_docker_agent("n1", "--write-through-api", "--api-server", secure.url,
                                 "--api-ca-file", str(secure.dir / "ca.crt"),
                                 "--api-client-cert", str(cert), "--api-client-key", str(key))

    async def registered() -> bool:  # no controller-manager here: the node's own Ready condition
        try:
            return node_ready(await secure.store.get(NODES, node))
        except errors.ApiError:
            return False
    await wait_for(registered, 90, 0.2, message="the node registers, Ready")
    # its Secret comes through the gateway too (the Node authorizer lets the node have it): the container
    # runs only when both the env var and the volume file hold it
    await admin_creates(secure, tmp_path, "/api/v1/namespaces/default/secrets",
                        {"metadata": {"name": "web-secret"}, "stringData": {"k": "one"}})
    web = pod("web", node)
    web["spec"]["volumes"] = [{"name": "s", "secret": {"secretName": "web-secret"}}]
    web["spec"]["containers"][0].update(
        command=["sh", "-c", 'test "$S" = one && test "$(cat /s/k)" = one && exec sleep 3600'],
        env=[{"name": "S", "valueFrom": {"secretKeyRef": {"name": "web-secret", "key": "k"}}}],
        volumeMounts=[{"name": "s", "mountPath": "/s"}])
    await admin_creates(secure, tmp_path, "/api/v1/namespaces/default/pods", web)

    async def running() -> Pod | None:
        current = await secure.store.get(PODS, "web", "default")
        return current if current.phase == "Running" and current.is_ready() else None
    ran = await wait_for(running, 90, 0.2, message="the pod runs and its status is written")
    managers = {(m.manager, m.subresource) for m in ran.metadata.managed_fields or []}
    assert (USER_AGENT, "status") in managers, managers
    registered = await secure.store.get(NODES, node)
    assert (USER_AGENT, None) in {(m.manager, m.subresource) for m in registered.metadata.managed_fields or []}


async def test_a_sim_agents_every_write_passes_the_gateway_as_its_node(secure: Secure) -> None:
    """The agent's whole repertoire through the real gateway as ``system:node:<node>``: registration
    (taints only at create), host ports through pods/status, DiskPressure, admission refusal and
    eviction, a graceful delete, the local-path finalizer drop (tests/agent/test_node_writes.py)."""
    connection, _, _ = node_connection(secure, "sim-1")
    through = ApiWriteStore(secure.store.client, connection)
    try:
        await node_scenario(through, secure.store, "sim-1")
    finally:
        await through.close()
