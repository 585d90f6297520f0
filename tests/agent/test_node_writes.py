"""Every write a (sim) agent makes passes RBAC's ``system:node`` role and NodeRestriction, as they
would through the gateway with the node's own certificate (``system:node:<name>`` in
``system:nodes``): registration (taints only at create), a restart's re-registration, node status and
DiskPressure, pods' status and host-ports annotation, events, the kubelet's admission refusal and
disk-pressure eviction, a graceful pod deletion (status, then delete with grace 0), and the local-path
finalizer drop. The agent gets a Store that checks each write with the gateway's own pure rules
(``kubelite.auth.rbac.authorize`` on the bootstrap policy, ``noderestriction.decide``) before
writing it; the test's own writes go through a plain store. The same scenario runs through a real
gateway with the node's certificate (``--write-through-api``) in
tests/security/test_node_writes_through_api.py."""

from __future__ import annotations

from collections import Counter
from typing import Any

from kubelite.api import errors
from kubelite.api.core import (
    Container, ContainerPort, Node, Pod, PodSpec, ResourceRequirements, Taint,
)
from kubelite.api.meta import KubeObject, ObjectMeta
from kubelite.api.resources import EVENTS, NODES, PERSISTENTVOLUMES, PODS, Resource
from kubelite.auth import rbac
from kubelite.auth.rbac_bootstrap import default_cluster_role_bindings, default_cluster_roles
from kubelite.etcd.client import EtcdClient
from kubelite.gateway import noderestriction
from kubelite.node.evictionflags import KUBELET_EVICTION_HARD, parse_eviction_hard
from kubelite.storage.store import Store
from tests.agent.conftest import agent_config
from tests.helpers import wait_for

from agent.agent import Agent
from agent.runtime.base import FsStats
from agent.runtime.sim import SimRuntime

GI = 1 << 30
POLICY = rbac.Policy.of([*default_cluster_roles(), *default_cluster_role_bindings(None)])


class NodeCredentialStore(Store):
    """A Store that refuses (403, recorded in ``refused``) what the node's certificate could not write
    through the gateway; ``writes`` counts what it let through, as ``verb resource[/sub]``."""

    def __init__(self, client: EtcdClient, node: str) -> None:
        super().__init__(client)
        self.node = node
        self.refused: list[str] = []
        self.writes: Counter[str] = Counter()

    def _check(self, verb: str, res: Resource[Any], *, sub: str = "", namespace: str | None, name: str,
               obj: KubeObject | None, old: KubeObject | None) -> None:
        what = f"{verb} {res.plural}{'/' + sub if sub else ''} {namespace or ''}/{name}"
        user = f"{noderestriction.NODE_PREFIX}{self.node}"
        attrs = rbac.Attributes(user, (noderestriction.NODES_GROUP, "system:authenticated"), verb, namespace or "",
                                res.group, res.plural, sub, name)
        reason = None if rbac.authorize(POLICY, attrs).allowed else "RBAC: " + rbac.forbidden_message(attrs)
        if reason is None and (res.group, res.plural) in noderestriction._RESTRICTED:
            operation = {"create": "CREATE", "update": "UPDATE", "delete": "DELETE"}[verb]
            node_uid = None
            reason = noderestriction.decide(self.node, noderestriction.Attributes(
                operation, res.plural, res.group, sub, namespace or "", name,  # type: ignore[arg-type]
                obj.to_dict() if obj is not None else None, old.to_dict() if old is not None else None, node_uid))
        if reason is not None:
            self.refused.append(f"{what}: {reason}")
            raise errors.forbidden(f"{what} is forbidden: {reason}", kind=res.plural, name=name)
        self.writes[f"{verb} {res.plural}{'/' + sub if sub else ''}"] += 1

    async def _stored(self, res: Resource[Any], name: str, namespace: str | None) -> Any:
        try:
            return await super().get(res, name, namespace)
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise

    async def create(self, res: Resource[Any], obj: Any, **kwargs: Any) -> Any:
        self._check("create", res, namespace=obj.metadata.namespace, name=obj.metadata.name or "", obj=obj, old=None)
        return await super().create(res, obj, **kwargs)

    async def create_events(self, events: Any, **kwargs: Any) -> Any:
        # the recorders' batches (one etcd txn) are creates as well, each checked as the node's
        for event in events:
            self._check("create", EVENTS, namespace=event.metadata.namespace, name=event.metadata.name or "",
                        obj=event, old=None)
        return await super().create_events(events, **kwargs)

    async def update(self, res: Resource[Any], obj: Any, *, subresource: Any = None, **kwargs: Any) -> Any:
        old = await self._stored(res, obj.metadata.name or "", obj.metadata.namespace)
        self._check("update", res, sub=subresource or "", namespace=obj.metadata.namespace,
                    name=obj.metadata.name or "", obj=obj, old=old)
        return await super().update(res, obj, subresource=subresource, **kwargs)

    async def delete(self, res: Resource[Any], name: str, namespace: str | None = None, **kwargs: Any) -> Any:
        old = await self._stored(res, name, namespace)
        if old is None and res is PODS:  # the gateway's admission reads the pod first: 404, as kube's
            raise errors.not_found(res.plural, name)
        self._check("delete", res, namespace=namespace, name=name, obj=None, old=old)
        return await super().delete(res, name, namespace, **kwargs)


def pod(name: str, node: str, *, port: int | None = None) -> Pod:
    ports = [ContainerPort(container_port=port, name="http")] if port else None
    return Pod(metadata=ObjectMeta(name=name, namespace="default", labels={"app": name}),
               spec=PodSpec(node_name=node, termination_grace_period_seconds=1, containers=[
                   Container(name=name, image="kubelite/demo:latest", ports=ports,
                             resources=ResourceRequirements(requests={"cpu": "10m"}))]))


def local_volume(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {
        "name": name, "annotations": {"pv.kubernetes.io/provisioned-by": "kubelite.io/local-path"},
        "finalizers": ["external-provisioner.volume.kubernetes.io/finalizer"]},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": f"/nowhere/{name}"},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}


async def node_scenario(agent_store: Store, store: Store, node_name: str) -> None:
    """A sim agent writing through ``agent_store`` does, for its node: registration with a taint,
    a pod with a host port to Running, a re-registration, DiskPressure with an admission refusal
    and an eviction, a graceful delete, and a local-path volume's finalizer drop. ``store``: the
    test's own (admin) writes and reads. Fails if any of them does not happen."""
    runtime = SimRuntime(node=node_name)
    runtime.disk_usages = {"hog": 3 * GI}
    disk = {"stats": FsStats(capacity_bytes=100 * GI, available_bytes=60 * GI)}

    async def observe() -> dict[str, FsStats]:
        return {"nodefs.available": disk["stats"], "imagefs.available": disk["stats"]}

    agent = Agent(agent_config(node_name, labels={"zone": "a"}, taints=(Taint(key="dedicated", effect="NoSchedule"),),
                               eviction_interval=0.3, pressure_transition_period=1.0,
                               eviction_hard=parse_eviction_hard(KUBELET_EVICTION_HARD)),
                  store=agent_store, runtime=runtime, observe_disk=observe)
    await agent.start()
    try:
        node = await store.get(NODES, node_name)
        assert [(t.key, t.effect) for t in node.taints] == [("dedicated", "NoSchedule")]  # set at create
        await store.create(PODS, pod("web", node_name, port=8080))
        await store.create(PODS, pod("hog", node_name))

        async def published() -> Pod | None:
            current = await store.get(PODS, "web", "default")
            return current if current.phase == "Running" and "kubelite.io/host-ports" in (
                current.metadata.annotations or {}) else None

        await wait_for(published, 30, message="web Running with its host ports")
        # an admin removed the registration taint: a restart's re-registration does not put it back

        def untaint(current: Node) -> Node:
            current.spec.taints = None
            return current

        await store.guaranteed_update(NODES, node_name, None, untaint)
        await agent.node.register()
        assert (await store.get(NODES, node_name)).taints == []

        # disk pressure: the condition only (no taint from the node), a refused pod, an eviction
        disk["stats"] = FsStats(capacity_bytes=100 * GI, available_bytes=8 * GI)

        async def pressure() -> Node | None:
            current = await store.get(NODES, node_name)
            condition = current.status.condition("DiskPressure") if current.status else None
            return current if condition is not None and condition.status == "True" else None

        assert (await wait_for(pressure, 30, message="DiskPressure True")).taints == []
        await store.create(PODS, pod("late", node_name))
        for name in ("late", "hog"):
            await wait_for(lambda n=name: _phase(store, n, "Failed"), 30, message=f"{name} refused or evicted")
        disk["stats"] = FsStats(capacity_bytes=100 * GI, available_bytes=60 * GI)

        # a graceful delete: the agent stops the containers, reports it, deletes the pod with grace 0
        await store.delete(PODS, "web", "default")
        await wait_for(lambda: _gone(store, PODS, "web", "default"), 30, message="web deleted by its agent")

        # the local-path finalizer drop of a deleted volume of this node
        created = await store.create(PERSISTENTVOLUMES, PERSISTENTVOLUMES.model.model_validate(
            local_volume(f"pv-{node_name}", node_name)))
        created_doc = created.to_dict()
        created_doc["status"] = {"phase": "Released"}
        await store.update(PERSISTENTVOLUMES, PERSISTENTVOLUMES.model.model_validate(created_doc),
                           subresource="status")
        await store.delete(PERSISTENTVOLUMES, f"pv-{node_name}")
        await wait_for(lambda: _gone(store, PERSISTENTVOLUMES, f"pv-{node_name}", None), 30,
                       message="the volume released by its node")
    finally:
        await agent.stop()


async def test_every_agent_write_is_one_the_nodes_credentials_may_make(store: Store, node_name: str) -> None:
    audited = NodeCredentialStore(store.client, node_name)
    await node_scenario(audited, store, node_name)
    assert audited.refused == []
    # the audit saw every kind of write the scenario makes (else it proves nothing)
    for seen in ("create nodes", "update nodes/status", "update pods/status", "delete pods", "create events",
                 "update persistentvolumes", "create leases"):
        assert audited.writes[seen] > 0, (seen, audited.writes)
    assert audited.writes["update pods"] == 0 and audited.writes["update nodes"] == 0, audited.writes


async def _phase(store: Store, name: str, phase: str) -> Pod | None:
    current = await store.get(PODS, name, "default")
    return current if current.phase == phase else None


async def _gone(store: Store, res: Resource[Any], name: str, namespace: str | None) -> bool:
    try:
        await store.get(res, name, namespace)
    except errors.ApiError as exc:
        return exc.code == 404
    return False
