"""The pod loop: informer on pods bound to this node → workqueue → ``reconcile(key)``.

``reconcile`` lists the pod's containers from the runtime, asks the pure
planner what to do (:mod:`agent.plan`), does it (pull, create, start, kill,
remove), then writes the pod's status with the read's resourceVersion as
precondition (a conflict raises; the queue retries). Deletion, orphans and
rediscovery live in :mod:`agent.teardown`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from pathlib import Path

from kubelite.api import errors
from kubelite.api.core import Container, Pod
from kubelite.api.resources import PODS
from kubelite.client.events import EventRecorder
from kubelite.client.informer import FuncHandler, object_key, split_key
from kubelite.client.reconcile import ReconcileLoop, Result
from kubelite.storage.store import Store
from kubelite.util.supervise import cancel_and_wait, spawn
from kubelite.client.workqueue import WorkQueue
from kubelite.etcd.ops import EtcdUnavailable
from kubelite.util import clock
from kubelite.util.clock import wall as clock_wall

from agent.backoff import Backoff
from agent.metrics import AgentMetrics
from agent.plan import (
    CreateSandbox,
    DesiredPod,
    Observed,
    Plan,
    StartContainer,
    StartExisting,
    by_attempt,
    plan_pod,
)
from agent.podsource import PodSource, own_informer
from agent.probes import ProbeManager
from agent.security import security_settings
from agent.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER,
    LABEL_GRACE,
    LABEL_NAMESPACE,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_UID,
    SANDBOX_NAME,
    ContainerInfo,
    ContainerRuntime,
    ContainerSpec,
    RuntimeEvent,
    RuntimeUnavailable,
)
from agent.imagepull import ImageManager
from agent.eviction import REASON, admission_refusal, evicted_status, rejected_status
from agent.nodehealth import NodeHealth
from agent.runtimehealth import RuntimeWatch, runtime_down_status
from agent.service_env import service_env
from agent.startfailures import StartFailures
from agent.status import StatusInput, Waiting, build_status, late_terminations, split_attempts, status_changed
from agent.teardown import Teardown
from agent.execute import Executor
from agent.podconfig.configurator import VOLUMES_KEY, ContainerConfig, PodConfigurator
from agent.podconfig.tokens import TokenManager
from agent.podconfig.env import CONFIG_ERROR, needs_pod_ip
from agent.podconfig.sources import ConfigSource
from agent.podconfig.volumes import HostVolume, MountError

log = logging.getLogger(__name__)

HOST_PORTS_ANNOTATION = "kubelite.io/host-ports"


@dataclass(frozen=True)
class PodOptions:
    node: str
    host_ip: str = "127.0.0.1"
    pause_image: str = "kubelite/demo:latest"
    pause_command: tuple[str, ...] = ("sleep", "infinity")
    backoff_initial: float = 10.0
    backoff_cap: float = 300.0
    # pods synced at once: the kubelet syncs each pod in a goroutine of its own; on Docker a node's
    # start burst is bound by the engine's starts, which overlap (16 against 8: 50 pods' p99 ~30 %
    # lower on this 2-core machine, 2026-12-01); sim nodes' workers only wait on their queue
    workers: int = 16
    resync_period: float = 30.0
    housekeeping_period: float = 30.0
    cluster_dns: str | None = None  # the kubelet's --cluster-dns: ClusterFirst pods' nameserver
    cluster_domain: str = "cluster.local"
    root_dir: str | None = None  # pods' volume directories (<root>/pods/<uid>); None: nothing on disk (sim)


class PodManager:
    """Runs the pods bound to one node; start()/stop()."""

    def __init__(
        self, store: Store, runtime: ContainerRuntime, *, recorder: EventRecorder, metrics: AgentMetrics,
        options: PodOptions, clock: Callable[[], float] = clock_wall, pod_source: PodSource | None = None,
        health: NodeHealth | None = None, config_source: ConfigSource | None = None,
        tokens: TokenManager | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.recorder = recorder
        self.metrics = metrics
        self.options = options
        self.node = options.node
        self.clock = clock
        self.backoff = Backoff(initial=options.backoff_initial, cap=options.backoff_cap, clock=clock)
        self.failures = StartFailures(initial=options.backoff_initial, cap=options.backoff_cap, clock=clock)
        self.health = health or NodeHealth()
        self.gate = asyncio.Event()  # closed: nothing may start (before/while re-discovering)
        self.informer: PodSource = pod_source or own_informer(store, self.node, resync_period=options.resync_period)
        self.queue = WorkQueue(f"pods-{self.node}")
        self.loop = ReconcileLoop(f"agent-{self.node}", self.queue, self.reconcile, workers=options.workers)
        self.probes = ProbeManager(runtime, on_change=self.queue.add, record=self.recorder.record, metrics=metrics)
        self.images = ImageManager(runtime, recorder)
        self.executor = Executor(self)
        self.config = PodConfigurator(
            config_source or ConfigSource(store, resync_period=options.resync_period),
            root=Path(options.root_dir) if options.root_dir else None, owns_source=config_source is None,
            tokens=tokens)
        self.teardown = Teardown(store, runtime, node=self.node, host_ip=options.host_ip, recorder=recorder,
                                 probes=self.probes, config=self.config, forget_uid=self.forget_uid,
                                 bound_pods=self._cached_pods)
        self.watch = RuntimeWatch(runtime, self.health, on_event=self._on_runtime_event, on_resync=self.enqueue_all,
                                  metrics=metrics)
        self._first_seen: dict[str, float] = {}
        self._phases: dict[str, str] = {}
        # pod key → (uid, revision) of the last status this agent wrote: a cache still behind it
        # would only earn a 409 (the kubelet's status manager keeps its own versions the same way)
        # (and the revision it was computed from: its precondition)
        self._written: dict[str, tuple[str, int, int]] = {}
        # pod keys whose sync saw a cache behind that write: its watch event must queue them again
        self._deferred: set[str] = set()
        # pod key → the containers its last sync saw at its end (id → state), when the plan for what it saw
        # had nothing left to do: a runtime event saying what it saw (a container it created, or started)
        # is no news and queues no sync
        self._observed: dict[str, dict[str, str]] = {}
        # pod key → the events that came while it synced, judged when the sync ends (against what it saw
        # and wrote): (the pod's new revision, its old one) or (runtime action, container id)
        self._during: dict[str, list[tuple[int | str, int | str]]] = {}
        self.backoff_reported: set[tuple[str, str, int]] = set()
        self.evictions: dict[str, tuple[str, str]] = {}  # pod key → (uid, message), done by its next reconcile
        self._tasks: list[asyncio.Task[None]] = []
        self.services: Callable[[], list[dict[str, Any]]] = self.config.source.service_documents  # service env vars

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        self.informer.add_handler(FuncHandler(add=self._enqueue, update=self._on_pod_update, delete=self._enqueue))
        await self.probes.start()
        await self.config.start(self._on_config_change)
        await self.informer.start()
        await self.informer.wait_synced(timeout=None)
        await self.rediscover()  # before any worker runs: adopt or remove what the runtime has
        await self.loop.start()
        await self.watch.start()
        self._tasks = [spawn(f"housekeeping-{self.node}", self._housekeeping)]

    async def stop(self, *, drain: bool = False) -> None:
        self.gate.clear()
        for task in reversed(self._tasks):
            await cancel_and_wait(task)
        self._tasks = []
        await self.watch.stop()
        await self.loop.stop()
        await self.informer.stop()
        await self.config.stop()
        await self.probes.stop()
        if drain:
            await self.teardown.drain()

    async def rediscover(self) -> None:
        """Adopt containers of pods still bound here, remove the others; then open the gate.

        The gate stays closed until the runtime and etcd answer: nothing may start before the agent
        knows what already runs (an unreachable engine or etcd is waited for, with back-off; an etcd
        error must not end the rediscovery, or the gate would stay closed for good).
        """
        self.gate.clear()
        delay = 0.2
        while True:
            try:
                await self.teardown.rediscover()
                break
            except (RuntimeUnavailable, EtcdUnavailable) as exc:  # etcd: a lease regained while it is still slow
                what = "etcd" if isinstance(exc, EtcdUnavailable) else "the container runtime"
                log.warning("node %s: rediscovery waits for %s (%s); retrying in %.1fs", self.node, what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.gate.set()
        self.enqueue_all()

    def _cached_pods(self) -> list[Pod]:
        """This node's pods in the (synced) pod informer."""
        return [pod for key in self.informer.keys() if (pod := self.informer.get(key)) is not None]

    def enqueue_all(self) -> None:
        for key in self.informer.keys():
            self.queue.add(key)

    def close_gate(self) -> None:
        self.gate.clear()

    # -- reconcile -----------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        started = clock.monotonic()
        during: list[tuple[int | str, int | str]] = []
        self._during[key] = during
        self._observed.pop(key, None)  # until this sync's end says what it saw
        try:
            return await self._reconcile(key)
        finally:
            del self._during[key]
            news = [not self._no_news(key, *event) for event in during]  # each judged: _no_news keeps state
            if any(news):
                self.queue.add(key)  # the key is still being processed: it runs again after this sync
            self.metrics.sync_duration.observe(clock.monotonic() - started)

    async def _reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        pod: Pod | None = self.informer.get(key)
        if not self.watch.healthy:
            # Nothing can be observed: say so (not ready) and wait; the watch re-enqueues every pod
            # when the runtime is back (and housekeeping the gone ones that still have containers).
            if pod is None:
                self._forget(key)
            elif not pod.is_terminated() and pod.metadata.deletion_timestamp is None:
                await self._report_runtime_down(pod)
            return None
        observed = await self.runtime.list_containers(
            {LABEL_NODE: self.node, LABEL_NAMESPACE: namespace or "", LABEL_POD_NAME: name})
        uid = pod.metadata.uid if pod is not None else None
        stale = [c for c in observed if c.pod_uid != uid]
        mine = [c for c in observed if c.pod_uid == uid]
        if stale:
            await self.teardown.remove_containers(stale, reason="pod is gone or was replaced")
        if pod is None:
            self._forget(key)
            return None
        if pod.metadata.deletion_timestamp is not None:
            await self.teardown.delete_pod(pod, mine)
            self._forget(key)
            return None
        eviction = self.evictions.pop(key, None)
        if eviction is not None and eviction[0] == uid and not pod.is_terminated():
            await self._evict(pod, mine, eviction[1])
            return None
        if pod.is_terminated():
            await self.teardown.stop_running(pod, mine)
            await self.probes.forget_pod(key)
            self._phases[key] = pod.phase
            late = late_terminations(pod.status, mine, self.runtime.name)
            if late is not None:  # e.g. an OOM kill the runtime learnt of after the exit
                await self.store.update(PODS, pod.model_copy(update={"status": late}), subresource="status", read=pod)
            return None
        if not self.gate.is_set():
            return Result(requeue_after=0.5)
        if self.health.facts.disk_pressure and not mine and not _ever_started(pod):
            refusal = admission_refusal(pod)
            if refusal is not None:
                await self._reject(pod, refusal)
                return None
        self._first_seen.setdefault(uid or "", clock.monotonic())
        return await self._sync(key, pod, mine)

    async def _reject(self, pod: Pod, message: str) -> None:
        updated = pod.deep_copy()
        updated.status = rejected_status(pod.status, message)
        await self.store.update(PODS, updated, subresource="status")
        self.recorder.record(pod, "Warning", REASON, message)
        self.metrics.evictions.inc()
        log.info("pod %s/%s not admitted: %s", pod.namespace, pod.name, message)

    async def _sync(self, key: str, pod: Pod, mine: list[ContainerInfo]) -> Result | None:
        uid = pod.metadata.uid or ""
        plan = self._plan(pod, mine)
        waiting: dict[str, Waiting] = {}
        volumes = await self._prepare_volumes(pod)
        if volumes is None:  # a volume is not ready: nothing may start (containers stay ContainerCreating)
            plan = replace(plan, actions=tuple(a for a in plan.actions
                                               if not isinstance(a, CreateSandbox | StartContainer | StartExisting)))
        if await self.executor.execute(pod, plan, mine, waiting, volumes=volumes or {}):
            mine = await self.runtime.list_containers({LABEL_NODE: self.node, LABEL_POD_UID: uid})
        sandbox = next(iter(by_attempt([c for c in mine if c.is_sandbox and c.state == "running"])), None)
        pod = await self._publish_host_ports(pod, sandbox)
        latest, previous = split_attempts([c for c in mine if not c.is_sandbox])
        running = {n: c for n, c in latest.items() if c.state == "running"}
        await self.probes.sync_pod(key, pod, running, sandbox.ip if sandbox and sandbox.ip else "127.0.0.1")
        specs = {c.name: c for c in [*(pod.spec.init_containers or []), *pod.spec.containers]}
        for container in specs.values():
            failing = self.failures.waiting(uid, container.name, container.image or "")
            if failing is not None and container.name not in running:
                waiting.setdefault(container.name, failing)
        data = StatusInput(
            latest=latest, previous=previous, waiting=waiting,
            probes={c.id: self.probes.state(specs[n], c.id) for n, c in running.items() if n in specs},
            sandbox=sandbox, completed=plan.completed, host_ip=self.options.host_ip, runtime=self.runtime.name,
            initialized=plan.initialized,
        )
        status = build_status(pod, data, clock.now_seconds())
        if self._behind_own_write(key, pod):
            self._deferred.add(key)  # that write's event (now, or judged at this sync's end) queues it again
        elif status_changed(pod.status, status):
            # the status subresource reads only the status and identity of what it is given, and
            # changes nothing in it: no deep copy of the cached pod (the agent's hottest write)
            written = await self.store.update(PODS, pod.model_copy(update={"status": status}), subresource="status",
                                              read=pod)
            self._written[key] = (uid, int(written.metadata.resource_version or 0),
                                  int(pod.metadata.resource_version or 0))
            log.info("pod %s: %s", key, status.phase, extra={"pod": key, "phase": status.phase})
        self._note_phase(key, uid, status.phase or "Pending")
        if not self._plan(pod, mine).actions:  # settled: what the runtime says next of these is no news
            self._observed[key] = {c.id: c.state for c in mine}
        requeue = plan.requeue_after
        for name in self.failures.names(uid):
            remaining = self.failures.remaining(uid, name)
            if remaining > 0:
                requeue = min(requeue, remaining) if requeue is not None else remaining
        return Result(requeue_after=requeue + 0.05) if requeue is not None else None

    def _plan(self, pod: Pod, mine: list[ContainerInfo]) -> Plan:
        containers = [c for c in mine if not c.is_sandbox]
        unhealthy = frozenset(c.id for c in containers if c.state == "running" and self.probes.unhealthy(c.id))
        inits = pod.spec.init_containers or []
        specs = {c.name: c for c in [*inits, *pod.spec.containers]}
        not_started = frozenset(c.id for c in containers if c.state == "running" and c.container_name in specs
                                and not self.probes.state(specs[c.container_name], c.id).started)
        reported = {cs.name: cs.restart_count or 0
                    for cs in [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
                    if cs.container_id} if pod.status else {}
        desired = DesiredPod(tuple(c.name for c in pod.spec.containers), pod.spec.effective_restart_policy,
                             reported_restarts=reported, init_containers=tuple(c.name for c in inits),
                             sidecars=frozenset(c.name for c in inits if c.restart_policy == "Always"))
        return plan_pod(
            desired, Observed(sandboxes=[c for c in mine if c.is_sandbox], containers=containers, unhealthy=unhealthy,
                              not_started=not_started, sandbox_needs_ip=self.runtime.has_network),
            pod_uid=pod.metadata.uid or "", now=self.clock(), backoff=dict(self.backoff.entries),
            backoff_cap=self.options.backoff_cap,
        )

    def container_spec(self, pod: Pod, container: Container, attempt: int, sandbox_id: str,
                       config: ContainerConfig) -> ContainerSpec:
        """SecurityError (a ConfigError) when the securityContext cannot be honoured."""
        resources = container.resources
        return ContainerSpec(
            name=self.container_name(pod, container.name, attempt), image=container.image or "",
            labels=self.labels_for(pod, container.name, attempt), command=config.command, args=config.args,
            env={**service_env(pod, self.services()), **config.env}, network_of=sandbox_id, mounts=config.mounts,
            cpu_millis=resources.cpu_limit_millis() if resources else None,
            memory_bytes=resources.memory_limit_bytes() if resources else None,
            cpu_request_millis=resources.cpu_request_millis() if resources else 0,
            stdin=bool(container.stdin), tty=bool(container.tty),
            security=security_settings(pod, container, seccomp_root=str(Path(self.options.root_dir) / "seccomp")
                                       if self.options.root_dir else ""),
        )

    # -- configuration (agent/podconfig) ---------------------------------------

    async def configure(self, pod: Pod, container: Container, sandbox_id: str,
                        volumes: dict[str, HostVolume], *, record: bool = True) -> ContainerConfig:
        """Env, command/args and mounts of ``container``; ConfigError/MountError: CreateContainerConfigError.
        Its warnings become Events unless ``record`` is False (then :meth:`record_warnings` later)."""
        pod_ip = ""
        if needs_pod_ip(container):  # only then is the sandbox's IP worth an engine round trip
            sandbox = await self.runtime.inspect(sandbox_id)
            pod_ip = sandbox.ip if sandbox and sandbox.ip else ""
        facts = self.config.facts(pod_ip=pod_ip, host_ip=self.options.host_ip)
        config = await self.config.container_config(pod, container, facts, volumes)
        if record:
            self.record_warnings(pod, config)
        return config

    def record_warnings(self, pod: Pod, config: ContainerConfig) -> None:
        for reason, message in config.warnings:
            self.recorder.record(pod, "Warning", reason, message)

    async def _prepare_volumes(self, pod: Pod) -> dict[str, HostVolume] | None:
        """The pod's volumes, set up (or brought up to date); None while one cannot be (Event FailedMount)."""
        if not pod.spec.volumes:
            return {}
        uid = pod.metadata.uid or ""
        if self.failures.remaining(uid, VOLUMES_KEY) > 0:
            return None
        pod_ip = (pod.status.pod_ip if pod.status else None) or ""
        try:
            volumes = await self.config.setup_volumes(pod, self.config.facts(pod_ip=pod_ip, host_ip=self.options.host_ip))
        except MountError as exc:
            self.failures.record(uid, VOLUMES_KEY, Waiting("ContainerCreating", str(exc)))
            self.recorder.record(pod, "Warning", "FailedMount", str(exc))
            log.info("pod %s/%s: %s", pod.namespace, pod.name, exc, extra={"pod": f"{pod.namespace}/{pod.name}"})
            return None
        self.failures.clear(uid, VOLUMES_KEY)
        return volumes

    def _on_config_change(self, kind: str, namespace: str, name: str) -> None:
        """A ConfigMap/Secret changed: its pods re-sync now (a missing source gets a fresh try at once)."""
        for key in self.informer.keys():
            if not key.startswith(f"{namespace}/"):
                continue
            pod = self.informer.get(key)
            if pod is None or not self.config.uses(pod, kind, name):
                continue
            uid = pod.metadata.uid or ""
            for failed in self.failures.names(uid):
                why = self.failures.reasons.get(f"{uid}/{failed}")
                if failed == VOLUMES_KEY or (why is not None and why.reason == CONFIG_ERROR):
                    self.failures.clear(uid, failed)
            self.queue.add(key)

    def labels_for(self, pod: Pod, container: str, attempt: int) -> dict[str, str]:
        return {
            LABEL_NODE: self.node, LABEL_NAMESPACE: pod.namespace or "", LABEL_POD_NAME: pod.name,
            LABEL_POD_UID: pod.metadata.uid or "", LABEL_CONTAINER: container, LABEL_ATTEMPT: str(attempt),
            LABEL_GRACE: str(pod.spec.effective_termination_grace_period_seconds),
        }

    def container_name(self, pod: Pod, container: str, attempt: int) -> str:
        uid = (pod.metadata.uid or "")[:8]
        return f"kl_{self.node}_{pod.namespace}_{pod.name}_{container}_{uid}_{attempt}"

    # -- status helpers ------------------------------------------------------

    async def _publish_host_ports(self, pod: Pod, sandbox: ContainerInfo | None) -> Pod:
        """Put the host ports the runtime assigned where clients find them: an annotation, written
        through the ``status`` subresource, never the pod itself (NodeRestriction: a node may not
        update a pod; kube's pods/status keeps annotations, and a node may change them there).

        Why not a status field: the port the runtime picked for a ``containerPort`` without a
        ``hostPort`` is kubelite's own (kube publishes only ``hostPort``s, which ``kl`` reads from the
        spec), so no PodStatus field holds it."""
        if sandbox is None or not sandbox.host_ports:
            return pod
        owners = {(p.container_port, p.effective_protocol): (c.name, p.name)
                  for c in pod.spec.containers for p in c.ports or []}
        entries = []
        for mapping, host_port in sandbox.host_ports:
            container, port_name = owners.get((mapping.container_port, mapping.protocol), ("", None))
            entry = {"container": container, "containerPort": mapping.container_port, "protocol": mapping.protocol,
                     "hostIP": mapping.host_ip, "hostPort": host_port}
            if port_name:
                entry["name"] = port_name
            entries.append(entry)
        value = json.dumps(sorted(entries, key=lambda e: (str(e["container"]), int(e["containerPort"]))),
                           separators=(",", ":"))
        if (pod.metadata.annotations or {}).get(HOST_PORTS_ANNOTATION) == value:
            return pod

        def annotate(current: Pod) -> Pod | None:
            if current.metadata.uid != pod.metadata.uid:
                raise errors.conflict("pods", pod.name, "the pod was replaced")
            annotations = dict(current.metadata.annotations or {})
            if annotations.get(HOST_PORTS_ANNOTATION) == value:
                return None
            annotations[HOST_PORTS_ANNOTATION] = value
            current.metadata.annotations = annotations
            return current

        return await self.store.guaranteed_update(PODS, pod.name, pod.namespace, annotate, subresource="status")

    def _note_phase(self, key: str, uid: str, phase: str) -> None:
        if phase == "Running" and self._phases.get(key) != "Running" and uid in self._first_seen:
            self.metrics.start_latency.observe(clock.monotonic() - self._first_seen.pop(uid))
        self._phases[key] = phase
        self.metrics.pods.set(len(self.informer.keys()))
        self.metrics.pods_running.set(sum(1 for p in self._phases.values() if p == "Running"))

    def _enqueue(self, pod: Pod) -> None:
        self.queue.add(object_key(pod))

    def _on_pod_update(self, old: Pod, new: Pod) -> None:
        if old is new:  # the informer's periodic resync (the safety net): always a sync
            self.queue.add(object_key(new))
            return
        self._event(object_key(new), int(new.metadata.resource_version or 0), int(old.metadata.resource_version or 0))

    def _on_runtime_event(self, event: RuntimeEvent) -> None:
        """Container exits (and other changes) enqueue their pod at once: no polling per container."""
        namespace, name = event.labels.get(LABEL_NAMESPACE), event.labels.get(LABEL_POD_NAME)
        if namespace and name:
            self._event(f"{namespace}/{name}", event.action, event.container_id)

    def _event(self, key: str, what: int | str, detail: int | str) -> None:
        """A pod update (its new and old revisions) or a runtime event (its action and container id) of
        ``key``: judged at the end of the key's sync in progress, else now; it queues a sync unless it
        is no news (:meth:`_no_news`)."""
        during = self._during.get(key)
        if during is not None:
            during.append((what, detail))
        elif not self._no_news(key, what, detail):
            self.queue.add(key)

    def _no_news(self, key: str, what: int | str, detail: int | str) -> bool:
        """Whether an event tells the agent nothing its last sync of the pod did not see (issue 12: a second
        sync per pod for nothing). Kubernetes goes further for pod updates: the kubelet's pod config syncs
        no pod for an update that changed only its status (pkg/kubelet/config's checkAndUpdatePod: a
        RECONCILE, which syncs only a pod whose Ready condition needs reconciling).

        - a pod update from the version this agent's last status write was computed from (its
          resourceVersion precondition) to that write's revision, with no sync since that saw a cache
          behind it: it changed only the status. An update from an older version (an informer that
          listed again after a broken watch) may carry other writers' changes too, and is news;
        - a runtime ``create`` of a container that sync saw, or a ``start`` of one it saw running, when
          the plan for what it saw had nothing left to do: the runtime's own list, taken after the sync's
          actions, said so already (a later exit is an event of its own). A plan with actions left (the
          app container after a sidecar started) needs the next sync, which those events queue."""
        if isinstance(what, int):
            written = self._written.get(key)  # a revision is a write's own on its key
            own = written is not None and key not in self._deferred and (what, detail) == written[1:]
            if not own:
                self._deferred.discard(key)  # the sync it queues sees the cache at or past that write
            return own
        seen = self._observed.get(key, {})
        return (what == "create" and detail in seen) or (what == "start" and seen.get(str(detail)) == "running")

    def _behind_own_write(self, key: str, pod: Pod) -> bool:
        """Whether the cached ``pod`` predates the last status this agent wrote for it. Then a write
        based on it would fail its resourceVersion precondition, and the watch event of that write
        queues the pod again anyway: the status is written from there, not retried into 409s (a
        runtime event of the pod's own start queues it while the cache lags — a retry storm on a
        busy machine)."""
        written = self._written.get(key)
        return (written is not None and written[0] == pod.metadata.uid
                and int(pod.metadata.resource_version or 0) < written[1])

    def _forget(self, key: str) -> None:
        self._written.pop(key, None)
        self._deferred.discard(key)
        self._observed.pop(key, None)
        self._phases.pop(key, None)
        self.metrics.pods_running.set(sum(1 for p in self._phases.values() if p == "Running"))
        self.metrics.pods.set(len(self.informer.keys()))

    def forget_uid(self, uid: str) -> None:
        """Everything the manager kept about a pod whose containers are gone (its volumes: ``Teardown``)."""
        self.backoff.forget_prefix(f"{uid}/")
        self.failures.forget_uid(uid)
        self._first_seen.pop(uid, None)
        self.backoff_reported = {e for e in self.backoff_reported if e[0] != uid}

    # -- background ----------------------------------------------------------

    def evict(self, pod: Pod, message: str) -> None:
        """Evict the pod at its next reconcile (in the worker, so nothing restarts it meanwhile)."""
        key = object_key(pod)
        self.evictions[key] = (pod.metadata.uid or "", message)
        self.queue.add(key)

    async def _evict(self, pod: Pod, mine: list[ContainerInfo], message: str) -> None:
        """The kubelet's node-pressure eviction: kill at once (hard threshold: no grace), then
        phase Failed, reason Evicted, condition DisruptionTarget; controllers replace the pod."""
        apps = [c for c in mine if not c.is_sandbox and c.state in ("running", "created")]
        await asyncio.gather(*(self.teardown.kill(pod, c.id, c.container_name, "Evicted", grace=0) for c in apps))
        for sandbox in (c for c in mine if c.is_sandbox and c.state in ("running", "created")):
            await self.teardown.kill(pod, sandbox.id, SANDBOX_NAME, "Evicted", grace=0)
        await self.probes.forget_pod(object_key(pod))
        self.recorder.record(pod, "Warning", REASON, message)
        self.metrics.evictions.inc()
        mine = await self.runtime.list_containers({LABEL_NODE: self.node, LABEL_POD_UID: pod.metadata.uid or ""})
        latest, previous = split_attempts([c for c in mine if not c.is_sandbox])
        data = StatusInput(latest=latest, previous=previous, waiting={}, probes={}, sandbox=None, completed=True,
                           host_ip=self.options.host_ip, runtime=self.runtime.name)
        now = clock.now_seconds()
        status = evicted_status(build_status(pod, data, now), message, now)
        updated = pod.deep_copy()
        updated.status = status
        await self.store.update(PODS, updated, subresource="status")
        self._phases[object_key(pod)] = "Failed"

    async def _report_runtime_down(self, pod: Pod) -> None:
        status = runtime_down_status(pod.status, clock.now_seconds())
        if status is not None:
            updated = pod.deep_copy()
            updated.status = status
            await self.store.update(PODS, updated, subresource="status")
            log.info("pod %s/%s: not ready, the container runtime is down", pod.namespace, pod.name)

    async def _housekeeping(self) -> None:
        """Safety net: containers of pods the cache no longer has get their pod reconciled (removed);
        volume directories of pods that have neither a pod here nor a container go."""
        while True:
            await asyncio.sleep(self.options.housekeeping_period)
            if not self.watch.healthy:
                continue
            containers = await self.runtime.list_containers({LABEL_NODE: self.node})
            for info in containers:
                key = f"{info.labels.get(LABEL_NAMESPACE)}/{info.labels.get(LABEL_POD_NAME)}"
                if self.informer.get(key) is None:
                    self.queue.add(key)
            pods = (self.informer.get(key) for key in self.informer.keys())
            known = {c.pod_uid for c in containers} | {p.metadata.uid or "" for p in pods if p is not None}
            await self.config.cleanup_except(known)


def _ever_started(pod: Pod) -> bool:
    """Whether this node already ran something of the pod (admission applies to new pods only)."""
    return any(cs.container_id for cs in (pod.status.container_statuses or [])) if pod.status else False
