"""What to do with one pod's containers: a pure function of (desired, observed, now, back-off).

The agent's reconcile lists the pod's containers, calls :func:`plan_pod`, and
executes the returned actions in order. No I/O here, so every decision (start,
restart after back-off, kill on liveness failure, garbage-collect old
attempts, recreate a dead sandbox) is table- and property-tested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agent.backoff import BackoffEntry
from agent.runtime.base import ContainerInfo

KEEP_DEAD_ATTEMPTS = 1  # the previous attempt stays for lastState and `logs --previous`


@dataclass(frozen=True)
class DesiredPod:
    containers: tuple[str, ...]  # container names in spec order
    restart_policy: str = "Always"  # Always | OnFailure | Never
    # restartCount last reported for containers that had started (containerID set); a container
    # the runtime no longer has continues from there instead of restarting the count at 0.
    reported_restarts: Mapping[str, int] = field(default_factory=dict)
    init_containers: tuple[str, ...] = ()  # init container names in spec order (sidecars among them)
    sidecars: frozenset[str] = frozenset()  # init containers with restartPolicy Always

    @property
    def all_names(self) -> tuple[str, ...]:
        return (*self.init_containers, *self.containers)

    def first_attempt(self, name: str) -> StartContainer:
        """Start ``name`` when the runtime has no container of it at all."""
        reported = self.reported_restarts.get(name)
        if reported is None:
            return StartContainer(name, 0, restart=False)
        return StartContainer(name, reported + 1, restart=False)  # vanished from the runtime: a new attempt


@dataclass(frozen=True)
class StartContainer:
    name: str
    attempt: int
    restart: bool  # counts against the back-off


@dataclass(frozen=True)
class StartExisting:
    container_id: str
    name: str


@dataclass(frozen=True)
class KillContainer:
    container_id: str
    name: str
    reason: str  # Unhealthy | Orphaned | Duplicate | SandboxChanged | PodCompleted


@dataclass(frozen=True)
class RemoveContainer:
    container_id: str
    name: str


@dataclass(frozen=True)
class CreateSandbox:
    replaces: bool = False  # the pod had a sandbox before (kubelet Event SandboxChanged)


@dataclass(frozen=True)
class WaitBackoff:
    name: str
    remaining: float


Action = StartContainer | StartExisting | KillContainer | RemoveContainer | CreateSandbox | WaitBackoff


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    completed: bool = False  # every container finished for good: the pod is Succeeded/Failed
    initialized: bool = True  # init containers done (regular ones exited 0, sidecars started)

    def of(self, kind: type) -> list[Action]:
        return [a for a in self.actions if isinstance(a, kind)]

    @property
    def requeue_after(self) -> float | None:
        waits = [a.remaining for a in self.actions if isinstance(a, WaitBackoff)]
        return min(waits) if waits else None


@dataclass(frozen=True)
class Observed:
    sandboxes: Sequence[ContainerInfo] = ()
    containers: Sequence[ContainerInfo] = ()
    unhealthy: frozenset[str] = frozenset()  # ids of running containers whose liveness/startup probe failed
    not_started: frozenset[str] = frozenset()  # ids of running containers whose startup probe has not passed yet
    sandbox_needs_ip: bool = False  # a running sandbox without an IP lost its network (real engines)


def backoff_key(pod_uid: str, container: str) -> str:
    return f"{pod_uid}/{container}"


def should_restart(policy: str, exit_code: int | None) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def remaining_backoff(entry: BackoffEntry | None, finished_at: float, now: float, cap: float) -> float:
    """Same arithmetic as :meth:`agent.backoff.Backoff.remaining`, on plain data."""
    if entry is None or finished_at - entry.last_update > 2 * cap:
        return 0.0
    return max(0.0, entry.delay - (now - finished_at))


def by_attempt(instances: Sequence[ContainerInfo]) -> list[ContainerInfo]:
    """Newest attempt first (creation time breaks ties)."""
    return sorted(instances, key=lambda c: (c.attempt, c.created_at.timestamp() if c.created_at else 0.0),
                  reverse=True)


def is_done(desired: DesiredPod, latest: Mapping[str, ContainerInfo]) -> bool:
    """Every container exited and none may restart under the policy."""
    if not desired.containers:
        return False
    for name in desired.containers:
        current = latest.get(name)
        if current is None or current.state != "exited" or should_restart(desired.restart_policy, current.exit_code):
            return False
    return True


def plan_pod(
    desired: DesiredPod, observed: Observed, *, pod_uid: str, now: float,
    backoff: Mapping[str, BackoffEntry], backoff_cap: float = 300.0,
) -> Plan:
    actions: list[Action] = []
    groups: dict[str, list[ContainerInfo]] = {}
    for info in observed.containers:
        groups.setdefault(info.container_name, []).append(info)
    latest: dict[str, ContainerInfo] = {}
    for name, instances in groups.items():
        ordered = by_attempt(instances)
        if name not in desired.all_names:
            actions += _kill_and_remove(ordered, "Orphaned")
            continue
        latest[name] = ordered[0]
        for old in ordered[1:]:
            if old.state in ("running", "created"):
                actions += _kill_and_remove([old], "Duplicate")
        dead = [c for c in ordered[1:] if c.state not in ("running", "created")]
        keep = 0 if _will_start_new(desired, ordered[0]) else KEEP_DEAD_ATTEMPTS
        actions += [RemoveContainer(c.id, name) for c in dead[keep:]]

    done = is_done(desired, latest)
    # A sandbox that is created but not (yet) running is kept and started, not replaced.
    live = next(iter(by_attempt([s for s in observed.sandboxes if s.state in ("running", "created")])), None)
    dead_sandboxes = [s for s in observed.sandboxes if s.state not in ("running", "created")]
    init_failed = _init_failed_for_good(desired, latest, live)
    if done or init_failed:
        # Sidecars stop with the pod; the sandbox last.
        actions += [KillContainer(latest[n].id, n, "PodCompleted") for n in desired.init_containers
                    if n in latest and latest[n].state in ("running", "created")]
        actions += [KillContainer(s.id, s.container_name, "PodCompleted")
                    for s in observed.sandboxes if s.state in ("running", "created")]
        return Plan(tuple(actions), completed=True, initialized=not init_failed)

    actions += _kill_and_remove([s for s in observed.sandboxes if s.state in ("running", "created")
                                 and live is not None and s.id != live.id], "Duplicate")
    actions += [RemoveContainer(s.id, s.container_name) for s in dead_sandboxes]
    # The kubelet's computePodActions (podSandboxChanged): no live sandbox, a container living in
    # another (dead, removed) sandbox's network namespace, or a sandbox without an IP means the
    # sandbox changed.
    strays = [i for i in latest.values() if i.state in ("running", "created") and not _in_sandbox(i, live)]
    no_network = live is not None and live.state == "running" and observed.sandbox_needs_ip and not live.ip
    if live is None or strays or no_network:
        actions += _sandbox_changed(desired, latest, live, pod_uid=pod_uid, now=now, backoff=backoff,
                                    backoff_cap=backoff_cap, replaces=bool(observed.sandboxes or latest))
        return Plan(tuple(actions), initialized=not desired.init_containers)  # a new sandbox initializes again
    if live.state == "created":
        actions.append(StartExisting(live.id, live.container_name))

    init_actions, initialized = _plan_init(desired, observed, latest, live, pod_uid=pod_uid, now=now,
                                           backoff=backoff, backoff_cap=backoff_cap)
    actions += init_actions
    if not initialized:
        return Plan(tuple(actions), initialized=False)
    for name in desired.containers:
        current = latest.get(name)
        if current is None:
            actions.append(desired.first_attempt(name))
        elif current.state == "running":
            if current.id in observed.unhealthy:
                actions.append(KillContainer(current.id, name, "Unhealthy"))
        elif current.state == "created":
            actions.append(StartExisting(current.id, name))
        elif should_restart(desired.restart_policy, current.exit_code):
            actions.append(_restart(name, current, pod_uid=pod_uid, now=now, backoff=backoff, backoff_cap=backoff_cap))
    return Plan(tuple(actions))


def _ran_in(info: ContainerInfo, live: ContainerInfo | None) -> bool:
    """Whether ``info`` (in any state) belongs to the live sandbox (unknown binding: assumed yes)."""
    return _in_sandbox(info, live)


def _init_failed_for_good(desired: DesiredPod, latest: Mapping[str, ContainerInfo], live: ContainerInfo | None) -> bool:
    """A regular init container failed under ``restartPolicy: Never``: the pod fails (kubelet)."""
    if desired.restart_policy != "Never":
        return False
    for name in desired.init_containers:
        info = latest.get(name)
        if name not in desired.sidecars and info is not None and info.state == "exited" and info.exit_code != 0:
            return True
    return False


def _plan_init(
    desired: DesiredPod, observed: Observed, latest: Mapping[str, ContainerInfo], live: ContainerInfo, *,
    pod_uid: str, now: float, backoff: Mapping[str, BackoffEntry], backoff_cap: float,
) -> tuple[list[Action], bool]:
    """Init containers (the kubelet's computeInitContainerActions): (actions, initialized).

    Before initialization, init containers run one at a time in order: a regular one must exit 0
    (a failure is restarted after back-off unless ``restartPolicy: Never``), a sidecar
    (``restartPolicy: Always``) must be running and started (startup probe passed) before the
    next one starts. Once an app container has run in this sandbox the pod is initialized: regular
    init containers are not run again, sidecars are kept running (restarted after back-off, killed
    when their liveness fails). A new sandbox runs the init containers again.
    """
    actions: list[Action] = []
    if not desired.init_containers:
        return actions, True
    app_started = any(n in latest and latest[n].state != "created" and _ran_in(latest[n], live)
                      for n in desired.containers)
    if app_started:
        for name in desired.init_containers:
            if name in desired.sidecars:
                action = _keep_running(desired, name, latest.get(name), observed, pod_uid=pod_uid, now=now,
                                       backoff=backoff, backoff_cap=backoff_cap)
                actions += [action] if action is not None else []
        return actions, True
    for name in desired.init_containers:
        current = latest.get(name)
        if current is not None and current.state == "exited" and not _ran_in(current, live):
            actions.append(StartContainer(name, current.attempt + 1, restart=False))  # a new sandbox: run again
            return actions, False
        if name in desired.sidecars:
            action = _keep_running(desired, name, current, observed, pod_uid=pod_uid, now=now, backoff=backoff,
                                   backoff_cap=backoff_cap)
            if action is not None:
                actions.append(action)
            if current is None or current.state != "running" or current.id in observed.not_started \
                    or current.id in observed.unhealthy:
                return actions, False
            continue
        if current is None:
            actions.append(desired.first_attempt(name))
            return actions, False
        if current.state == "created":
            actions.append(StartExisting(current.id, name))
            return actions, False
        if current.state == "running":
            return actions, False  # wait for it to finish
        if current.exit_code == 0:
            continue
        # Failed: Never was handled by the caller (the pod failed); Always/OnFailure restart it.
        actions.append(_restart(name, current, pod_uid=pod_uid, now=now, backoff=backoff, backoff_cap=backoff_cap))
        return actions, False
    return actions, True


def _keep_running(
    desired: DesiredPod, name: str, current: ContainerInfo | None, observed: Observed, *, pod_uid: str, now: float,
    backoff: Mapping[str, BackoffEntry], backoff_cap: float,
) -> Action | None:
    """A sidecar's one action: start it, start it again after back-off, or kill it when unhealthy."""
    if current is None:
        return desired.first_attempt(name)
    if current.state == "created":
        return StartExisting(current.id, name)
    if current.state == "running":
        return KillContainer(current.id, name, "Unhealthy") if current.id in observed.unhealthy else None
    return _restart(name, current, pod_uid=pod_uid, now=now, backoff=backoff, backoff_cap=backoff_cap)


def _in_sandbox(info: ContainerInfo, live: ContainerInfo | None) -> bool:
    """Whether ``info`` shares the live sandbox's network namespace (unknown binding: assumed yes)."""
    return live is not None and (info.network_of is None or info.network_of == live.id)


def _sandbox_changed(
    desired: DesiredPod, latest: Mapping[str, ContainerInfo], live: ContainerInfo | None, *, pod_uid: str,
    now: float, backoff: Mapping[str, BackoffEntry], backoff_cap: float, replaces: bool,
) -> list[Action]:
    """Kill the pod (containers, then what is left of its sandbox), create a new sandbox, start again.

    Containers left in a dead network namespace are useless: running ones are killed (they stay
    as the previous attempt, for ``lastState`` and logs); created ones can never start and are
    removed. Restarts get a new attempt number (restartCount + 1) and obey the crash back-off.
    Under ``restartPolicy: Never``, once any container ran, nothing is started again (kubelet:
    no new sandbox for a pod that must not restart).
    """
    actions: list[Action] = []
    for name, info in latest.items():
        if info.state == "running":
            actions.append(KillContainer(info.id, name, "SandboxChanged"))
        elif info.state == "created":
            actions += _kill_and_remove([info], "SandboxChanged")
    if live is not None:
        actions += _kill_and_remove([live], "SandboxChanged")
    if desired.restart_policy == "Never" and any(i.state != "created" for i in latest.values()):
        return actions
    actions.append(CreateSandbox(replaces=replaces))
    if desired.init_containers:  # a new sandbox runs the init containers again, from the first
        first = desired.init_containers[0]
        current = latest.get(first)
        if current is None:
            actions.append(desired.first_attempt(first))
        elif current.state == "running":
            actions.append(_restart(first, current, pod_uid=pod_uid, now=now, backoff=backoff,
                                    backoff_cap=backoff_cap, finished=now))
        else:
            actions.append(StartContainer(first, current.attempt + 1, restart=False))
        return actions
    for name in desired.containers:
        current = latest.get(name)
        if current is None:
            actions.append(desired.first_attempt(name))
        elif current.state == "running":  # killed just now: a restart like any other
            actions.append(_restart(name, current, pod_uid=pod_uid, now=now, backoff=backoff, backoff_cap=backoff_cap,
                                    finished=now))
        elif current.state == "created":  # removed just now, never ran: a fresh start, no back-off
            actions.append(StartContainer(name, current.attempt + 1, restart=False))
        elif should_restart(desired.restart_policy, current.exit_code):
            actions.append(_restart(name, current, pod_uid=pod_uid, now=now, backoff=backoff, backoff_cap=backoff_cap))
    return actions


def _restart(
    name: str, info: ContainerInfo, *, pod_uid: str, now: float, backoff: Mapping[str, BackoffEntry],
    backoff_cap: float, finished: float | None = None,
) -> Action:
    """A new attempt of ``name`` now, or a wait while its crash back-off runs (counted from the exit)."""
    if finished is None:
        finished = info.finished_at.timestamp() if info.finished_at else now
    wait = remaining_backoff(backoff.get(backoff_key(pod_uid, name)), finished, now, backoff_cap)
    if wait > 0:
        return WaitBackoff(name, wait)
    return StartContainer(name, info.attempt + 1, restart=True)


def _will_start_new(desired: DesiredPod, latest: ContainerInfo) -> bool:
    """``latest`` is dead and will be replaced (now or after back-off): it is the one dead attempt kept."""
    if latest.container_name in desired.sidecars:
        return latest.state == "exited"
    if latest.container_name in desired.init_containers:
        return latest.state == "exited" and latest.exit_code != 0 and desired.restart_policy != "Never"
    return latest.state == "exited" and should_restart(desired.restart_policy, latest.exit_code)


def _kill_and_remove(instances: Sequence[ContainerInfo], reason: str) -> list[Action]:
    actions: list[Action] = []
    for info in instances:
        if info.state in ("running", "created"):
            actions.append(KillContainer(info.id, info.container_name, reason))
        actions.append(RemoveContainer(info.id, info.container_name))
    return actions
