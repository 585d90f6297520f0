"""Start failures on the sim runtime (which can fail a start on demand): RunContainerError with the
engine's message and an Event, retried after a back-off (not at every sync), then running."""

from __future__ import annotations

from kubelite.api.core import Container, ExecAction, Pod, PodSpec, Probe
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import EVENTS, PODS
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent
from tests.helpers import wait_for

from agent.runtime.sim import SimRuntime


async def test_start_failure_is_run_container_error_with_event_and_backoff(
    store: Store, start_agent: StartAgent, node_name: str,
) -> None:
    runtime = SimRuntime(node=node_name)
    runtime.start_errors["app"] = 'exec: "/nonexistent": stat /nonexistent: no such file or directory'
    agent = await start_agent(node_name, runtime=runtime, backoff_initial=1.0, backoff_cap=2.0)
    await store.create(PODS, Pod(metadata=ObjectMeta(name="p", namespace="default"), spec=PodSpec(
        node_name=node_name, containers=[Container(name="app", image="kubelite/demo:latest")])))

    async def waiting() -> Pod | None:
        pod = await store.get(PODS, "p", "default")
        statuses = pod.status.container_statuses if pod.status else None
        state = statuses[0].state if statuses else None
        return pod if state and state.waiting and state.waiting.reason == "RunContainerError" else None

    pod = await wait_for(waiting, 10, message="RunContainerError")
    assert "/nonexistent" in (pod.status.container_statuses[0].state.waiting.message or "")
    assert pod.phase == "Pending"
    uid = pod.metadata.uid or ""
    assert agent.pods.failures.remaining(uid, "app") > 0

    async def event() -> bool:
        return any(e.reason == "Failed" and "/nonexistent" in e.message
                   for e in (await store.list(EVENTS, "default")).items if e.involved_object.name == "p")

    await wait_for(event, 10, message="Failed event")
    starts_before = agent.pods.loop.reconciles
    del runtime.start_errors["app"]

    async def running() -> Pod | None:
        current = await store.get(PODS, "p", "default")
        return current if current.phase == "Running" and current.is_ready() else None

    await wait_for(running, 10, message="Running after the back-off")
    assert agent.pods.loop.reconciles - starts_before < 20  # a few back-off retries, not a hot loop


async def test_probe_of_a_vanished_container_resyncs_the_pod_instead_of_failing(
    store: Store, start_agent: StartAgent, node_name: str,
) -> None:
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime)
    probe = Probe(exec=ExecAction(command=["true"]), period_seconds=1, failure_threshold=1)
    await store.create(PODS, Pod(metadata=ObjectMeta(name="p", namespace="default"), spec=PodSpec(
        node_name=node_name, containers=[Container(name="app", image="kubelite/demo:latest", liveness_probe=probe)])))

    async def running(restarts: int) -> Pod | None:
        pod = await store.get(PODS, "p", "default")
        statuses = pod.status.container_statuses if pod.status else None
        ok = pod.phase == "Running" and statuses and statuses[0].state.running and statuses[0].restart_count == restarts
        return pod if ok else None

    await wait_for(lambda: running(0), 10, message="Running")
    [app] = [c for c in runtime.containers_info() if c.container_name == "app"]
    runtime.containers.pop(app.id)  # gone behind the agent's back, no event
    await wait_for(lambda: running(1), 10, message="replaced after the probe found it gone")
    events = (await store.list(EVENTS, "default")).items
    assert not any(e.reason in ("Unhealthy", "Killing") for e in events if e.involved_object.name == "p")
