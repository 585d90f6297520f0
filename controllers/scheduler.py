"""The scheduler: binds each unbound pod to a node chosen by :mod:`controllers.scheduling`.

Informers: pods (unbound ones are queued; bound ones are accounted to their
node), nodes, node leases. As in kube-scheduler, the *scheduling cycle* is
serial: one worker pops the highest-priority pod and decides, without
awaiting, from the cache plus the pods this scheduler has bound but not yet
seen bound ("assumed"), so no two decisions can double-book a node and a
higher-priority pod always decides first. The *binding cycle* — the writes —
runs concurrently (``scheduler_workers`` at once; kube-scheduler runs each in its own goroutine).
The bind is kube's binding (:meth:`Store.bind`, also served as
``pods/binding``): ``spec.nodeName`` and PodScheduled=True in one write, under
the leader fence, only while the pod (by uid) is unbound: a pod is never bound
twice. The binding cycles of one moment share an etcd txn (:class:`BindBatch`,
:meth:`Store.bind_batch`): each pod's write is still that one, all or none.
Pods that fit nowhere get PodScheduled=False and a FailedScheduling event
naming why, and wait in ``unschedulable`` until a node, a node lease or a
bound pod changes — never on a timer (the informers' resync is the only
safety net).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kubelite.api import errors
from kubelite.api.core import Node, Pod, PodCondition, PodStatus
from kubelite.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS
from kubelite.client.informer import FuncHandler, object_key
from kubelite.client.reconcile import ReconcileLoop, Result
from kubelite.registry.storageclass import SELECTED_NODE_ANNOTATION
from kubelite.storage.store import NotLeader
from kubelite.util.supervise import cancel_and_wait
from kubelite.client.workqueue import WorkQueue

from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.scheduling import COLUMNS_MIN_NODES, NodeInfo, PodCost, schedule

if TYPE_CHECKING:
    from controllers.scheduling.table import NodeTable

log = logging.getLogger(__name__)

SCHEDULER_NAME = "default-scheduler"
MAX_BATCH = 64  # binds per txn: each is a compare and a put, and etcd takes 128 operations per txn by default


class BindBatch:
    """The binding cycles of one moment share an etcd txn (:meth:`Store.bind_batch`; issue 12: a txn
    costs this process about 0.3 ms of CPU whatever it carries, a bind's own share is tens of µs).

    The first cycle to arrive leads: it lets the loop run once, so the cycles started with it join,
    then writes them all (in txns of up to MAX_BATCH) and tells each whether its pod was bound. A
    pod the shared txn could not bind (:meth:`Store.bind_batch` says which), and every pod of a shared
    txn that failed (an etcd error: one pod's request too large must not hold the others back), is
    bound alone by its own cycle, which then gets :meth:`Store.bind`'s own answer and error. Nothing
    runs in the background: the leader's cycle does the writing, and if it is cancelled the others
    bind alone."""

    def __init__(self, write: Callable[[list[tuple[Pod, str]]], Awaitable[list[str | None]]]) -> None:
        self._write = write
        self._pending: list[tuple[Pod, str, asyncio.Future[bool]]] = []

    async def bind(self, pod: Pod, node: str) -> bool:
        """True: ``pod`` is bound to ``node``; False: the caller binds it alone."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((pod, node, future))
        if len(self._pending) > 1:
            return await future
        batch: list[tuple[Pod, str, asyncio.Future[bool]]] = []
        try:
            await asyncio.sleep(0)  # one turn of the loop: the cycles started with this one join it
            batch, self._pending = self._pending, []
            for start in range(0, len(batch), MAX_BATCH):
                chunk = batch[start:start + MAX_BATCH]
                try:
                    results = await self._write([(p, n) for p, n, _ in chunk])
                except Exception:  # noqa: BLE001 - each cycle binds alone and meets its own error, if any
                    log.debug("a shared bind txn of %d pods failed; each is bound alone", len(chunk), exc_info=True)
                    results = [None] * len(chunk)
                for (_, _, waiting), result in zip(chunk, results, strict=True):
                    if not waiting.done():
                        waiting.set_result(result is not None)
        finally:
            if not batch:  # cancelled before taking it: the next cycle to arrive leads what is pending
                batch, self._pending = self._pending, []
            for _, _, waiting in batch:
                if not waiting.done():
                    waiting.set_result(False)
        return await future


def needs_scheduling(pod: Pod) -> bool:
    scheduler = (pod.spec.model_extra or {}).get("schedulerName") or SCHEDULER_NAME
    # a gated pod is not even queued (kube-scheduler's SchedulingGates PreEnqueue plugin): removing its
    # last gate is an update, which queues it
    return (not pod.spec.node_name and pod.metadata.deletion_timestamp is None and not pod.is_terminated()
            and scheduler == SCHEDULER_NAME and not pod.spec.scheduling_gates)


def _node_relevant_change(old: Node, new: Node) -> bool:
    """Anything a predicate or scorer reads (heartbeat timestamps are not)."""
    def view(node: Node) -> Any:
        status = node.status
        return (node.metadata.labels, node.spec.to_dict() if node.spec else None, node.is_ready(),
                status.allocatable if status else None, status.capacity if status else None)
    return bool(view(old) != view(new))


class Scheduler(Controller):
    name = "scheduler"
    component = SCHEDULER_NAME

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.workers = 1  # the scheduling cycle; the binding cycles run beside it
        self._binding_slots = asyncio.Semaphore(ctx.settings.scheduler_workers)
        self._binding: set[asyncio.Task[None]] = set()
        self._batch = BindBatch(lambda binds: self.store.bind_batch(binds, fence=self.fence))
        self.unschedulable: set[str] = set()
        self._assumed: dict[str, tuple[str, PodCost]] = {}  # pod key -> (node, cost), until seen bound
        self._costs: dict[str, PodCost] = {}  # pod uid -> cost
        self._node_cache: dict[str, NodeInfo] = {}
        self._node_list: list[NodeInfo] = []  # _node_cache by node name, what schedule() walks
        self._node_index: dict[str, int] = {}  # node name -> position in _node_list
        self._dirty: set[str] = set()
        self._all_dirty = True
        self._table: NodeTable | None = None  # _node_list as columns, once it has COLUMNS_MIN_NODES nodes
        self._next_start = 0  # round-robin: where the next cycle starts filtering (kube-scheduler's)
        self.percentage_of_nodes_to_score = ctx.settings.percentage_of_nodes_to_score
        self.claims = ctx.informers.for_resource(PERSISTENTVOLUMECLAIMS)
        self.volumes = ctx.informers.for_resource(PERSISTENTVOLUMES)

    def register(self) -> None:
        self.informers.pods.add_handler(FuncHandler(add=self._pod_added, update=self._pod_updated,
                                                    delete=self._pod_deleted))
        self.informers.nodes.add_handler(FuncHandler(add=self._node_added, update=self._node_updated,
                                                     delete=self._node_deleted))
        self.informers.node_leases.add_handler(FuncHandler(
            add=lambda lease: self._node_changed(lease.name), delete=lambda lease: self._node_changed(lease.name)))
        # a claim appearing or getting bound may make a waiting pod schedulable
        self.claims.add_handler(FuncHandler(add=lambda _c: self._retry_unschedulable(),
                                            update=lambda _o, _n: self._retry_unschedulable()))
        self.volumes.add_handler(FuncHandler(add=lambda _v: self._retry_unschedulable()))

    def initial_keys(self) -> list[str]:
        return [object_key(p) for p in self.informers.pods.list() if needs_scheduling(p)]

    def make_queue(self) -> WorkQueue:
        """Higher ``spec.priority`` (resolved from priorityClassName at admission) is scheduled first."""
        return WorkQueue(self.name, metrics=self.ctx.metrics.workqueue, priority=self._priority_of)

    def _priority_of(self, key: str) -> int:
        pod = self.informers.pods.get(key)
        return (pod.spec.priority or 0) if pod is not None else 0

    async def release(self) -> None:
        for task in list(self._binding):
            await cancel_and_wait(task)
        self._binding.clear()
        self.unschedulable.clear()
        self._assumed.clear()
        self._all_dirty = True

    # -- handlers: enqueue and keep the node accounting current --------------------

    def _pod_added(self, pod: Pod) -> None:
        if needs_scheduling(pod):
            self.enqueue(object_key(pod))
        elif pod.spec.node_name:
            self._pod_seen_bound(pod)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if needs_scheduling(new):
            self.enqueue(object_key(new))
            return
        if new.spec.node_name:
            self._pod_seen_bound(new)
            if new.is_terminated() and not old.is_terminated():
                self._retry_unschedulable()  # its resources are free again

    def _pod_deleted(self, pod: Pod) -> None:
        key = object_key(pod)
        self.unschedulable.discard(key)
        assumed = self._assumed.pop(key, None)
        self._costs.pop(pod.metadata.uid or "", None)
        node = pod.spec.node_name or (assumed[0] if assumed else None)
        if node:
            self._dirty.add(node)
            self._retry_unschedulable()

    def _pod_seen_bound(self, pod: Pod) -> None:
        key = object_key(pod)
        assumed = self._assumed.pop(key, None)
        if assumed is not None:
            self._dirty.add(assumed[0])
        self._dirty.add(pod.spec.node_name or "")
        self.unschedulable.discard(key)

    def _node_added(self, node: Node) -> None:
        self._node_changed(node.name)

    def _node_updated(self, old: Node, new: Node) -> None:
        if _node_relevant_change(old, new):
            self._node_changed(new.name)

    def _node_deleted(self, node: Node) -> None:
        self._node_changed(node.name)

    def _node_changed(self, name: str) -> None:
        self._dirty.add(name)
        self._retry_unschedulable()

    def _retry_unschedulable(self) -> None:
        """Something that could make a pod fit changed: try every waiting pod again."""
        if self.queue is None or not self.unschedulable:
            return
        for key in list(self.unschedulable):
            self.queue.add(key)

    # -- node infos -------------------------------------------------------------

    def _cost(self, pod: Pod) -> PodCost:
        uid = pod.metadata.uid or object_key(pod)
        cost = self._costs.get(uid)
        if cost is None:
            cost = self._costs[uid] = PodCost.of(pod)
        return cost

    def node_infos(self) -> list[NodeInfo]:
        """Current NodeInfos sorted by name, rebuilding only nodes whose pods, lease or object changed.

        The list is reused across cycles (a pod bound by this scheduler is added in place by
        :meth:`_assume`); only the node set changing re-sorts it.
        """
        if self._all_dirty:
            self._node_cache.clear()
            self._all_dirty = False
            self._dirty = {node.name for node in self.informers.nodes.list()}
            self._node_list, self._node_index, self._table = [], {}, None
        if not self._dirty:
            return self._node_list
        dirty, self._dirty = self._dirty, set()
        membership_changed = False
        for name in dirty:
            node = self.informers.nodes.get(name)
            if node is None:
                membership_changed |= self._node_cache.pop(name, None) is not None
                continue
            membership_changed |= name not in self._node_cache
            info = self._node_cache[name] = self._build(node)
            if not membership_changed:
                row = self._node_index[name]
                self._node_list[row] = info
                if self._table is not None:
                    self._table.refresh(row, info)
        if membership_changed:
            names = sorted(self._node_cache)
            self._node_list = [self._node_cache[name] for name in names]
            self._node_index = {name: i for i, name in enumerate(names)}
            self._table = None
        return self._node_list

    def node_table(self, infos: list[NodeInfo]) -> NodeTable | None:
        """``infos`` (what :meth:`node_infos` just returned) as columns, built on first use after the
        node set changed, for clusters of ``COLUMNS_MIN_NODES`` nodes or more; None for smaller ones."""
        if self._table is None and len(infos) >= COLUMNS_MIN_NODES:
            from controllers.scheduling.table import NodeTable  # numpy: only clusters this large load it

            self._table = NodeTable(infos)
        return self._table

    def _build(self, node: Node) -> NodeInfo:
        lease_present = self.informers.node_leases.get(f"kube-node-lease/{node.name}") is not None
        previous = self._node_cache.get(node.name)
        if previous is not None and previous.node is node and previous.lease_present == lease_present:
            info = previous.without_pods()  # only its pods changed: keep the parsed node facts
        else:
            info = NodeInfo(node, lease_present=lease_present)
        for pod in self.informers.pods.by_index("node", node.name):
            if not pod.is_terminated():
                info.add(self._cost(pod))
        for node_name, cost in self._assumed.values():
            if node_name == node.name:
                info.add(cost)
        return info

    def _assume(self, key: str, node: str, cost: PodCost) -> None:
        self._assumed[key] = (node, cost)
        info = self._node_cache.get(node)
        if info is not None:
            info.add(cost)
            if self._table is not None:
                self._table.refresh(self._node_index[node], info)

    def _forget(self, key: str) -> None:
        assumed = self._assumed.pop(key, None)
        if assumed is not None:
            self._dirty.add(assumed[0])

    # -- reconcile --------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        """The scheduling cycle of one pod: decide without awaiting, then start its binding cycle."""
        pod = self.informers.pods.get(key)
        if pod is None or not needs_scheduling(pod) or key in self._assumed:
            self.unschedulable.discard(key)
            return None
        metrics = self.ctx.metrics
        started = self.ctx.monotonic()
        missing, volume_terms, unbound = self._volumes(pod)
        if missing is not None:
            self.unschedulable.add(key)
            metrics.schedule_attempts.labels("unschedulable").inc()
            return await self._start_binding_cycle(
                key, self._report_unschedulable(pod, f"0/{len(self.node_infos())} nodes are available: {missing}."))
        cost = self._cost(pod)
        infos = self.node_infos()
        decision = schedule(pod, infos, start=self._next_start,
                            percentage=self.percentage_of_nodes_to_score, volume_terms=volume_terms, cost=cost,
                            table=self.node_table(infos))
        self._next_start = decision.next_start
        if decision.node is None:
            self.unschedulable.add(key)
            metrics.schedule_attempts.labels("unschedulable").inc()
            metrics.scheduling_latency.labels("unschedulable").observe(self.ctx.monotonic() - started)
            return await self._start_binding_cycle(key, self._report_unschedulable(pod, decision.message))
        self.unschedulable.discard(key)
        self._assume(key, decision.node, cost)  # before any await: the next decision sees it
        return await self._start_binding_cycle(key, self._bind_cycle(key, pod, decision.node, unbound, started))

    async def _start_binding_cycle(self, key: str, cycle: Awaitable[None]) -> Result:
        """Run ``cycle`` beside the scheduling cycle, at most ``scheduler_workers`` at once; it
        settles ``key``'s retry state when it ends."""
        await self._binding_slots.acquire()
        loop = self.loop
        task = asyncio.create_task(self._run_binding_cycle(key, cycle, loop), name=f"scheduler-bind-{key}")
        self._binding.add(task)
        task.add_done_callback(self._binding.discard)
        return Result(settled=False)

    async def _run_binding_cycle(self, key: str, cycle: Awaitable[None], loop: ReconcileLoop | None) -> None:
        outcome: Exception | None = None
        try:
            await cycle
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = exc
        finally:
            self._binding_slots.release()
        if loop is not None and loop is self.loop:  # not once this term has ended
            loop.settle(key, outcome)

    async def _bind_cycle(self, key: str, pod: Pod, node: str, unbound: list[str], started: float) -> None:
        metrics = self.ctx.metrics
        try:
            for claim in unbound:
                await self._select_node(pod.namespace or "", claim, node)
            await self._bind(pod, node)
        except BaseException:
            self._forget(key)
            metrics.schedule_attempts.labels("error").inc()
            raise
        metrics.schedule_attempts.labels("scheduled").inc()
        metrics.scheduling_latency.labels("scheduled").observe(self.ctx.monotonic() - started)
        if pod.metadata.creation_timestamp is not None:
            metrics.e2e_scheduling_latency.observe(
                max(0.0, (self.ctx.clock() - pod.metadata.creation_timestamp).total_seconds()))
        self.recorder.record(pod, "Normal", "Scheduled", f"Successfully assigned {key} to {node}")

    def _volumes(self, pod: Pod) -> tuple[str | None, tuple[tuple[dict[str, Any], ...], ...], list[str]]:
        """(why the pod cannot be placed yet, node terms of its claims' bound volumes, its unbound claims),
        kube-scheduler's VolumeBinding PreFilter."""
        raw = getattr(pod.spec, "volumes", None) or (pod.spec.model_extra or {}).get("volumes") or []
        names = []
        for volume in raw:
            doc = volume if isinstance(volume, dict) else volume.to_dict()
            claim = doc.get("persistentVolumeClaim")
            if isinstance(claim, dict) and claim.get("claimName"):
                names.append(str(claim["claimName"]))
        terms: list[tuple[dict[str, Any], ...]] = []
        unbound: list[str] = []
        for name in names:
            cached = self.claims.get(f"{pod.namespace}/{name}")
            if cached is None:
                return f'persistentvolumeclaim "{name}" not found', (), []
            volume_name = (cached.to_dict().get("spec") or {}).get("volumeName")
            if not volume_name:
                unbound.append(name)
                continue
            volume = self.volumes.get(volume_name)
            if volume is None:
                return f'persistentvolume "{volume_name}" not found', (), []
            required = ((volume.to_dict().get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
            if required.get("nodeSelectorTerms"):
                terms.append(tuple(required["nodeSelectorTerms"]))
        return None, tuple(terms), unbound

    async def _select_node(self, namespace: str, claim: str, node: str) -> None:
        """WaitForFirstConsumer: tell the provisioner where the claim's first pod goes."""
        def annotate(current: Any) -> Any:
            doc = current.to_dict()
            annotations = (doc.get("metadata") or {}).get("annotations") or {}
            if (doc.get("spec") or {}).get("volumeName") or annotations.get(SELECTED_NODE_ANNOTATION):
                return None
            doc["metadata"]["annotations"] = {**annotations, SELECTED_NODE_ANNOTATION: node}
            return type(current).model_validate(doc)
        await self.store.guaranteed_update(PERSISTENTVOLUMECLAIMS, claim, namespace, annotate, fence=self.fence)

    async def _bind(self, pod: Pod, node: str) -> None:
        """kube's binding: ``spec.nodeName`` and PodScheduled=True in one write, to this very pod (uid)
        only while it is unbound. The cached pod is tried first, in a txn shared with the binds of the
        same moment (:class:`BindBatch`); what that could not bind is bound alone, and a conflict re-reads it."""
        if await self._batch.bind(pod, node):
            return
        try:
            await self.store.bind(pod.namespace or "", pod.name, node, uid=pod.metadata.uid, fence=self.fence, read=pod)
        except errors.ApiError as exc:
            if exc.code == 404 or (exc.code == 409 and not isinstance(exc, NotLeader) and _settled_elsewhere(exc)):
                return  # deleted, replaced, being deleted or bound meanwhile: its own event settles it
            raise

    async def _report_unschedulable(self, pod: Pod, message: str) -> None:
        self.recorder.record(pod, "Warning", "FailedScheduling", message)
        condition = pod.status.condition("PodScheduled") if pod.status else None
        if condition is not None and condition.status == "False" and condition.message == message:
            return
        updated = pod.deep_copy()
        status = updated.status or PodStatus()
        status.phase = status.phase or "Pending"
        others = [c for c in status.conditions or [] if c.type != "PodScheduled"]
        status.conditions = [*others, PodCondition(type="PodScheduled", status="False", reason="Unschedulable",
                                                   message=message, last_transition_time=self.ctx.clock())]
        updated.status = status
        try:
            await self.store.update(PODS, updated, subresource="status", fence=self.fence)
        except errors.ApiError as exc:
            if exc.code not in (404, 409) or isinstance(exc, NotLeader):
                raise
            # 409: the pod changed; its update event queues it again. 404: gone.


def _settled_elsewhere(exc: errors.ApiError) -> bool:
    """A binding conflict that retrying cannot change: the pod went, was replaced, or got a node."""
    message = exc.status.message or ""
    return "already assigned" in message or "being deleted" in message or "UID in precondition" in message
