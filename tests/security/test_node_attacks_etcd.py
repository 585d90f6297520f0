"""Attacks with node-1's etcd certificate (CN ``system:node:node-1``, kl up's node role) on a real
TLS etcd with auth on: what etcd's RBAC holds, and the gaps measured (etcd 3.5 checks no permission
on them; docs/security.md lists them). Should a ``test_gap_*`` start failing, etcd closed the gap:
update the docs.

Held: snapshot, hash, member changes, other users' and roles' definitions, a range or a
transaction's compare that reaches into ``/registry/secrets/``, revoking a lease other keys hang on.
Fixed here: a forged or undecodable value under the node's own Lease key (readers take its identity
from the key).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aetcd import rpc

from kubelite.api.coordination import Lease, LeaseSpec
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import LEASES, PODS, SECRETS
from kubelite.etcd.ops import op_put, txn
from kubelite.storage.store import encode
from kubelite.storage.watch import watch
from tests.security.test_etcd_node_roles import Secured, first_watch_response
from tests.security.test_etcd_node_roles import secured as secured  # noqa: F401 - the etcd fixture

NOSPACE = 1  # etcdserverpb.AlarmType
ACTIVATE, DEACTIVATE = 1, 2  # etcdserverpb.AlarmRequest.AlarmAction


async def refused(call: Any) -> None:
    with pytest.raises(rpc.AioRpcError) as info:
        await call
    assert "permission denied" in (info.value.details() or ""), info.value


async def test_what_etcd_refuses_a_node(secured: Secured) -> None:
    node, admin = secured.node1.client, secured.admin.client
    md = node.metadata
    await secured.admin.create(SECRETS, SECRETS.model.model_validate({
        "metadata": {"name": "db", "namespace": "default"}, "data": {"password": "czNjcmV0"}}))
    maintenance, cluster, auth = rpc.MaintenanceStub(node.channel), rpc.ClusterStub(node.channel), rpc.AuthStub(node.channel)
    # a snapshot would hold every Secret
    with pytest.raises(rpc.AioRpcError) as info:
        async for _ in maintenance.Snapshot(rpc.SnapshotRequest(), timeout=5, metadata=md):
            pass
    assert "permission denied" in (info.value.details() or "")
    await refused(maintenance.Hash(rpc.HashRequest(), timeout=5, metadata=md))
    await refused(maintenance.HashKV(rpc.HashKVRequest(), timeout=5, metadata=md))
    await refused(cluster.MemberAdd(rpc.MemberAddRequest(peerURLs=["http://127.0.0.1:1"], isLearner=True),
                                    timeout=5, metadata=md))
    await refused(auth.UserGet(rpc.AuthUserGetRequest(name="system:node:node-2"), timeout=5, metadata=md))
    await refused(auth.RoleGet(rpc.AuthRoleGetRequest(role="kubelite:node:node-2"), timeout=5, metadata=md))
    await refused(auth.UserList(rpc.AuthUserListRequest(), timeout=5, metadata=md))
    kv = rpc.KVStub(node.channel)
    for key, end in ((b"/registry/", b"\0"), (b"/registry/secrets0", b"\0"), (b"/", b"\0"),
                     (b"/registry/secrets/", b"/registry/secrets0")):
        await refused(kv.Range(rpc.RangeRequest(key=key, range_end=end, keys_only=True), timeout=5, metadata=md))
    # a delete range from its own key on (over node-2's): etcd wants write permission on the whole range
    await refused(kv.DeleteRange(rpc.DeleteRangeRequest(key=LEASES.key("node-1", "kube-node-lease").encode(),
                                                        range_end=b"/registry/leases/kube-node-lease0"),
                                 timeout=5, metadata=md))
    # a watch whose range crosses /registry/secrets/ is cancelled at its creation, as one of Secrets only
    for prefix in (b"/registry/", b"/registry/secrets/default/"):
        created = await first_watch_response(node, prefix)
        assert created.created and created.canceled and "permission denied" in created.cancel_reason, (prefix, created)
    # a compare tells a value bit by bit: etcd checks read permission on compared keys
    own = LEASES.key("node-1", "kube-node-lease").encode()
    compare = rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.VALUE, key=b"/registry/secrets/default/db",
                          value=b"x")
    await refused(kv.Txn(rpc.TxnRequest(compare=[compare], success=[
        rpc.RequestOp(request_range=rpc.RangeRequest(key=own))]), timeout=5, metadata=md))
    # a lease the components' keys hang on: revoking it would delete them; etcd checks each key
    granted = await admin.lease(60)
    await txn(admin, [], [op_put(PODS.key("victim", "default"), b"{}", granted.id)], [], what="attach")
    await refused(rpc.LeaseStub(node.channel).LeaseRevoke(rpc.LeaseRevokeRequest(ID=granted.id), timeout=5,
                                                          metadata=md))
    assert (await secured.admin.client.get(PODS.key("victim", "default").encode())) is not None


async def test_gap_a_node_may_raise_and_clear_etcds_alarms(secured: Secured) -> None:
    """etcd checks no permission on Alarm (3.5.1, and main as read: authMaintenanceServer wraps
    no Alarm): node-1's certificate raises NOSPACE and every write of the cluster is refused
    until an admin (or anyone) disarms it. An outage, not a leak."""
    node, md = secured.node1.client, secured.node1.client.metadata
    stub = rpc.MaintenanceStub(node.channel)
    raised = await stub.Alarm(rpc.AlarmRequest(action=ACTIVATE, memberID=0, alarm=NOSPACE), timeout=5, metadata=md)
    try:
        assert [a.alarm for a in raised.alarms] == [NOSPACE]
        with pytest.raises(Exception, match="database space exceeded"):
            await secured.admin.client.lease(60)
    finally:
        cleared = await stub.Alarm(rpc.AlarmRequest(action=DEACTIVATE, memberID=0, alarm=NOSPACE), timeout=5,
                                   metadata=md)
    assert cleared.alarms  # the one it disarmed
    assert (await secured.admin.client.lease(60)).id


async def test_gap_a_node_may_revoke_an_empty_lease_and_keep_any_lease_alive(secured: Secured) -> None:
    """etcd checks a revoke only against the keys on the lease (none: allowed) and a keepalive not
    at all: a node may revoke a component's lease before its first key is attached, and keep a dead
    component's lease alive (its keys then outlive it)."""
    node, md, admin = secured.node1.client, secured.node1.client.metadata, secured.admin.client
    stub = rpc.LeaseStub(node.channel)
    empty = await admin.lease(60)
    await stub.LeaseRevoke(rpc.LeaseRevokeRequest(ID=empty.id), timeout=5, metadata=md)
    theirs = await admin.lease(30)

    async def keepalive() -> Any:
        yield rpc.LeaseKeepAliveRequest(ID=theirs.id)
    async for reply in stub.LeaseKeepAlive(keepalive(), timeout=5, metadata=md):
        assert reply.TTL == 30
        break


async def test_a_nodes_lease_key_reads_as_its_own_lease_whatever_it_holds(secured: Secured) -> None:
    """The node writes its Lease key directly, so the gateway's admission never sees the value.
    The hole (fixed, kubelite.storage.nodewritten): a Lease named node-2 under node-1's key read back
    as node-2's, in lists, gets and watches alike (informers key objects by their metadata, so the
    node lifecycle controller filed it as node-2's); and bytes that do not decode failed every list
    of node Leases. Now the key gives the identity and an undecodable value reads as an empty Lease."""
    admin, key = secured.admin, LEASES.key("node-1", "kube-node-lease")
    await admin.create(LEASES, Lease(metadata=ObjectMeta(name="node-2", namespace="kube-node-lease"),
                                     spec=LeaseSpec(holder_identity="node-2")))
    start = (await admin.list(LEASES, "kube-node-lease")).resource_version
    stream = watch(admin.client, LEASES, "kube-node-lease", from_revision=int(start) + 1)
    try:
        forged = Lease(metadata=ObjectMeta(name="node-2", namespace="default", uid="x"),
                       spec=LeaseSpec(holder_identity="node-2"))
        for value in (encode(forged), b"k8s:enc:aescbc:v1:key1:garbage", b"not json", b'{"spec": "a string"}',
                      b'{"metadata": ["x"]}'):
            await txn(secured.node1.client, [], [op_put(key, value)], [], what="forge")
            listed = await admin.list(LEASES, "kube-node-lease")
            assert sorted((lease.namespace, lease.name) for lease in listed.items) == [
                ("kube-node-lease", "node-1"), ("kube-node-lease", "node-2")], value
            node2 = next(lease for lease in listed.items if lease.name == "node-2")
            assert node2.spec is not None and node2.spec.holder_identity == "node-2"
            assert (await admin.get(LEASES, "node-1", "kube-node-lease")).name == "node-1"
            for flavour in ({"as_documents": True}, {"as_json": True}):
                docs = (await admin.list(LEASES, "kube-node-lease", **flavour)).items  # type: ignore[call-overload]
                names = sorted(json.loads(d)["metadata"]["name"] if isinstance(d, bytes) else d["metadata"]["name"]
                               for d in docs)
                assert names == ["node-1", "node-2"], (flavour, value)
            event = await asyncio.wait_for(anext(stream), 10)
            assert (event.object.namespace, event.object.name) == ("kube-node-lease", "node-1"), value
    finally:
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator
