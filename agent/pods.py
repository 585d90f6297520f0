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
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kubelite.api import errors
from kubelite.api.core import Container, Pod
from kubelite.api.resources import PODS
from kubelite.events import EventRecorder
from kubelite.informer import FuncHandler, object_key, split_key
from kubelite.reconcile import ReconcileLoop, Result
from kubelite.store import Store
from kubelite.supervise import spawn
from kubelite.workqueue import WorkQueue

from agent.backoff import Backoff
from agent.metrics import AgentMetrics
from agent.plan import (
    CreateSandbox,
    DesiredPod,
    KillContainer,
    Observed,
    Plan,
    RemoveContainer,
    StartContainer,
    StartExisting,
    WaitBackoff,
    backoff_key,
    by_attempt,
    plan_pod,
)
from agent.podsource import PodSource, own_informer
from agent.probes import ProbeManager
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
    ContainerNotFound,
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerSpec,
    ImagePullError,
    PortMapping,
)
from agent.status import StatusInput, Waiting, build_status, split_attempts, status_changed
from agent.teardown import Teardown

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
    workers: int = 8
    resync_period: float = 30.0
    housekeeping_period: float = 30.0


class PodManager:
    """Runs the pods bound to one node; start()/stop()."""

    def __init__(
        self, store: Store, runtime: ContainerRuntime, *, recorder: EventRecorder, metrics: AgentMetrics,
        options: PodOptions, clock: Callable[[], float] = time.time, pod_source: PodSource | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.recorder = recorder
        self.metrics = metrics
        self.options = options
        self.node = options.node
        self.clock = clock
        self.backoff = Backoff(initial=options.backoff_initial, cap=options.backoff_cap, clock=clock)
        self.pull_backoff = Backoff(initial=options.backoff_initial, cap=options.backoff_cap, clock=clock)
        self.pull_errors: dict[str, Waiting] = {}  # "<uid>/<container>" → why it cannot start
        self._pull_failed_at: dict[str, float] = {}
        self.gate = asyncio.Event()  # closed: nothing may start (before/while re-discovering)
        self.informer: PodSource = pod_source or own_informer(store, self.node, resync_period=options.resync_period)
        self.queue = WorkQueue(f"pods-{self.node}")
        self.loop = ReconcileLoop(f"agent-{self.node}", self.queue, self.reconcile, workers=options.workers)
        self.probes = ProbeManager(runtime, on_change=self.queue.add, record=self.recorder.record, metrics=metrics)
        self.teardown = Teardown(self)
        self._first_seen: dict[str, float] = {}
        self._phases: dict[str, str] = {}
        self._backoff_reported: set[tuple[str, str, int]] = set()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        self.informer.add_handler(FuncHandler.enqueue_all(lambda pod: self.queue.add(object_key(pod))))
        await self.probes.start()
        await self.informer.start()
        await self.informer.wait_synced(timeout=None)
        await self.rediscover()  # before any worker runs: adopt or remove what the runtime has
        await self.loop.start()
        self._tasks = [
            spawn(f"runtime-events-{self.node}", self._follow_runtime_events),
            spawn(f"housekeeping-{self.node}", self._housekeeping),
        ]

    async def stop(self, *, drain: bool = False) -> None:
        self.gate.clear()
        for task in reversed(self._tasks):
            task.cancel()
        for task in reversed(self._tasks):
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        await self.loop.stop()
        await self.informer.stop()
        await self.probes.stop()
        if drain:
            await self.teardown.drain()

    async def rediscover(self) -> None:
        """Adopt containers of pods still bound here, remove the others; then open the gate."""
        self.gate.clear()
        await self.teardown.rediscover()
        self.gate.set()
        for key in self.informer.keys():
            self.queue.add(key)

    def close_gate(self) -> None:
        self.gate.clear()

    # -- reconcile -----------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        started = time.monotonic()
        try:
            return await self._reconcile(key)
        finally:
            self.metrics.sync_duration.observe(time.monotonic() - started)

    async def _reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        pod: Pod | None = self.informer.get(key)
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
        if pod.is_terminated():
            await self.teardown.stop_running(pod, mine)
            await self.probes.forget_pod(key)
            self._phases[key] = pod.phase
            return None
        if not self.gate.is_set():
            return Result(requeue_after=0.5)
        self._first_seen.setdefault(uid or "", time.monotonic())
        return await self._sync(key, pod, mine)

    async def _sync(self, key: str, pod: Pod, mine: list[ContainerInfo]) -> Result | None:
        uid = pod.metadata.uid or ""
        plan = self._plan(pod, mine)
        waiting: dict[str, Waiting] = {}
        if await self._execute(pod, plan, mine, waiting):
            mine = await self.runtime.list_containers({LABEL_NODE: self.node, LABEL_POD_UID: uid})
        sandbox = next(iter(by_attempt([c for c in mine if c.is_sandbox and c.state == "running"])), None)
        pod = await self._publish_host_ports(pod, sandbox)
        latest, previous = split_attempts([c for c in mine if not c.is_sandbox])
        running = {n: c for n, c in latest.items() if c.state == "running"}
        await self.probes.sync_pod(key, pod, running, sandbox.ip if sandbox and sandbox.ip else "127.0.0.1")
        for container in pod.spec.containers:
            if container.name in self.pull_errors_for(uid):
                waiting.setdefault(container.name, self.pull_errors_for(uid)[container.name])
        specs = {c.name: c for c in pod.spec.containers}
        data = StatusInput(
            latest=latest, previous=previous, waiting=waiting,
            probes={c.id: self.probes.state(specs[n], c.id) for n, c in running.items() if n in specs},
            sandbox=sandbox, completed=plan.completed, host_ip=self.options.host_ip, runtime=self.runtime.name,
        )
        status = build_status(pod, data, datetime.now(UTC).replace(microsecond=0))
        if status_changed(pod.status, status):
            updated = pod.deep_copy()
            updated.status = status
            await self.store.update(PODS, updated, subresource="status")
            log.info("pod %s: %s", key, status.phase, extra={"pod": key, "phase": status.phase})
        self._note_phase(key, uid, status.phase or "Pending")
        requeue = plan.requeue_after
        for name in waiting:
            remaining = self.pull_backoff.remaining(f"{uid}/{name}", self._pull_failed_at.get(f"{uid}/{name}", 0.0))
            if remaining > 0:
                requeue = min(requeue, remaining) if requeue is not None else remaining
        return Result(requeue_after=requeue + 0.05) if requeue is not None else None

    def _plan(self, pod: Pod, mine: list[ContainerInfo]) -> Plan:
        containers = [c for c in mine if not c.is_sandbox]
        unhealthy = frozenset(c.id for c in containers if c.state == "running" and self.probes.unhealthy(c.id))
        desired = DesiredPod(tuple(c.name for c in pod.spec.containers), pod.spec.effective_restart_policy)
        return plan_pod(
            desired, Observed(sandboxes=[c for c in mine if c.is_sandbox], containers=containers, unhealthy=unhealthy),
            pod_uid=pod.metadata.uid or "", now=self.clock(), backoff=dict(self.backoff.entries),
            backoff_cap=self.options.backoff_cap,
        )

    # -- executing a plan ----------------------------------------------------

    async def _execute(self, pod: Pod, plan: Plan, mine: list[ContainerInfo], waiting: dict[str, Waiting]) -> bool:
        """Run the plan's actions in order; True when the runtime was changed."""
        uid = pod.metadata.uid or ""
        specs = {c.name: c for c in pod.spec.containers}
        sandbox = next(iter(by_attempt([c for c in mine if c.is_sandbox and c.state in ("running", "created")])), None)
        sandbox_id = sandbox.id if sandbox else None
        changed = False
        for action in plan.actions:
            if isinstance(action, WaitBackoff):
                delay = self.backoff.entries.get(backoff_key(uid, action.name))
                waiting[action.name] = Waiting(
                    "CrashLoopBackOff", f"back-off {delay.delay if delay else 0:g}s restarting failed container="
                                        f"{action.name} pod={pod.name}_{pod.namespace}({uid})")
                attempt = next((c.attempt for c in mine if c.container_name == action.name), 0)
                if (uid, action.name, attempt) not in self._backoff_reported:
                    self._backoff_reported.add((uid, action.name, attempt))
                    self.recorder.record(pod, "Warning", "BackOff", "Back-off restarting failed container "
                                         f"{action.name} in pod {pod.name}_{pod.namespace}({uid})")
                continue
            changed = True
            if isinstance(action, CreateSandbox):
                sandbox_id = await self._create_sandbox(pod, mine)
            elif isinstance(action, StartContainer):
                if sandbox_id is None:
                    continue
                await self._start_container(pod, specs[action.name], action, sandbox_id, waiting)
            elif isinstance(action, StartExisting):
                await self.runtime.start_container(action.container_id)
            elif isinstance(action, KillContainer):
                await self.teardown.kill(pod, action.container_id, action.name, action.reason)
            elif isinstance(action, RemoveContainer):
                try:
                    await self.runtime.remove_container(action.container_id)
                except ContainerNotFound:
                    pass
        return changed

    async def _create_sandbox(self, pod: Pod, mine: list[ContainerInfo]) -> str:
        attempt = 1 + max((c.attempt for c in mine if c.is_sandbox), default=-1)
        ports = tuple(
            PortMapping(p.container_port, p.host_port or None, p.effective_protocol, p.host_ip or self.options.host_ip)
            for c in pod.spec.containers for p in (c.ports or [])
        )
        image = self.options.pause_image
        if not await self.runtime.image_present(image):
            await self.runtime.pull_image(image)
        spec = ContainerSpec(
            name=self._container_name(pod, SANDBOX_NAME, attempt), image=image,
            labels=self._labels(pod, SANDBOX_NAME, attempt), command=[self.options.pause_command[0]],
            args=list(self.options.pause_command[1:]), ports=ports,
        )
        sandbox_id = await self.runtime.create_container(spec)
        await self.runtime.start_container(sandbox_id)
        if attempt > 0:
            self.recorder.record(pod, "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
        return sandbox_id

    async def _start_container(
        self, pod: Pod, container: Container, action: StartContainer, sandbox_id: str, waiting: dict[str, Waiting]
    ) -> None:
        uid = pod.metadata.uid or ""
        pull_key = f"{uid}/{container.name}"
        if pull_key in self.pull_errors:
            remaining = self.pull_backoff.remaining(pull_key, self._pull_failed_at.get(pull_key, 0.0))
            if remaining > 0:
                self.pull_errors[pull_key] = Waiting("ImagePullBackOff", f'Back-off pulling image "{container.image}"')
                waiting[container.name] = self.pull_errors[pull_key]
                return
        try:
            await self._ensure_image(pod, container)
            spec = self._container_spec(pod, container, action.attempt, sandbox_id)
            container_id = await self.runtime.create_container(spec)
        except ImagePullError as exc:
            self.pull_backoff.next(pull_key)
            self._pull_failed_at[pull_key] = self.clock()
            self.pull_errors[pull_key] = Waiting(exc.reason, str(exc))
            waiting[container.name] = self.pull_errors[pull_key]
            self.recorder.record(pod, "Warning", "Failed", f"Failed to pull image \"{container.image}\": {exc}")
            self.recorder.record(pod, "Warning", "Failed", f"Error: {exc.reason}")
            return
        self.pull_errors.pop(pull_key, None)
        self.pull_backoff.forget(pull_key)
        self.recorder.record(pod, "Normal", "Created", f"Created container {container.name}")
        if action.restart:
            self.backoff.next(backoff_key(uid, container.name))
            self.metrics.container_restarts.inc()
        else:
            self.backoff.forget(backoff_key(uid, container.name))
        try:
            await self.runtime.start_container(container_id)
        except ContainerRuntimeError as exc:
            self.recorder.record(pod, "Warning", "Failed", f"Error: failed to start container {container.name}: {exc}")
            raise
        self.metrics.container_starts.inc()
        self.recorder.record(pod, "Normal", "Started", f"Started container {container.name}")

    async def _ensure_image(self, pod: Pod, container: Container) -> None:
        image = container.image or ""
        policy = container.effective_image_pull_policy
        present = await self.runtime.image_present(image)
        if policy == "Never":
            if not present:
                raise ImagePullError(f'Container image "{image}" is not present with pull policy of Never',
                                     reason="ErrImageNeverPull")
            return
        if policy == "IfNotPresent" and present:
            self.recorder.record(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            return
        self.recorder.record(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        try:
            await self.runtime.pull_image(image)
        except ImagePullError as exc:
            if not present:
                raise
            # No registry is reachable here: with Always, a local copy beats failing the pod.
            log.info("pull of %s failed (%s); using the local image", image, exc)
            self.recorder.record(pod, "Normal", "Pulled",
                                 f'Container image "{image}" could not be pulled; using the image present on machine')
            return
        self.recorder.record(pod, "Normal", "Pulled", f'Successfully pulled image "{image}"')

    def _container_spec(self, pod: Pod, container: Container, attempt: int, sandbox_id: str) -> ContainerSpec:
        resources = container.resources
        return ContainerSpec(
            name=self._container_name(pod, container.name, attempt), image=container.image or "",
            labels=self._labels(pod, container.name, attempt), command=container.command, args=container.args,
            env={e.name: e.value or "" for e in container.env or []}, network_of=sandbox_id,
            cpu_millis=resources.cpu_limit_millis() if resources else None,
            memory_bytes=resources.memory_limit_bytes() if resources else None,
        )

    def _labels(self, pod: Pod, container: str, attempt: int) -> dict[str, str]:
        return {
            LABEL_NODE: self.node, LABEL_NAMESPACE: pod.namespace or "", LABEL_POD_NAME: pod.name,
            LABEL_POD_UID: pod.metadata.uid or "", LABEL_CONTAINER: container, LABEL_ATTEMPT: str(attempt),
            LABEL_GRACE: str(pod.spec.effective_termination_grace_period_seconds),
        }

    def _container_name(self, pod: Pod, container: str, attempt: int) -> str:
        uid = (pod.metadata.uid or "")[:8]
        return f"kl_{self.node}_{pod.namespace}_{pod.name}_{container}_{uid}_{attempt}"

    # -- status helpers ------------------------------------------------------

    def pull_errors_for(self, uid: str) -> dict[str, Waiting]:
        prefix = f"{uid}/"
        return {k[len(prefix):]: v for k, v in self.pull_errors.items() if k.startswith(prefix)}

    async def _publish_host_ports(self, pod: Pod, sandbox: ContainerInfo | None) -> Pod:
        """Put the host ports the runtime assigned where clients find them (an annotation)."""
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

        updated = await self.store.guaranteed_update(PODS, pod.name, pod.namespace, annotate)
        assert isinstance(updated, Pod)
        return updated

    def _note_phase(self, key: str, uid: str, phase: str) -> None:
        if phase == "Running" and self._phases.get(key) != "Running" and uid in self._first_seen:
            self.metrics.start_latency.observe(time.monotonic() - self._first_seen.pop(uid))
        self._phases[key] = phase
        self.metrics.pods.set(len(self.informer.keys()))
        self.metrics.pods_running.set(sum(1 for p in self._phases.values() if p == "Running"))

    def _forget(self, key: str) -> None:
        self._phases.pop(key, None)
        self.metrics.pods_running.set(sum(1 for p in self._phases.values() if p == "Running"))
        self.metrics.pods.set(len(self.informer.keys()))

    def forget_uid(self, uid: str) -> None:
        self.backoff.forget_prefix(f"{uid}/")
        self.pull_backoff.forget_prefix(f"{uid}/")
        for key in [k for k in self.pull_errors if k.startswith(f"{uid}/")]:
            self.pull_errors.pop(key, None)
            self._pull_failed_at.pop(key, None)
        self._first_seen.pop(uid, None)
        self._backoff_reported = {e for e in self._backoff_reported if e[0] != uid}

    # -- background ----------------------------------------------------------

    async def _follow_runtime_events(self) -> None:
        """Container exits (and other changes) enqueue their pod at once: no polling per container."""
        stream = self.runtime.events()
        for key in self.informer.keys():  # anything missed while (re)subscribing
            self.queue.add(key)
        async for event in stream:
            namespace, name = event.labels.get(LABEL_NAMESPACE), event.labels.get(LABEL_POD_NAME)
            if namespace and name:
                self.queue.add(f"{namespace}/{name}")

    async def _housekeeping(self) -> None:
        """Safety net: containers of pods the cache no longer has get their pod reconciled (removed)."""
        while True:
            await asyncio.sleep(self.options.housekeeping_period)
            for info in await self.runtime.list_containers({LABEL_NODE: self.node}):
                key = f"{info.labels.get(LABEL_NAMESPACE)}/{info.labels.get(LABEL_POD_NAME)}"
                if self.informer.get(key) is None:
                    self.queue.add(key)

