"""A pod's status from what the runtime shows: pure, like the plan.

Phase, conditions and containerStatuses follow the kubelet's rules
(``getPhase``, ``generateAPIPodStatus``): a container waiting to start keeps
the pod Pending; a running one makes it Running; when every container has
finished for good it is Succeeded (all exited 0) or Failed.

A pod being deleted (``deletionTimestamp`` set) is not ready: its containers
are being stopped. Once they have all stopped its phase is terminal
(Succeeded when every container exited 0, else Failed), which the kubelet
reports for deleted pods before they go (Kubernetes 1.27+); see
:func:`termination_input`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from kubelite.api import semantic
from kubelite.api.core import (
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    HostIP,
    Pod,
    PodCondition,
    PodIP,
    PodStatus,
)
from kubelite.api.qos import pod_qos_class

from agent.plan import by_attempt
from agent.runtime.base import ContainerInfo


@dataclass(frozen=True)
class Waiting:
    reason: str
    message: str = ""


@dataclass(frozen=True)
class ProbeState:
    started: bool
    ready: bool


@dataclass(frozen=True)
class StatusInput:
    latest: Mapping[str, ContainerInfo]  # newest attempt per container name
    previous: Mapping[str, ContainerInfo]  # the attempt before it, when kept
    waiting: Mapping[str, Waiting]  # image pull errors, back-off: overrides the shown state
    probes: Mapping[str, ProbeState]  # by container id
    sandbox: ContainerInfo | None
    completed: bool
    host_ip: str
    runtime: str  # containerID prefix: docker:// or sim://
    initialized: bool = True  # init containers done (agent.plan.Plan.initialized)


def _sec(value: datetime | None) -> datetime | None:
    """Kubernetes' Time has whole seconds; sub-second noise would make every status look new."""
    return value.replace(microsecond=0) if value else None


def terminated_state(info: ContainerInfo, runtime: str) -> ContainerStateTerminated:
    if info.oom_killed:
        reason = "OOMKilled"
    elif info.exit_code == 0:
        reason = "Completed"
    else:
        reason = "Error"
    return ContainerStateTerminated(
        exit_code=info.exit_code if info.exit_code is not None else -1, reason=reason,
        message=info.error or None, started_at=_sec(info.started_at), finished_at=_sec(info.finished_at),
        container_id=f"{runtime}://{info.id}",
    )


def container_status(pod: Pod, name: str, image: str, data: StatusInput, *, not_yet: str = "ContainerCreating") -> ContainerStatus:
    """``not_yet``: the waiting reason of a container not created yet (PodInitializing before init is done)."""
    info = data.latest.get(name)
    previous = data.previous.get(name)
    waiting = data.waiting.get(name)
    status = ContainerStatus(name=name, image=image, restart_count=info.attempt if info else 0)
    if info is None:
        reason = waiting or Waiting(not_yet)
        status.state = ContainerState(waiting=ContainerStateWaiting(reason=reason.reason,
                                                                    message=reason.message or None))
        return status
    status.container_id = f"{data.runtime}://{info.id}"
    status.image_id = info.image_id
    if info.state == "running":
        probe = data.probes.get(info.id, ProbeState(started=True, ready=True))
        status.state = ContainerState(running=ContainerStateRunning(started_at=_sec(info.started_at)))
        status.started = probe.started
        status.ready = probe.started and probe.ready
        if previous is not None and previous.state == "exited":
            status.last_state = ContainerState(terminated=terminated_state(previous, data.runtime))
    elif info.state == "exited":
        if waiting is not None:
            status.state = ContainerState(waiting=ContainerStateWaiting(reason=waiting.reason,
                                                                        message=waiting.message or None))
            status.last_state = ContainerState(terminated=terminated_state(info, data.runtime))
        else:
            status.state = ContainerState(terminated=terminated_state(info, data.runtime))
            if previous is not None and previous.state == "exited":
                status.last_state = ContainerState(terminated=terminated_state(previous, data.runtime))
        status.started = False
    else:
        reason = waiting or Waiting("ContainerCreating")
        status.state = ContainerState(waiting=ContainerStateWaiting(reason=reason.reason,
                                                                    message=reason.message or None))
    return status


def pod_phase(statuses: list[ContainerStatus], restart_policy: str, completed: bool) -> str:
    """The kubelet's getPhase."""
    if completed:
        all_zero = all(s.state and s.state.terminated and s.state.terminated.exit_code == 0 for s in statuses)
        return "Succeeded" if all_zero else "Failed"
    waiting = running = stopped = succeeded = 0
    for s in statuses:
        state = s.state or ContainerState()
        if state.running:
            running += 1
        elif state.terminated:
            stopped += 1
            succeeded += int(state.terminated.exit_code == 0)
        elif state.waiting and s.last_state and s.last_state.terminated:
            stopped += 1
            succeeded += int(s.last_state.terminated.exit_code == 0)
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(old: PodStatus | None, type_: str, value: bool, now: datetime, reason: str | None = None) -> PodCondition:
    status = "True" if value else "False"
    previous = old.condition(type_) if old else None
    since = previous.last_transition_time if previous and previous.status == status else now
    return PodCondition(type=type_, status=status, last_transition_time=since, reason=reason)


def init_statuses(pod: Pod, data: StatusInput) -> list[ContainerStatus] | None:
    """initContainerStatuses: a not-yet-run init container waits with PodInitializing; a sidecar is
    ready by its readiness probe, like an app container."""
    inits = pod.spec.init_containers or []
    if not inits:
        return None
    statuses = [container_status(pod, c.name, c.image or "", data, not_yet="PodInitializing") for c in inits]
    for spec, status in zip(inits, statuses, strict=True):
        if spec.restart_policy != "Always" and not (status.state and status.state.running):
            status.started = None if status.state and status.state.waiting else False
        if spec.restart_policy != "Always":
            status.ready = bool(status.state and status.state.terminated and status.state.terminated.exit_code == 0)
    return statuses


def build_status(pod: Pod, data: StatusInput, now: datetime) -> PodStatus:
    old = pod.status
    not_yet = "ContainerCreating" if data.initialized else "PodInitializing"
    statuses = [container_status(pod, c.name, c.image or "", data, not_yet=not_yet) for c in pod.spec.containers]
    inits = init_statuses(pod, data)
    if pod.metadata.deletion_timestamp is not None:
        statuses = [s.model_copy(update={"ready": False}) for s in statuses]
        inits = [s.model_copy(update={"ready": False}) for s in inits] if inits is not None else None
    sidecars = [s for c, s in zip(pod.spec.init_containers or [], inits or [], strict=False)
                if c.restart_policy == "Always"]
    phase = pod_phase(statuses, pod.spec.effective_restart_policy, data.completed)
    ready = bool(statuses) and all(s.ready for s in [*statuses, *sidecars]) and phase == "Running"
    not_ready_reason = None if ready else ("PodCompleted" if data.completed else "ContainersNotReady")
    scheduled = old.condition("PodScheduled") if old else None
    conditions = [
        scheduled or PodCondition(type="PodScheduled", status="True", last_transition_time=now),
        _condition(old, "Initialized", data.initialized, now,
                   None if data.initialized else "ContainersNotInitialized"),
        _condition(old, "ContainersReady", ready, now, not_ready_reason),
        _condition(old, "Ready", ready, now, not_ready_reason),
    ]
    status = PodStatus(
        phase=phase, conditions=conditions, host_ip=data.host_ip, host_ips=[HostIP(ip=data.host_ip)],
        start_time=(old.start_time if old and old.start_time else now), container_statuses=statuses,
        init_container_statuses=inits, qos_class=pod_qos_class(pod),
    )
    if data.sandbox is not None and data.sandbox.ip:
        status.pod_ip = data.sandbox.ip
        status.pod_ips = [PodIP(ip=data.sandbox.ip)]
    elif old and old.pod_ip and phase in ("Succeeded", "Failed"):
        status.pod_ip, status.pod_ips = old.pod_ip, old.pod_ips
    return status


def split_attempts(containers: Sequence[ContainerInfo]) -> tuple[dict[str, ContainerInfo], dict[str, ContainerInfo]]:
    """(newest attempt, the one before it) per container name; sandboxes excluded."""
    groups: dict[str, list[ContainerInfo]] = {}
    for info in containers:
        if not info.is_sandbox:
            groups.setdefault(info.container_name, []).append(info)
    latest, previous = {}, {}
    for name, instances in groups.items():
        ordered = by_attempt(instances)
        latest[name] = ordered[0]
        if len(ordered) > 1:
            previous[name] = ordered[1]
    return latest, previous


def termination_input(containers: Sequence[ContainerInfo], *, host_ip: str, runtime: str) -> StatusInput:
    """What a terminating pod's status is built from: its containers as the runtime shows them;
    ``completed`` once none of its app containers is still running (the phase then turns terminal)."""
    latest, previous = split_attempts(containers)
    sandbox = next(iter(by_attempt([c for c in containers if c.is_sandbox and c.state == "running"])), None)
    stopped = all(c.state not in ("running", "created") for c in latest.values())
    return StatusInput(latest=latest, previous=previous, waiting={}, probes={}, sandbox=sandbox,
                       completed=bool(latest) and stopped, host_ip=host_ip, runtime=runtime)


def late_terminations(status: PodStatus | None, containers: Sequence[ContainerInfo], runtime: str) -> PodStatus | None:
    """A terminal pod's ``status`` with the runtime's later word on how its containers ended, or None
    when it has none. Only a terminated state the status shows for the same container id is replaced;
    the phase and everything else stay (a terminal phase is final). A runtime can learn of an OOM
    kill after the exit (Docker 20.10: agent/runtime/docker_cache.py), and containerd's CRI then
    reports the container OOMKilled too."""
    if status is None:
        return None
    ended = {f"{runtime}://{c.id}": c for c in containers if c.state == "exited" and not c.is_sandbox}
    changed = False

    def updated(statuses: list[ContainerStatus] | None) -> list[ContainerStatus] | None:
        nonlocal changed
        if not statuses:
            return statuses
        result = []
        for item in statuses:
            info = ended.get(item.container_id or "")
            old = item.state.terminated if item.state else None
            if info is not None and old is not None:
                new = terminated_state(info, runtime)
                if new != old:
                    changed = True
                    item = item.model_copy(update={"state": ContainerState(terminated=new)})
            result.append(item)
        return result

    update = {"container_statuses": updated(status.container_statuses),
              "init_container_statuses": updated(status.init_container_statuses)}
    return status.model_copy(update=update) if changed else None


def status_changed(old: PodStatus | None, new: PodStatus) -> bool:
    """Whether ``new`` differs from the stored status as Kubernetes compares (empty = absent), so an
    agent spends no etcd round trip on a write the store would drop as a no-op."""
    if old is None:
        return True
    before, after = old.to_dict(), new.to_dict()
    if before.get("phase") and after.get("phase") and before["phase"] != after["phase"]:
        return True  # the normal form keeps a non-empty string as it is: no need to build it (issue 12)
    return before != after and not semantic.part_equal("Pod", "status", before, after)
