"""Stopping a probe worker always ends it (agent/probes.py), whenever the stop arrives.

Python 3.11's ``asyncio.wait_for`` returns the inner result instead of raising when a cancellation
arrives in the same loop turn as that result: the worker's cancellation is lost and it keeps
probing. Stopping it with ``task.cancel(); await task`` then waited forever — inside the graceful
deletion of its pod, after the containers were stopped and before they were removed and the pod
deleted: CI saw ``db-0`` stay Terminating (Running, not ready) during a StatefulSet rolling update.
The stop now cancels until the task is done (``kubelite.util.supervise.cancel_and_wait``). The test
lands the stop on every loop turn around an exec probe's completion, one of which is the race.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubelite.api.core import Container, ExecAction, Pod, PodSpec, Probe
from kubelite.api.meta import ObjectMeta

from agent.metrics import AgentMetrics
from agent.probes import ProbeManager
from agent.runtime.base import LABEL_CONTAINER, ContainerInfo, ExecResult


class ControlledExec:
    """A runtime whose exec returns when the test says so."""

    def __init__(self) -> None:
        self.called = asyncio.Event()
        self.release: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def exec(self, container_id: str, command: list[str], *, timeout: float) -> ExecResult:
        self.called.set()
        await self.release
        return ExecResult(exit_code=0, output=b"ok")


def probed_pod() -> tuple[Pod, ContainerInfo]:
    probe = Probe(exec_=ExecAction(command=["true"]), period_seconds=1, timeout_seconds=5)
    container = Container(name="app", image="x", readiness_probe=probe)
    pod = Pod(metadata=ObjectMeta(name="p", namespace="default", uid="u"), spec=PodSpec(containers=[container]))
    info = ContainerInfo(id="c1", name="c1", image="x", image_id="", labels={LABEL_CONTAINER: "app"}, state="running")
    return pod, info


async def test_forget_pod_ends_the_worker_on_every_turn_around_a_probe_result() -> None:
    for turns in range(8):
        runtime = ControlledExec()
        manager = ProbeManager(runtime, on_change=lambda _key: None, record=lambda *_a: None,  # type: ignore[arg-type]
                               metrics=AgentMetrics("n"))
        pod, info = probed_pod()
        await manager.sync_pod("default/p", pod, {"app": info}, "10.0.0.1")
        await asyncio.wait_for(runtime.called.wait(), 5)
        runtime.release.set_result(None)
        for _ in range(turns):
            await asyncio.sleep(0)
        workers: list[Any] = [w.task for w in manager._workers.values()]  # noqa: SLF001
        stopping = asyncio.ensure_future(manager.forget_pod("default/p"))
        done, _ = await asyncio.wait({stopping}, timeout=3)  # before the fix: never, for some turns
        assert stopping in done, f"forget_pod still waiting for its worker {turns} turn(s) after the result"
        stopping.result()
        assert all(task.done() for task in workers), turns
