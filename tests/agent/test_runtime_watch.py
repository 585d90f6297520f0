"""RuntimeWatch's decisions with a scripted runtime: a lost stream marks the runtime down at
once and is re-subscribed with back-off; every subscription re-lists; pings need two failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tests.helpers import wait_for

from agent.nodehealth import NodeHealth
from agent.runtime.base import SUBSCRIBED, RuntimeEvent, RuntimeUnavailable
from agent.runtimehealth import RuntimeWatch


class ScriptedRuntime:
    """events(): each subscription yields SUBSCRIBED, then what the test feeds, until told to break."""

    def __init__(self) -> None:
        self.up = True
        self.ping_ok = True
        self.subscribe_attempts = 0
        self.pings = 0
        self.feed: asyncio.Queue[RuntimeEvent | Exception | None] = asyncio.Queue()

    async def ping(self) -> None:
        self.pings += 1
        if not self.ping_ok:
            raise RuntimeUnavailable("ping refused")

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        self.subscribe_attempts += 1
        if not self.up:
            raise RuntimeUnavailable("connect: no such file or directory")
        yield RuntimeEvent("", SUBSCRIBED, {})
        while (item := await self.feed.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item


async def test_stream_loss_is_down_at_once_then_resubscribed_and_relisted() -> None:
    runtime = ScriptedRuntime()
    health = NodeHealth()
    events: list[str] = []
    resyncs: list[bool] = []
    watch = RuntimeWatch(runtime, health, on_event=lambda e: events.append(e.container_id),  # type: ignore[arg-type]
                         on_resync=lambda: resyncs.append(watch.healthy), ping_period=3600,
                         retry_initial=0.05, retry_cap=0.2)
    await watch.start()
    try:
        await wait_for(lambda: watch.subscriptions == 1, 5, message="subscribed")
        assert resyncs == [True]  # the first subscription re-lists everything
        runtime.feed.put_nowait(RuntimeEvent("c1", "die", {}))
        await wait_for(lambda: events == ["c1"], 5, message="event delivered")

        runtime.up = False
        runtime.feed.put_nowait(None)  # the engine closed the stream (dockerd stopped)
        await wait_for(lambda: not watch.healthy, 5, message="down")
        assert health.facts.runtime_error == "the engine closed its event stream"
        await wait_for(lambda: runtime.subscribe_attempts >= 4, 5, message="retries while down")
        assert health.facts.runtime_error == "connect: no such file or directory"

        runtime.up = True
        await wait_for(lambda: watch.healthy and watch.subscriptions == 2, 5, message="back")
        assert resyncs[-1] is True and False in resyncs  # re-listed when down (report) and when back

        runtime.feed.put_nowait(RuntimeUnavailable("connection reset"))  # a broken stream
        await wait_for(lambda: watch.subscriptions == 3, 5, message="re-subscribed after a break")
        assert watch.healthy
    finally:
        await watch.stop()


async def test_one_failed_ping_is_tolerated_two_mark_the_runtime_down() -> None:
    runtime = ScriptedRuntime()
    health = NodeHealth()
    watch = RuntimeWatch(runtime, health, on_event=lambda e: None, on_resync=lambda: None,  # type: ignore[arg-type]
                         ping_period=0.3)
    await watch.start()
    try:
        await wait_for(lambda: watch.subscriptions == 1, 5, message="subscribed")
        runtime.ping_ok = False
        first = runtime.pings
        await wait_for(lambda: runtime.pings == first + 1, 5, 0.01, message="one failed ping")
        assert watch.healthy  # one failure may be a stale connection
        await wait_for(lambda: not watch.healthy, 5, 0.01, message="down after two failed pings")
        assert runtime.pings == first + 2
        assert health.facts.runtime_error == "ping refused"
        runtime.ping_ok = True
        await wait_for(lambda: watch.healthy, 5, message="up after a good ping")
    finally:
        await watch.stop()
