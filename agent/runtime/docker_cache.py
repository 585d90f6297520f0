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

The events of the agent's own creates and starts are expected (:meth:`expect`): the call itself
already dropped what was read before it returned, so its event — which may arrive before or well
after the call's answer — drops nothing, and the reads right after the agent's own start are not
repeated when the start's event comes in. Each expectation is met by one event of that action on
that container; any other event invalidates as usual. (No clocks are compared: the engine's and
this process's may differ, e.g. under clock-skew chaos.)

The cache also remembers which containers an ``oom`` event named, until their ``destroy``. Docker
20.10 sets ``State.OOMKilled`` from the OOM events its containerd client had seen when the task's
exit is handled; containerd's shim can publish the TaskOOM after the TaskExit (the same race as
containerd/containerd#8180), and then the flag stays false while the ``oom`` event still comes,
after ``die``. An exited container an ``oom`` event named is reported OOMKilled, as containerd's
CRI plugin does on a late TaskOOM (it sets the container's reason to OOMKilled whenever the event
arrives). Like Docker's own flag, an OOM kill of any process in the container counts.

The invalidations come from the stream's reader thread and the reads from the event loop's
thread: one lock guards the few dict operations of each step.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, replace

from kubelite.util import clock

from agent.runtime.base import ContainerInfo

MAX_AGE = 5.0  # seconds an inspection is used for; below every resync period (10 s in tests, 30 s default)


@dataclass(frozen=True)
class Ticket:
    """A read's start: the counter value and subscription epoch it began in."""
    serial: int
    epoch: int
    sent: float  # monotonic: the inspection's age counts from before it was asked for


class InspectCache:
    """Container id → its last inspection, valid while no event named the container since."""

    def __init__(self, max_age: float = MAX_AGE) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[ContainerInfo, float]] = {}  # id → (inspection, monotonic time sent)
        self._stamps: dict[str, int] = {}  # container id → serial of its last invalidation while reads were in flight
        self._expected: dict[str, set[str]] = {}  # container id → actions of the agent's own calls, events to come
        self._serial = itertools.count(1)
        self._epoch = 0
        self._in_flight = 0
        self._live = 0  # event streams subscribed now: running containers' inspections may be kept
        self._oom: set[str] = set()  # containers an ``oom`` event named, until their ``destroy``

    def get(self, container_id: str) -> ContainerInfo | None:
        with self._lock:
            entry = self._entries.get(container_id)
            if entry is None:
                return None
            if clock.monotonic() - entry[1] > self.max_age:
                del self._entries[container_id]
                return None
            return entry[0]

    def begin(self) -> Ticket:
        """Before an inspect is sent; pair with :meth:`finish` (stores nothing when ``info`` is None)."""
        with self._lock:
            self._in_flight += 1
            return Ticket(next(self._serial), self._epoch, clock.monotonic())

    def finish(self, ticket: Ticket, container_id: str, info: ContainerInfo | None) -> None:
        """Store ``info`` unless its container was invalidated since ``ticket`` (or the epoch changed);
        a running or created container's only while an event stream is subscribed."""
        with self._lock:
            self._in_flight -= 1
            fresh = ticket.epoch == self._epoch and self._stamps.get(container_id, 0) < ticket.serial
            if info is not None and fresh and (info.state == "exited" or self._live > 0):
                self._entries[container_id] = (info, ticket.sent)
            if self._in_flight == 0:
                self._stamps.clear()  # no read can be older than a stamp now

    def invalidate(self, container_id: str) -> None:
        """The container changed (the agent's own start/stop/remove, before and after the call)."""
        with self._lock:
            self._invalidate(container_id)

    def expect(self, container_id: str, action: str) -> None:
        """The agent's own call will cause (or caused) one event ``action`` on the container."""
        with self._lock:
            self._expected.setdefault(container_id, set()).add(action)

    def unexpect(self, container_id: str, action: str) -> None:
        """The call failed: its event may not come."""
        with self._lock:
            self._discard(container_id, action)

    def event(self, container_id: str, action: str) -> None:
        """An engine event: invalidates, unless it is the awaited event of the agent's own call."""
        with self._lock:
            if action == "oom":
                self._oom.add(container_id)
            if action == "destroy":
                self._expected.pop(container_id, None)
                self._oom.discard(container_id)
            elif action in self._expected.get(container_id, ()):
                self._discard(container_id, action)
                return
            self._invalidate(container_id)

    def with_oom_events(self, info: ContainerInfo) -> ContainerInfo:
        """``info``, OOMKilled if it exited and an ``oom`` event named it (the engine's flag can miss
        an OOM event that came after the exit: see the module docstring)."""
        with self._lock:
            late = info.state == "exited" and not info.oom_killed and info.id in self._oom
        return replace(info, oom_killed=True) if late else info

    def _invalidate(self, container_id: str) -> None:
        self._entries.pop(container_id, None)
        if self._in_flight:
            self._stamps[container_id] = next(self._serial)

    def _discard(self, container_id: str, action: str) -> None:
        actions = self._expected.get(container_id)
        if actions is not None:
            actions.discard(action)
            if not actions:
                del self._expected[container_id]

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
