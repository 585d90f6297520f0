"""Controller.enqueue_coalesced: the first change of a key runs at once, a burst within
``coalesce_seconds`` of the key's last reconcile runs once at that window's end (issue 12: a
ReplicaSet of 1,000 pods recounted once per pod change was most of the controller-manager's CPU)."""

from __future__ import annotations

import asyncio

import pytest

from kubelite.storage.memstore import MemStore
from kubelite.client.reconcile import Result

from controllers.base import Controller
from controllers.context import ControllerContext, SharedInformers
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(30)


class Counting(Controller):
    name = "counting"
    coalesce_seconds = 1.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.runs: list[tuple[str, float]] = []

    async def reconcile(self, key: str) -> Result | None:
        self.runs.append((key, self.ctx.monotonic()))
        return None


async def test_a_burst_of_changes_costs_one_reconcile_per_window() -> None:
    loop = asyncio.get_running_loop()
    controller = Counting(ControllerContext(store=MemStore(), informers=SharedInformers.create(MemStore()),
                                            monotonic=loop.time))
    await controller.start_leading(None)
    try:
        started = loop.time()
        controller.enqueue_coalesced("ns/a")
        await wait_for(lambda: len(controller.runs) == 1, 5)
        assert controller.runs[0][1] - started < 0.5  # the first change: at once, not a window later
        for _ in range(50):  # a burst right after it: one more run, at the window's end
            controller.enqueue_coalesced("ns/a")
            await asyncio.sleep(0)
        controller.enqueue_coalesced("ns/b")  # another key has its own window
        await wait_for(lambda: len(controller.runs) == 3, 5)
        a_runs = [at for key, at in controller.runs if key == "ns/a"]
        assert len(a_runs) == 2 and a_runs[1] - a_runs[0] >= 1.0 - 0.01
        assert [key for key, _ in controller.runs].count("ns/b") == 1
        controller.enqueue("ns/a")  # a plain enqueue is never delayed, even within the window
        await wait_for(lambda: len(controller.runs) == 4, 5, interval=0.01)
        assert controller.runs[3][1] < a_runs[1] + 1.0
        await asyncio.sleep(1.2)  # nothing left queued: nothing more runs
        assert len(controller.runs) == 4
    finally:
        await controller.stop_leading()


class Slow(Controller):
    """Reads the state when it starts, then takes until ``write_done`` is set (a slow write)."""

    name = "slow"
    coalesce_seconds = 0.3

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.state = 0
        self.seen: list[int] = []
        self.write_done = asyncio.Event()

    async def reconcile(self, key: str) -> Result | None:
        self.seen.append(self.state)
        await self.write_done.wait()
        return None


async def test_the_last_change_of_a_window_is_reconciled_even_when_it_came_during_a_reconcile() -> None:
    """Changes that arrive while the key's reconcile runs (inside its window) are not lost: the key
    runs again at the window's end — or when the running reconcile ends, if that is later — and
    sees the final state."""
    loop = asyncio.get_running_loop()
    controller = Slow(ControllerContext(store=MemStore(), informers=SharedInformers.create(MemStore()),
                                        monotonic=loop.time))
    await controller.start_leading(None)
    try:
        controller.enqueue_coalesced("ns/a")
        await wait_for(lambda: controller.seen == [0], 5)
        window_end = loop.time() + controller.coalesce_seconds
        for state in (1, 2):  # both inside the window, while the first reconcile still runs
            controller.state = state
            controller.enqueue_coalesced("ns/a")
        await wait_for(lambda: loop.time() > window_end + 0.1, 5)  # the window ends; the first still runs
        assert controller.seen == [0]  # never two workers on one key
        controller.write_done.set()
        await wait_for(lambda: controller.seen == [0, 2], 5, message="the final state reconciled")
    finally:
        await controller.stop_leading()
