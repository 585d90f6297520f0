"""Background tasks that are never silently gone: a crash is logged and the task restarted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def supervise(name: str, run: Callable[[], Awaitable[None]], *, restart_delay: float = 1.0) -> None:
    """Run ``run()`` until it returns or is cancelled, restarting it whenever it raises."""
    while True:
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task %s crashed; restarting in %.1fs", name, restart_delay)
        await asyncio.sleep(restart_delay)


def spawn(name: str, run: Callable[[], Awaitable[None]], *, restart_delay: float = 1.0) -> asyncio.Task[None]:
    return asyncio.create_task(supervise(name, run, restart_delay=restart_delay), name=name)


async def cancel_and_wait(task: asyncio.Task[None], *, retry_every: float = 0.5) -> None:
    """Cancel ``task`` and wait until it is done, cancelling again if a cancellation gets lost.

    Python 3.11's ``asyncio.wait_for`` drops a cancellation that arrives just
    as its inner future completes; aetcd creates watches with it, so a watch
    stopped while being created would otherwise keep its task alive forever
    and hang whoever stops it.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=retry_every)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


class BackgroundTask:
    """The one supervised task an object owns: ``start`` spawns it (once), ``stop`` cancels it with
    :func:`cancel_and_wait` and may be called any number of times."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None

    def start(self, name: str, run: Callable[[], Awaitable[None]], *, restart_delay: float = 1.0) -> None:
        if self.task is None:
            self.task = spawn(name, run, restart_delay=restart_delay)

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            await cancel_and_wait(task)
