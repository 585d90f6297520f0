"""The pure planner with init and sidecar containers (the kubelet's computeInitContainerActions)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.core import Pod
from agent.backoff import BackoffEntry
from agent.plan import DesiredPod, KillContainer, Observed, Plan, StartContainer, WaitBackoff, backoff_key, plan_pod
from agent.runtime.base import ContainerInfo
from agent.status import StatusInput, build_status
from tests.agent.test_plan import NOW, SANDBOX, UID, info

INITS = ("migrate", "seed")
DESIRED = DesiredPod(("app",), "Always", init_containers=INITS)
WITH_SIDECAR = DesiredPod(("app",), "Never", init_containers=("proxy", "migrate"), sidecars=frozenset({"proxy"}))


def plan(desired: DesiredPod, containers: list[ContainerInfo], *, not_started: frozenset[str] = frozenset(),
         backoff: dict[str, BackoffEntry] | None = None) -> Plan:
    return plan_pod(desired, Observed(sandboxes=[SANDBOX], containers=containers, not_started=not_started),
                    pod_uid=UID, now=NOW, backoff=backoff or {}, backoff_cap=300)


def starts(p: Plan) -> list[str]:
    return [a.name for a in p.actions if isinstance(a, StartContainer)]


def test_init_containers_run_one_at_a_time_in_order_then_the_app() -> None:
    assert (starts(p := plan(DESIRED, [])), p.initialized) == (["migrate"], False)
    assert starts(plan(DESIRED, [info("migrate", sandbox="sandbox")])) == []  # running: wait for it
    done = info("migrate", "exited", exit_code=0, finished=NOW - 1, sandbox="sandbox")
    assert starts(plan(DESIRED, [done])) == ["seed"]
    seeded = info("seed", "exited", exit_code=0, finished=NOW - 1, sandbox="sandbox")
    assert (starts(p := plan(DESIRED, [done, seeded])), p.initialized) == (["app"], True)


def test_failed_init_container_restarts_after_back_off_and_blocks_the_app() -> None:
    failed = info("migrate", "exited", exit_code=1, finished=NOW - 1, sandbox="sandbox")
    assert starts(plan(DESIRED, [failed])) == ["migrate"]
    entry = BackoffEntry(delay=10.0, last_update=NOW - 1)
    p = plan(DESIRED, [failed], backoff={backoff_key(UID, "migrate"): entry})
    assert [a.name for a in p.actions if isinstance(a, WaitBackoff)] == ["migrate"] and not p.initialized


def test_failed_init_container_under_never_fails_the_pod() -> None:
    failed = info("migrate", "exited", exit_code=1, finished=NOW - 1, sandbox="sandbox")
    p = plan(DesiredPod(("app",), "Never", init_containers=INITS), [failed])
    assert p.completed and not p.initialized and starts(p) == []


def test_sidecar_must_be_started_before_the_next_init_and_stops_with_the_pod() -> None:
    proxy = info("proxy", sandbox="sandbox")
    assert starts(plan(WITH_SIDECAR, [])) == ["proxy"]
    assert starts(plan(WITH_SIDECAR, [proxy], not_started=frozenset({proxy.id}))) == []  # startup probe pending
    assert starts(plan(WITH_SIDECAR, [proxy])) == ["migrate"]
    migrated = info("migrate", "exited", exit_code=0, finished=NOW - 1, sandbox="sandbox")
    assert starts(plan(WITH_SIDECAR, [proxy, migrated])) == ["app"]
    app_done = info("app", "exited", exit_code=0, finished=NOW - 1, sandbox="sandbox")
    p = plan(WITH_SIDECAR, [proxy, migrated, app_done])  # the sidecar does not keep the pod from completing
    assert p.completed and KillContainer(proxy.id, "proxy", "PodCompleted") in p.actions


def test_sidecar_is_restarted_after_initialization_without_rerunning_inits() -> None:
    migrated = info("migrate", "exited", exit_code=0, finished=NOW - 1, sandbox="sandbox")
    crashed = info("proxy", "exited", exit_code=2, finished=NOW - 1, sandbox="sandbox")
    app = info("app", sandbox="sandbox")
    desired = DesiredPod(("app",), "Always", init_containers=("proxy", "migrate"), sidecars=frozenset({"proxy"}))
    p = plan(desired, [migrated, crashed, app])
    assert starts(p) == ["proxy"] and p.initialized


def test_a_new_sandbox_runs_the_init_containers_again() -> None:
    old = info("migrate", "exited", exit_code=0, finished=NOW - 1, sandbox="old-sandbox")
    p = plan(DESIRED, [old])
    assert [(a.name, a.attempt) for a in p.actions if isinstance(a, StartContainer)] == [("migrate", 1)]


@given(st.lists(st.sampled_from(["pending", "running", "ok", "failed"]), min_size=2, max_size=2))
def test_the_app_never_starts_before_every_init_container_exited_zero(states: list[str]) -> None:
    containers = []
    for name, state in zip(INITS, states, strict=True):
        if state == "running":
            containers.append(info(name, sandbox="sandbox"))
        elif state != "pending":
            containers.append(info(name, "exited", exit_code=0 if state == "ok" else 1, finished=NOW - 1,
                                   sandbox="sandbox"))
    p = plan(DESIRED, containers)
    assert ("app" in starts(p)) == (states == ["ok", "ok"])
    assert len(starts(p)) <= 1


def test_status_while_initializing() -> None:
    pod = Pod.model_validate({"metadata": {"name": "p", "uid": UID}, "spec": {
        "containers": [{"name": "app", "image": "i"}],
        "initContainers": [{"name": "migrate", "image": "i"}, {"name": "seed", "image": "i"}]}})
    failed = info("migrate", "exited", exit_code=1, finished=NOW - 1, sandbox="sandbox")
    data = StatusInput(latest={"migrate": failed}, previous={}, waiting={}, probes={}, sandbox=SANDBOX,
                       completed=False, host_ip="127.0.0.1", runtime="sim", initialized=False)
    status = build_status(pod, data, datetime.fromtimestamp(NOW, UTC))
    assert status.phase == "Pending"
    assert status.condition("Initialized").status == "False"
    assert status.condition("Initialized").reason == "ContainersNotInitialized"
    init = {s.name: s for s in status.init_container_statuses}
    assert init["migrate"].state.terminated.reason == "Error" and init["migrate"].state.terminated.exit_code == 1
    assert init["seed"].state.waiting.reason == "PodInitializing"
    assert status.container_statuses[0].state.waiting.reason == "PodInitializing"


def test_creating_the_sandbox_of_a_pod_with_init_containers_is_not_initialized() -> None:
    p = plan_pod(DESIRED, Observed(sandboxes=[], containers=[]), pod_uid=UID, now=NOW, backoff={}, backoff_cap=300)
    assert starts(p) == ["migrate"] and not p.initialized  # kubectl shows Init:0/2, not ContainerCreating
