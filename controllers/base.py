"""What every controller shares: a queue and workers that exist only while this manager leads.

Informer handlers are registered once and stay on while the manager
follows (caches and trackers stay hot); :meth:`Controller.enqueue` drops keys
until :meth:`start_leading` creates the queue. Each term gets a fresh queue and
worker loop carrying the term's fence; :meth:`stop_leading` cancels them at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kubelite.events import EventRecorder
from kubelite.reconcile import ReconcileLoop, Result
from kubelite.store import Fence
from kubelite.workqueue import WorkQueue

from controllers.context import ControllerContext

log = logging.getLogger(__name__)


class Controller:
    name = "controller"
    component = "controller-manager"
    workers = 2
    # > 0: :meth:`enqueue_coalesced` runs a key at most once per this many seconds (the first
    # change at once, a burst's later ones together at the window's end)
    coalesce_seconds = 0.0

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.informers = ctx.informers
        self.recorder: EventRecorder = ctx.recorder(self.component)
        self.fence: Fence | None = None
        self.queue: WorkQueue | None = None
        self.loop: ReconcileLoop | None = None
        self._last_run: dict[str, float] = {}  # key -> monotonic start of its last reconcile (coalescing)

    # -- wiring (called by the manager, before the informers start) -----------

    def register(self) -> None:
        """Add informer handlers; they must only enqueue keys (and update in-memory trackers)."""

    # -- leadership -------------------------------------------------------------

    @property
    def leading(self) -> bool:
        return self.queue is not None

    async def start_leading(self, fence: Fence | None) -> None:
        self.fence = fence
        await self.prepare()
        self.queue = self.make_queue()
        self.loop = ReconcileLoop(self.name, self.queue, self._reconcile_counted, workers=self.workers)
        for key in self.initial_keys():
            self.queue.add(key)
        await self.loop.start()
        log.info("%s: leading; %d keys queued", self.name, len(self.queue))

    async def stop_leading(self) -> None:
        loop, self.loop, self.queue = self.loop, None, None
        if loop is not None:
            await loop.stop()
        self.fence = None
        await self.release()

    def make_queue(self) -> WorkQueue:
        """A fresh queue for a term (the scheduler's orders pods by priority)."""
        return WorkQueue(self.name, metrics=self.ctx.metrics.workqueue)

    async def prepare(self) -> None:
        """Before the first reconcile of a term (e.g. seed expectations)."""

    async def release(self) -> None:
        """After the last reconcile of a term (drop per-term state)."""

    def initial_keys(self) -> Iterable[str]:
        return ()

    # -- the queue --------------------------------------------------------------

    def enqueue(self, key: str | None) -> None:
        if key and self.queue is not None:
            self.queue.add(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        if self.queue is not None:
            self.queue.add_after(key, delay)

    def enqueue_coalesced(self, key: str | None) -> None:
        """Enqueue a change the key's reconcile may see a moment late (a pod's status moving on, for
        the controller that counts them): at once when its last reconcile started at least
        ``coalesce_seconds`` ago, else at that window's end — so a burst of changes costs one
        reconcile per window, not one per change (kube's Job and EndpointSlice controllers batch
        pod updates the same way, ``syncJobBatchPeriod`` / ``EndpointUpdatesBatchPeriod``)."""
        if not key or self.queue is None:
            return
        last = self._last_run.get(key)
        wait = 0.0 if last is None else last + self.coalesce_seconds - self.ctx.monotonic()
        if wait > 0:
            self.queue.add_after(key, wait)
        else:
            self.queue.add(key)

    async def _reconcile_counted(self, key: str) -> Result | None:
        if self.coalesce_seconds > 0:
            now = self.ctx.monotonic()
            if len(self._last_run) >= 1024:  # bounded: forget windows that are over
                self._last_run = {k: t for k, t in self._last_run.items() if t + self.coalesce_seconds > now}
            self._last_run[key] = now
        try:
            result = await self.reconcile(key)
        except Exception:
            self.ctx.metrics.reconciles.labels(self.name, "error").inc()
            raise
        self.ctx.metrics.reconciles.labels(self.name, "ok").inc()
        return result

    async def reconcile(self, key: str) -> Result | None:
        raise NotImplementedError
