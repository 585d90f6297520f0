"""The node-lifecycle controller: node liveness from the lease keys, taints, evictions.

A node's lease key (kube-node-lease/<node>) disappears when its agent's etcd
lease expires. After ``node_monitor_grace_seconds`` the Node gets
Ready=Unknown and the ``node.kubernetes.io/unreachable:NoExecute`` taint; an
agent that reports Ready=False gets ``node.kubernetes.io/not-ready``. While a
node is not Ready its pods get Ready=False at once (Kubernetes'
``MarkPodsNotReady``, event NodeNotReady), so ReplicaSets and Deployments stop
counting them. Pods are evicted (deleted) when their own NoExecute tolerations
run out (the taint manager; admission gave every pod the default ones). A pod
evicted from an unreachable node can never be confirmed by its agent, so once
its grace period has passed it is force-deleted (Kubernetes' pod GC does the
same), and pods of a deleted Node are deleted — "deleted" confirmed by a read
from etcd, not by the node cache, which may not have seen a new Node yet. The lease coming back clears
it all.

Like kube-controller-manager's TaintNodesByCondition, it also keeps the NoSchedule taints that
follow the node's conditions — ``not-ready``/``unreachable`` (Ready False/Unknown),
``memory-pressure``, ``disk-pressure``, ``pid-pressure``, ``network-unavailable`` — and
``unschedulable`` (``spec.unschedulable``, a cordon) in step with them on every Node change: the
agent only reports conditions, as a kubelet does, for a node's credentials may not change its
taints (NodeRestriction). Decisions are in :mod:`controllers.taints`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from kubelite.api import errors
from kubelite.api.core import Node, NodeCondition, NodeSpec, NodeStatus, Pod
from kubelite.api.resources import NODES, PODS
from kubelite.client.informer import FuncHandler, object_key
from kubelite.client.reconcile import Result

from controllers import taints
from controllers.base import Controller
from controllers.context import NODE_LEASE_NAMESPACE, ControllerContext

log = logging.getLogger(__name__)


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    component = "node-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.node_workers
        self._lease_missing_since: dict[str, float] = {}

    def register(self) -> None:
        self.informers.nodes.add_handler(FuncHandler.enqueue_all(lambda node: self.enqueue(node.name)))
        self.informers.node_leases.add_handler(FuncHandler(
            add=self._lease_added, update=lambda _old, lease: self.enqueue(lease.name), delete=self._lease_deleted))
        self.informers.pods.add_handler(FuncHandler(add=self._pod_changed, update=lambda _o, p: self._pod_changed(p)))

    def initial_keys(self) -> list[str]:
        names = set(self.informers.nodes.keys())
        names |= {p.spec.node_name for p in self.informers.pods.list() if p.spec.node_name}
        return sorted(names)

    def _lease_added(self, lease: object) -> None:
        name = getattr(lease, "name", "")
        self._lease_missing_since.pop(name, None)
        self.enqueue(name)

    def _lease_deleted(self, lease: object) -> None:
        name = getattr(lease, "name", "")
        self._lease_missing_since.setdefault(name, self.ctx.monotonic())
        self.enqueue(name)

    def _pod_changed(self, pod: Pod) -> None:
        node_name = pod.spec.node_name
        if not node_name or self.queue is None:
            return
        node = self.informers.nodes.get(node_name)
        if (node is None or any(t.effect == "NoExecute" for t in node.taints)
                or taints.should_mark_not_ready(pod, node)):
            self.enqueue(node_name)

    # -- reconcile ----------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        node: Node | None = self.informers.nodes.get(key)
        pods = [p for p in self.informers.pods.by_index("node", key) if not p.is_terminated()]
        if node is None:
            if pods and not await self._node_gone(key):
                return None  # the node cache is behind the pod cache; the node's add event enqueues it again
            for pod in pods:
                await self._delete_pod(pod, force=True, reason="NodeDeleted")
            return None
        lease_present = self.informers.node_leases.get(f"{NODE_LEASE_NAMESPACE}/{key}") is not None
        if lease_present:
            self._lease_missing_since.pop(key, None)
            missing_for = 0.0
        else:
            missing_for = self.ctx.monotonic() - self._lease_missing_since.setdefault(key, self.ctx.monotonic())
        grace = self.ctx.settings.node_monitor_grace_seconds
        verdict = taints.judge_node(node, lease_present=lease_present, lease_missing_for=missing_for, grace=grace)
        waits: list[float] = []
        if verdict is None:
            waits.append(grace - missing_for + 0.05)
        elif verdict.ready is not None:
            node = await self._write_ready(node, verdict.ready)
        node = await self._sync_taints(node, verdict)
        now: datetime = self.ctx.clock()
        unreachable = not lease_present and verdict is not None
        for pod in pods:
            if taints.should_mark_not_ready(pod, node):
                await self._mark_not_ready(pod, now)
            wait = await self._maybe_evict(pod, node, now, unreachable=unreachable)
            if wait is not None:
                waits.append(wait)
        return Result(requeue_after=max(min(waits), 0.05)) if waits else None

    async def _node_gone(self, name: str) -> bool:
        """Whether the Node is really gone, by a linearizable read: the nodes and pods informers
        are separate watches, so a pod bound to a node registered a moment ago can reach the
        pod cache before its Node reaches the node cache (kube's pod GC likewise re-reads a
        missing node from the API server before it deletes the node's pods)."""
        try:
            await self.store.get(NODES, name)
        except errors.ApiError as exc:
            if exc.code == 404:
                return True
            raise
        return False

    async def _write_ready(self, node: Node, ready: str) -> Node:
        node = await self.store.guaranteed_update(NODES, node.name, None, _set_ready(ready, self.ctx.clock()),
                                                  subresource="status", fence=self.fence)
        if ready == "Unknown":
            self.recorder.record(node, "Normal", "NodeNotReady", f"Node {node.name} status is now: NodeNotReady")
        else:
            self.recorder.record(node, "Normal", "NodeReady", f"Node {node.name} status is now: NodeReady")
        return node

    async def _sync_taints(self, node: Node, verdict: taints.NodeVerdict | None) -> Node:
        """The lifecycle NoExecute taint of ``verdict`` and the NoSchedule taints of the node's
        conditions, in one fenced write (recomputed on the stored Node, whose conditions the agent
        may just have changed)."""
        now = self.ctx.clock()
        if taints.reconciled_taints(node, verdict, now) is None:
            return node

        def mutate(current: Node) -> Node | None:
            changed = taints.reconciled_taints(current, verdict, now)
            if changed is None:
                return None
            current.spec = current.spec or NodeSpec()
            current.spec.taints = changed or None
            return current

        node = await self.store.guaranteed_update(NODES, node.name, None, mutate, fence=self.fence)
        log.info("node %s: taints now %s", node.name, [f"{t.key}:{t.effect}" for t in node.taints])
        return node

    async def _maybe_evict(self, pod: Pod, node: Node, now: datetime, *, unreachable: bool) -> float | None:
        """Evict or force-delete now, or say in how many seconds to look again."""
        if pod.metadata.deletion_timestamp is not None:
            if not unreachable:
                return None  # the agent finishes it
            at = taints.force_delete_time(pod)
            if at is not None and at > now:
                return (at - now).total_seconds()
            await self._delete_pod(pod, force=True, reason="PodGCUnreachable")
            return None
        at = taints.eviction_time(pod, node.taints, now=now)
        if at is None:
            return None
        if at > now:
            return (at - now).total_seconds()
        await self._write_pod_status(pod, lambda current: taints.with_disruption_target(current, now))
        await self._delete_pod(pod, force=False, reason="TaintManagerEviction")
        return 0.05 if unreachable else None  # come back to force it once its grace is over

    async def _write_pod_status(self, pod: Pod, change: Callable[[Pod], Pod | None]) -> bool:
        """A fenced status write of ``change`` on the pod as stored (same uid and node); False when gone."""
        def mutate(current: Pod) -> Pod | None:
            if current.metadata.uid != pod.metadata.uid or current.spec.node_name != pod.spec.node_name:
                return None
            return change(current)
        try:
            await self.store.guaranteed_update(PODS, pod.name, pod.namespace, mutate, subresource="status",
                                               fence=self.fence)
        except errors.ApiError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    async def _mark_not_ready(self, pod: Pod, now: datetime) -> None:
        """MarkPodsNotReady for one pod: a status write with the fence; gone means done."""
        if not await self._write_pod_status(pod, lambda current: taints.marked_not_ready(current, now)):
            return
        log.info("node %s is not ready: pod %s marked NotReady", pod.spec.node_name, object_key(pod))
        self.recorder.record(pod, "Warning", "NodeNotReady", "Node is not ready")

    async def _delete_pod(self, pod: Pod, *, force: bool, reason: str) -> None:
        try:
            await self.store.delete(PODS, pod.name, pod.namespace, uid=pod.metadata.uid,
                                    grace_period_seconds=0 if force else None, fence=self.fence)
        except errors.ApiError as exc:
            if exc.code == 404:
                return
            raise
        if reason == "TaintManagerEviction":
            self.ctx.metrics.evictions.inc()
            self.recorder.record(pod, "Normal", reason, f"Marking for deletion Pod {object_key(pod)}")
        else:
            log.info("node-lifecycle: force-deleted pod %s (%s)", object_key(pod), reason)


def _set_ready(value: str, now: datetime) -> Callable[[Node], Node | None]:
    def mutate(node: Node) -> Node | None:
        status = node.status or NodeStatus()
        current = status.condition("Ready")
        if current is not None and current.status == value:
            return None
        if value == "Unknown":
            condition = NodeCondition(type="Ready", status="Unknown", reason="NodeStatusUnknown",
                                      message="Kubelet stopped posting node status.", last_transition_time=now,
                                      last_heartbeat_time=current.last_heartbeat_time if current else None)
        else:
            condition = NodeCondition(type="Ready", status="True", reason="NodeLeaseRenewed",
                                      message="node lease renewed", last_transition_time=now, last_heartbeat_time=now)
        status.conditions = [*[c for c in status.conditions or [] if c.type != "Ready"], condition]
        node.status = status
        return node
    return mutate
