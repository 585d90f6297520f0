"""The Docker runtime's cache of container inspections, kept true by the engine's event stream.

Every pod sync lists its containers and needs each one's state; an inspect per container per
sync was most of the agent's engine calls (8 of 17 per pod started, 2026-12-01), and dockerd
answers an inspect under the container's lock, so inspects of a container being started queue
behind its start. A container's inspection only changes through something the event stream
reports (create, start, die, oom, kill, stop, destroy): so while a stream is subscribed, an
inspection stays good until an event (or the agent's own start/stop/remove) names its container.
An exited container's inspection is kept even without a stream (it changes only when started
again, which the agent itself does, or on removal).

Some changes have no container event: a network disconnect (network events are not followed)
takes the sandbox's IP away. So an inspection is used for at most ``MAX_AGE`` seconds: the cache
spares the repeated reads of a pod's start (its syncs follow each other within a second or two),
and the periodic resync (every 10–30 s) still reads every container afresh, as it did before.

The race this guards against: an inspect that was in flight when an event invalidated its
container must not store the older answer. Each read takes a ticket (a counter) first; an
invalidation stamps the container with the counter's next value; a result is stored only if
its container was not stamped after its ticket, and only within the same subscription epoch
(a re-subscription or a lost stream drops everything). Stamps are forgotten whenever no read is
in flight, so the bookkeeping stays as small as the set of containers being inspected.

An event says when its change happened (dockerd logs it once the container's new state is set,
under the container's lock, which an inspect also takes): an inspection *sent* after that moment
already shows the change, so the event does not drop it — the reads right after the agent's own
start are not repeated when the start's event arrives a moment later. This compares the engine's
clock with this process's, so it is used for a local engine only (the caller passes no time
otherwise, and then any read sent before the invalidation is dropped).

The invalidations come from the stream's reader thread and the reads from the event loop's
thread: one lock guards the few dict operations of each step.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

from kubelite.util import clock

from agent.runtime.base import ContainerInfo

MAX_AGE = 5.0  # seconds an inspection is used for; below every resync period (10 s in tests, 30 s default)


@dataclass(frozen=True)
class Ticket:
    """A read's start: the counter value and subscription epoch it began in."""
    serial: int
    epoch: int
    sent: float  # monotonic: the inspection's age counts from before it was asked for
    sent_ns: int  # the real wall clock (the engine's events carry it), not kubelite's injectable one


@dataclass(frozen=True)
class _Entry:
    info: ContainerInfo
    sent: float
    sent_ns: int


@dataclass(frozen=True)
class _Stamp:
    serial: int
    changed_ns: int | None  # when the change happened, if known (an event's time on a local engine)


class InspectCache:
    """Container id → its last inspection, valid while no event named the container since."""

    def __init__(self, max_age: float = MAX_AGE) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._stamps: dict[str, _Stamp] = {}  # container id → its last invalidation while reads were in flight
        self._serial = itertools.count(1)
        self._epoch = 0
        self._in_flight = 0
        self._live = 0  # event streams subscribed now: running containers' inspections may be kept

    def get(self, container_id: str) -> ContainerInfo | None:
        with self._lock:
            entry = self._entries.get(container_id)
            if entry is None:
                return None
            if clock.monotonic() - entry.sent > self.max_age:
                del self._entries[container_id]
                return None
            return entry.info

    def begin(self) -> Ticket:
        """Before an inspect is sent; pair with :meth:`finish` (stores nothing when ``info`` is None)."""
        with self._lock:
            self._in_flight += 1
            return Ticket(next(self._serial), self._epoch, clock.monotonic(), time.time_ns())

    def finish(self, ticket: Ticket, container_id: str, info: ContainerInfo | None) -> None:
        """Store ``info`` unless its container was invalidated since ``ticket`` (or the epoch changed);
        a running or created container's only while an event stream is subscribed."""
        with self._lock:
            self._in_flight -= 1
            stamp = self._stamps.get(container_id)
            fresh = ticket.epoch == self._epoch and (
                stamp is None or stamp.serial < ticket.serial
                or (stamp.changed_ns is not None and ticket.sent_ns > stamp.changed_ns))
            if info is not None and fresh and (info.state == "exited" or self._live > 0):
                self._entries[container_id] = _Entry(info, ticket.sent, ticket.sent_ns)
            if self._in_flight == 0:
                self._stamps.clear()  # no read can be older than a stamp now

    def invalidate(self, container_id: str, changed_ns: int | None = None) -> None:
        """The container changed (an event, or the agent's own start/stop/remove); ``changed_ns``: when,
        on the real wall clock, if known — inspections sent after it are kept."""
        with self._lock:
            entry = self._entries.get(container_id)
            if entry is not None and (changed_ns is None or entry.sent_ns <= changed_ns):
                del self._entries[container_id]
            if self._in_flight:
                before = self._stamps.get(container_id)
                if before is not None and (before.changed_ns is None or changed_ns is None):
                    changed_ns = None  # an unknown time among them: keep none of the reads in flight
                elif before is not None and before.changed_ns is not None and changed_ns is not None:
                    changed_ns = max(changed_ns, before.changed_ns)
                self._stamps[container_id] = _Stamp(next(self._serial), changed_ns)

    def subscribed(self) -> None:
        """An event stream is open: nothing cached before it is trusted (events are not replayed)."""
        with self._lock:
            self._live += 1
            self._clear()

    def unsubscribed(self) -> None:
        """A stream ended or broke: events may be missed from now on."""
        with self._lock:
            self._live = max(0, self._live - 1)
            self._clear()

    def _clear(self) -> None:
        self._entries.clear()
        self._epoch += 1
