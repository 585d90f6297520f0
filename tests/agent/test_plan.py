"""The pure planner, back-off schedule and status builder: tables plus hypothesis properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.core import Container, Pod, PodSpec, PodStatus
from kubelite.api.meta import ObjectMeta

from agent.backoff import Backoff, BackoffEntry
from agent.plan import (
    CreateSandbox,
    DesiredPod,
    KillContainer,
    Observed,
    RemoveContainer,
    StartContainer,
    StartExisting,
    WaitBackoff,
    backoff_key,
    plan_pod,
    should_restart,
)
from agent.runtime.base import LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_POD_UID, ContainerInfo
from agent.status import (
    ProbeState, StatusInput, Waiting, build_status, late_terminations, pod_phase, status_changed,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0.timestamp() + 1000
UID = "uid-1"


def info(name: str, state: str = "running", *, attempt: int = 0, exit_code: int | None = None,
         finished: float | None = None, cid: str | None = None, ip: str | None = None,
         sandbox: str | None = None) -> ContainerInfo:
    return ContainerInfo(
        id=cid or f"{name}-{attempt}", name=f"k_{name}_{attempt}", image="img", image_id="sha", state=state,  # type: ignore[arg-type]
        labels={LABEL_CONTAINER: name, LABEL_ATTEMPT: str(attempt), LABEL_POD_UID: UID},
        exit_code=exit_code, started_at=T0,
        finished_at=datetime.fromtimestamp(finished, UTC) if finished is not None else None,
        created_at=T0 + timedelta(seconds=attempt), ip=ip, network_of=sandbox,
    )


SANDBOX = info("POD", cid="sandbox", ip="172.17.0.9")


def plan(containers: list[ContainerInfo], *, policy: str = "Always", names: tuple[str, ...] = ("app",),
         sandboxes: list[ContainerInfo] | None = None, unhealthy: frozenset[str] = frozenset(),
         backoff: dict[str, BackoffEntry] | None = None):
    return plan_pod(
        DesiredPod(names, policy),
        Observed(sandboxes=[SANDBOX] if sandboxes is None else sandboxes, containers=containers, unhealthy=unhealthy),
        pod_uid=UID, now=NOW, backoff=backoff or {}, backoff_cap=300,
    )


# -- the planner, as a table --------------------------------------------------

def test_new_pod_creates_sandbox_then_starts_every_container() -> None:
    result = plan([], names=("a", "b"), sandboxes=[])
    assert result.actions == (CreateSandbox(), StartContainer("a", 0, restart=False),
                              StartContainer("b", 0, restart=False))


def test_running_pod_needs_nothing() -> None:
    assert plan([info("app")]).actions == ()


@pytest.mark.parametrize(("policy", "exit_code", "restarts"), [
    ("Always", 0, True), ("Always", 1, True),
    ("OnFailure", 0, False), ("OnFailure", 137, True),
    ("Never", 0, False), ("Never", 1, False),
])
def test_exited_container_restarts_exactly_as_the_policy_says(policy: str, exit_code: int, restarts: bool) -> None:
    result = plan([info("app", "exited", exit_code=exit_code, finished=NOW - 1)], policy=policy)
    if restarts:
        assert result.actions == (StartContainer("app", 1, restart=True),)
        assert not result.completed
    else:
        assert result.completed
        assert result.actions == (KillContainer("sandbox", "POD", "PodCompleted"),)


def test_restart_waits_for_the_backoff_counted_from_the_exit() -> None:
    entry = BackoffEntry(delay=20, last_update=NOW - 30)
    result = plan([info("app", "exited", attempt=2, exit_code=1, finished=NOW - 5)],
                  backoff={backoff_key(UID, "app"): entry})
    assert result.actions == (WaitBackoff("app", 15),)
    assert result.requeue_after == 15


def test_backoff_is_ignored_after_ten_minutes_of_running() -> None:
    entry = BackoffEntry(delay=300, last_update=NOW - 1000)
    result = plan([info("app", "exited", attempt=5, exit_code=1, finished=NOW - 1)],
                  backoff={backoff_key(UID, "app"): entry})
    assert result.actions == (StartContainer("app", 6, restart=True),)


def test_liveness_failure_kills_the_running_container() -> None:
    result = plan([info("app", cid="c1")], unhealthy=frozenset({"c1"}))
    assert result.actions == (KillContainer("c1", "app", "Unhealthy"),)


def test_dead_sandbox_is_replaced_and_its_containers_restarted_in_the_new_one() -> None:
    dead = info("POD", "exited", exit_code=137, cid="old-sandbox")
    result = plan([info("app", cid="c1", sandbox="old-sandbox")], sandboxes=[dead])
    assert result.actions == (RemoveContainer("old-sandbox", "POD"), KillContainer("c1", "app", "SandboxChanged"),
                              CreateSandbox(replaces=True), StartContainer("app", 1, restart=True))


def test_created_container_of_a_removed_sandbox_is_replaced_not_started() -> None:
    # r02: attempt 1 was created in sandbox A, then A was removed. Starting it can only fail
    # ("No such container: A"); the pod gets a new sandbox and a new attempt instead.
    created = info("app", "created", attempt=1, cid="c1", sandbox="gone")
    result = plan([created], sandboxes=[])
    assert result.actions == (KillContainer("c1", "app", "SandboxChanged"), RemoveContainer("c1", "app"),
                              CreateSandbox(replaces=True), StartContainer("app", 2, restart=False))
    assert not any(isinstance(a, StartExisting) for a in result.actions)


def test_container_bound_to_another_sandbox_than_the_live_one_kills_the_pod() -> None:
    # The agent already made a new sandbox, but the app still lives in the old one's namespace.
    live = info("POD", attempt=1, cid="new-sandbox", ip="172.17.0.5")
    stray = info("app", "created", attempt=1, cid="c1", sandbox="old-sandbox")
    result = plan([stray], sandboxes=[live])
    assert result.actions == (
        KillContainer("c1", "app", "SandboxChanged"), RemoveContainer("c1", "app"),
        KillContainer("new-sandbox", "POD", "SandboxChanged"), RemoveContainer("new-sandbox", "POD"),
        CreateSandbox(replaces=True), StartContainer("app", 2, restart=False))


def test_sandbox_change_respects_the_crash_backoff() -> None:
    entry = BackoffEntry(delay=20, last_update=NOW - 30)
    result = plan([info("app", cid="c1", attempt=3, sandbox="gone")], sandboxes=[],
                  backoff={backoff_key(UID, "app"): entry})
    assert result.actions == (KillContainer("c1", "app", "SandboxChanged"), CreateSandbox(replaces=True),
                              WaitBackoff("app", 20))


def test_sandbox_change_under_restart_policy_never_starts_nothing_again() -> None:
    result = plan([info("app", cid="c1", sandbox="gone")], policy="Never", sandboxes=[])
    assert result.actions == (KillContainer("c1", "app", "SandboxChanged"),)


def test_container_gone_from_the_runtime_continues_its_restart_count() -> None:
    # The status said attempt 3 ran (containerID set); the runtime has nothing of it any more.
    result = plan_pod(DesiredPod(("app", "new"), reported_restarts={"app": 3}), Observed(sandboxes=[SANDBOX]),
                      pod_uid=UID, now=NOW, backoff={})
    assert result.actions == (StartContainer("app", 4, restart=False), StartContainer("new", 0, restart=False))


def test_running_sandbox_without_an_ip_lost_its_network_and_is_replaced() -> None:
    unplugged = info("POD", cid="sandbox")  # running, no IP
    observed = Observed(sandboxes=[unplugged], containers=[info("app", cid="c1", sandbox="sandbox")],
                        sandbox_needs_ip=True)
    result = plan_pod(DesiredPod(("app",)), observed, pod_uid=UID, now=NOW, backoff={})
    assert result.actions == (
        KillContainer("c1", "app", "SandboxChanged"), KillContainer("sandbox", "POD", "SandboxChanged"),
        RemoveContainer("sandbox", "POD"), CreateSandbox(replaces=True), StartContainer("app", 1, restart=True))
    # Runtimes without networking (sim) have no IP to lose.
    observed = Observed(sandboxes=[unplugged], containers=[info("app", cid="c1", sandbox="sandbox")])
    assert plan_pod(DesiredPod(("app",)), observed, pod_uid=UID, now=NOW, backoff={}).actions == ()


def test_containers_in_the_live_sandbox_are_left_alone() -> None:
    assert plan([info("app", cid="c1", sandbox="sandbox")]).actions == ()


def test_starting_sandbox_is_started_not_replaced() -> None:
    starting = info("POD", "created", cid="new-sandbox")
    result = plan([], sandboxes=[starting])
    assert result.actions == (StartExisting("new-sandbox", "POD"), StartContainer("app", 0, restart=False))


def test_unknown_container_names_are_removed() -> None:
    result = plan([info("app"), info("stray", cid="s1")])
    assert result.actions == (KillContainer("s1", "stray", "Orphaned"), RemoveContainer("s1", "stray"))


def test_only_one_dead_attempt_is_kept() -> None:
    old = [info("app", "exited", attempt=a, exit_code=1, finished=NOW - 100) for a in range(3)]
    result = plan([*old, info("app", attempt=3)])
    assert set(result.actions) == {RemoveContainer("app-0", "app"), RemoveContainer("app-1", "app")}


def test_created_but_never_started_container_is_started() -> None:
    assert plan([info("app", "created", cid="c1")]).actions == (StartExisting("c1", "app"),)


# -- properties ----------------------------------------------------------------

states = st.sampled_from(["running", "exited", "created"])
containers_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), states, st.integers(0, 4), st.sampled_from([0, 1, 137]),
              st.sampled_from(["sandbox", "sandbox", "gone", None])),  # the sandbox whose netns it joined
    max_size=8, unique_by=lambda t: (t[0], t[2]),
)


@settings(max_examples=300, deadline=None)
@given(containers=containers_strategy, policy=st.sampled_from(["Always", "OnFailure", "Never"]),
       sandbox_alive=st.booleans(), delay=st.sampled_from([0, 10, 40, 300]))
def test_plan_properties(containers: list[tuple[str, str, int, int, str | None]], policy: str,
                         sandbox_alive: bool, delay: int) -> None:
    observed = [info(n, s, attempt=a, exit_code=e if s == "exited" else None, finished=NOW - 3, sandbox=b)
                for n, s, a, e, b in containers]
    sandboxes = [SANDBOX] if sandbox_alive else []
    entries = {backoff_key(UID, n): BackoffEntry(delay, NOW - 5) for n in "abc"}
    result = plan(observed, policy=policy, names=("a", "b"), sandboxes=sandboxes, backoff=entries)
    starts = [a for a in result.actions if isinstance(a, StartContainer)]
    # At most one start per container, never for an undesired name, always a fresh attempt number.
    assert len({s.name for s in starts}) == len(starts)
    assert all(s.name in ("a", "b") for s in starts)
    for s in starts:
        attempts = [c.attempt for c in observed if c.container_name == s.name]
        assert s.attempt == (max(attempts) + 1 if attempts else 0)
    # Never: nothing that already ran is started again.
    if policy == "Never":
        assert all(not s.restart for s in starts)
    # Nothing is both waited for and started; a wait never exceeds the back-off delay.
    waits = {a.name: a.remaining for a in result.actions if isinstance(a, WaitBackoff)}
    assert not set(waits) & {s.name for s in starts}
    assert all(0 < w <= delay for w in waits.values())
    # Containers of undesired names are always killed/removed.
    removed = {a.container_id for a in result.actions if isinstance(a, RemoveContainer)}
    assert all(c.id in removed for c in observed if c.container_name == "c")
    # A completed pod never starts anything.
    if result.completed:
        assert not starts and not any(isinstance(a, CreateSandbox) for a in result.actions)
    # Nothing is started inside a sandbox that is gone (r02); whatever lives in one is killed.
    by_id = {c.id: c for c in observed}
    for action in result.actions:
        if isinstance(action, StartExisting) and action.container_id in by_id:
            assert sandbox_alive and by_id[action.container_id].network_of in ("sandbox", None)
    killed = {a.container_id for a in result.actions if isinstance(a, KillContainer)}
    newest = {n: max((c for c in observed if c.container_name == n), key=lambda c: c.attempt)
              for n in {c.container_name for c in observed}}
    for c in newest.values():
        if c.state in ("running", "created") and (c.network_of == "gone" or not sandbox_alive) and not result.completed:
            assert c.id in killed
    # Starting anything needs a sandbox: either alive or created earlier in the same plan.
    if starts and not sandbox_alive:
        first_start = result.actions.index(starts[0])
        assert any(isinstance(a, CreateSandbox) for a in result.actions[:first_start])


# -- the back-off schedule ----------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_crashloop_backoff_schedule_doubles_to_five_minutes() -> None:
    clock = FakeClock()
    backoff = Backoff(initial=10, cap=300, clock=clock)
    waits = []
    for _ in range(9):
        finished = clock.now  # the container crashes at once after each start
        wait = backoff.remaining("k", finished)
        waits.append(wait)
        clock.now += wait
        assert backoff.remaining("k", finished) == 0
        backoff.next("k")
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_backoff_resets_after_ten_minutes_of_running() -> None:
    clock = FakeClock()
    backoff = Backoff(initial=10, cap=300, clock=clock)
    for _ in range(5):
        backoff.next("k")
    clock.now += 601  # ran for more than 2 × cap
    assert backoff.remaining("k", clock.now) == 0
    assert backoff.next("k") == 10


def test_backoff_does_not_reset_after_a_short_run() -> None:
    clock = FakeClock()
    backoff = Backoff(initial=10, cap=300, clock=clock)
    backoff.next("k")
    backoff.next("k")  # delay now 20
    clock.now += 5
    assert backoff.remaining("k", clock.now) == 20


@given(st.lists(st.floats(0, 2000), min_size=1, max_size=30))
def test_backoff_delay_stays_between_initial_and_cap(gaps: list[float]) -> None:
    clock = FakeClock()
    backoff = Backoff(initial=10, cap=300, clock=clock)
    for gap in gaps:
        clock.now += gap
        delay = backoff.next("k")
        assert 10 <= delay <= 300
        assert backoff.remaining("k", clock.now) <= delay


def test_should_restart_table() -> None:
    assert should_restart("Always", 0) and should_restart("OnFailure", 2) and not should_restart("OnFailure", 0)
    assert not should_restart("Never", 1)


# -- status ------------------------------------------------------------------

def pod(*names: str, policy: str | None = None) -> Pod:
    return Pod(metadata=ObjectMeta(name="p", namespace="default", uid=UID),
               spec=PodSpec(containers=[Container(name=n, image="img") for n in names], restart_policy=policy))


def status_input(latest: dict[str, ContainerInfo], *, waiting: dict[str, Waiting] | None = None,
                 probes: dict[str, ProbeState] | None = None, completed: bool = False,
                 previous: dict[str, ContainerInfo] | None = None) -> StatusInput:
    return StatusInput(latest=latest, previous=previous or {}, waiting=waiting or {}, probes=probes or {},
                       sandbox=SANDBOX, completed=completed, host_ip="127.0.0.1", runtime="docker")


def test_a_terminal_pods_status_takes_only_the_runtimes_later_word_on_how_a_container_ended() -> None:
    killed = info("a", "exited", exit_code=137, finished=NOW)
    ended = build_status(pod("a", policy="Never"), status_input({"a": killed}, completed=True), T0)
    assert ended.phase == "Failed" and ended.container_statuses[0].state.terminated.reason == "Error"
    assert late_terminations(ended, [killed, SANDBOX], "docker") is None  # the runtime says nothing new
    stored = Pod.model_validate({**pod("a").to_dict(), "status": ended.to_dict()}).status  # as read back
    assert late_terminations(stored, [killed], "docker") is None  # no write on every sync of a terminal pod
    oom = replace(killed, oom_killed=True)
    late = late_terminations(ended, [oom], "docker")
    assert late is not None and late.phase == "Failed" and late.conditions == ended.conditions
    assert late.container_statuses[0].state.terminated.reason == "OOMKilled"
    assert late.container_statuses[0].state.terminated.exit_code == 137
    assert late_terminations(ended, [replace(oom, id="another")], "docker") is None  # not the container shown
    assert late_terminations(ended, [oom], "sim") is None  # ids carry the runtime's prefix
    assert late_terminations(None, [oom], "docker") is None


def test_status_running_and_ready() -> None:
    status = build_status(pod("a"), status_input({"a": info("a")}), T0)
    assert status.phase == "Running" and status.pod_ip == "172.17.0.9" and status.host_ip == "127.0.0.1"
    cs = status.container_statuses[0]
    assert cs.ready and cs.started and cs.container_id == "docker://a-0" and cs.state.running
    assert status.condition("Ready").status == "True"


def test_status_not_ready_until_readiness_succeeds() -> None:
    status = build_status(pod("a"), status_input({"a": info("a")}, probes={"a-0": ProbeState(True, False)}), T0)
    assert status.phase == "Running" and status.condition("Ready").status == "False"
    assert status.condition("Ready").reason == "ContainersNotReady"


def test_status_crashloop_shows_waiting_and_last_state() -> None:
    dead = info("a", "exited", attempt=3, exit_code=2, finished=NOW)
    status = build_status(pod("a"), status_input({"a": dead}, waiting={"a": Waiting("CrashLoopBackOff", "m")}), T0)
    cs = status.container_statuses[0]
    assert cs.state.waiting.reason == "CrashLoopBackOff" and cs.restart_count == 3
    assert cs.last_state.terminated.exit_code == 2 and cs.last_state.terminated.reason == "Error"
    assert status.phase == "Running"


def test_status_keeps_transition_times_when_nothing_changes() -> None:
    first = build_status(pod("a"), status_input({"a": info("a")}), T0)
    again = pod("a")
    again.status = first
    second = build_status(again, status_input({"a": info("a")}), T0 + timedelta(minutes=5))
    assert second.to_dict() == first.to_dict()


def test_status_reports_the_stored_qos_class_else_the_specs() -> None:
    """The kubelet's generateAPIPodStatus sets qosClass from GetPodQOS: the stored class, else computed."""
    assert build_status(pod("a"), status_input({"a": info("a")}), T0).qos_class == "BestEffort"
    stored = pod("a")
    stored.status = PodStatus(phase="Pending", qos_class="Burstable")
    assert build_status(stored, status_input({"a": info("a")}), T0).qos_class == "Burstable"


@pytest.mark.parametrize(("states", "policy", "completed", "phase"), [
    ([None], "Always", False, "Pending"),
    (["running", None], "Always", False, "Pending"),
    (["running", "running"], "Always", False, "Running"),
    ([0, 0], "Never", True, "Succeeded"),
    ([0, 1], "Never", True, "Failed"),
    ([1, "running"], "Never", False, "Running"),
])
def test_pod_phase_table(states: list[object], policy: str, completed: bool, phase: str) -> None:
    names = tuple(f"c{i}" for i in range(len(states)))
    latest = {}
    for name, state in zip(names, states, strict=True):
        if state == "running":
            latest[name] = info(name)
        elif isinstance(state, int):
            latest[name] = info(name, "exited", exit_code=state, finished=NOW)
    status = build_status(pod(*names, policy=policy), status_input(latest, completed=completed), T0)
    assert pod_phase(status.container_statuses, policy, completed) == phase == status.phase


def test_status_changed_compares_the_normal_form_and_a_phase_change_is_a_change() -> None:
    pending = PodStatus.model_validate({"phase": "Pending", "qosClass": "BestEffort"})
    running = PodStatus.model_validate({"phase": "Running", "qosClass": "BestEffort", "podIP": "10.0.0.1"})
    assert status_changed(None, pending) and status_changed(pending, running)
    assert status_changed(pending, PodStatus.model_validate({"phase": "Running", "qosClass": "BestEffort"}))
    assert not status_changed(running, running.deep_copy())
    # empty is absent (Kubernetes' comparison): no write for a status that only gained an empty list
    assert not status_changed(running, PodStatus.model_validate({**running.to_dict(), "conditions": []}))
    assert status_changed(running, PodStatus.model_validate({**running.to_dict(), "podIP": "10.0.0.2"}))
