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
        if name not in desired.containers:
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
    if done:
        actions += [KillContainer(s.id, s.container_name, "PodCompleted")
                    for s in observed.sandboxes if s.state in ("running", "created")]
        return Plan(tuple(actions), completed=True)

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
        return Plan(tuple(actions))
    if live.state == "created":
        actions.append(StartExisting(live.id, live.container_name))

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
    return latest.state == "exited" and should_restart(desired.restart_policy, latest.exit_code)


def _kill_and_remove(instances: Sequence[ContainerInfo], reason: str) -> list[Action]:
    actions: list[Action] = []
    for info in instances:
        if info.state in ("running", "created"):
            actions.append(KillContainer(info.id, info.container_name, reason))
        actions.append(RemoveContainer(info.id, info.container_name))
    return actions
