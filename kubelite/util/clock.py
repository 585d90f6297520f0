"""The one home of "what time is it": wall time, monotonic time, and a fake for tests.

Every component reads time through here (or through a ``clock`` parameter whose
default is one of these functions), like the kubelet and controllers take
k8s.io/utils/clock's ``Clock`` and tests pass its ``FakeClock``. The real clock
reads the system clock on every call, so libfaketime-based clock-skew chaos
still moves every process's notion of time.

Shapes:
- ``now()``: an aware ``datetime`` in UTC, microsecond precision (``MicroTime``).
- ``now_seconds()``: the same cut to whole seconds (``metav1.Time`` is
  serialized with second precision, so objects stored with it compare equal
  after a round trip).
- ``wall()``: seconds since the epoch (float); ``wall_ns()`` in nanoseconds (int).
- ``monotonic()``: seconds (float) from an arbitrary origin; only differences mean anything.
- ``monotonic_ns()``: the same in integer nanoseconds.
- ``format_time(t)``: ``2026-12-01T02:51:56Z``, metav1.Time's RFC 3339 form;
  ``format_micro_time(t)``: ``2026-12-01T02:51:56.000123Z``, metav1.MicroTime's;
  ``format_nano_time(ns)``: ``2026-12-01T02:51:56.000123456Z``, the CRI log's;
  ``format_time_in_zone(t)``: RFC 3339 in ``t``'s own zone (``...T09:00:00+01:00``, ``Z`` at offset 0),
  Go's ``t.Format(time.RFC3339)``; ``parse_time(text)``: any of these back to an aware ``datetime``.
- ``Deadline(seconds)``: a point on the monotonic clock, for "retry until" loops.

``FakeClock`` stands in for all of them: pass its bound methods where a
component takes a ``clock``, or ``with fake.installed():`` to make the
module-level functions read it (for code that calls them directly).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_fake: FakeClock | None = None


def now() -> datetime:
    """The current time, aware, in UTC, with microseconds."""
    return _fake.now() if _fake is not None else datetime.now(UTC)


def now_seconds() -> datetime:
    """``now()`` cut to whole seconds: what a ``metav1.Time`` field holds."""
    return now().replace(microsecond=0)


def wall() -> float:
    """Seconds since the epoch, like ``time.time()``."""
    return _fake.wall() if _fake is not None else time.time()


def wall_ns() -> int:
    """Nanoseconds since the epoch, like ``time.time_ns()``."""
    return _fake.wall_ns() if _fake is not None else time.time_ns()


def monotonic() -> float:
    """Seconds on a clock that never goes back, like ``time.monotonic()``; for intervals and deadlines."""
    return _fake.monotonic() if _fake is not None else time.monotonic()


def monotonic_ns() -> int:
    """``monotonic()`` in integer nanoseconds, like ``time.monotonic_ns()``."""
    return round(_fake.monotonic() * 1e9) if _fake is not None else time.monotonic_ns()


def format_time(moment: datetime) -> str:
    """metav1.Time's wire form, RFC 3339 in UTC with second precision: ``2026-12-01T02:51:56Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(moment: datetime) -> str:
    """metav1.MicroTime's wire form, RFC 3339 in UTC with six fractional digits: ``2026-12-01T02:51:56.000123Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_nano_time(ns: int) -> str:
    """RFC 3339 in UTC with nine fractional digits, for ``ns`` nanoseconds since the epoch:
    ``2026-12-01T02:51:56.000123456Z`` (the CRI log's fixed-width stamp, kubelet's ``RFC3339NanoFixed``)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def format_time_in_zone(moment: datetime) -> str:
    """RFC 3339 with second precision in ``moment``'s own zone, Go's ``t.Format(time.RFC3339)``:
    ``2026-12-01T09:00:00+01:00``, or ``...Z`` when the offset is zero. Raises ValueError for a naive time."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("format_time_in_zone needs an aware time")
    if not offset:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.replace(microsecond=0).isoformat()


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (``Z`` or an offset, any fraction) as an aware ``datetime``; a time without a
    zone is taken as UTC. Raises ValueError when ``text`` is not one."""
    parsed = datetime.fromisoformat(text)  # 3.11 reads Z and fractions of any length
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Deadline:
    """A point ``seconds`` ahead on the monotonic clock (``None``: never), for loops that retry until
    a condition holds or time runs out::

        deadline = Deadline(30)
        while not ready():
            if deadline.expired():
                raise TimeoutError(...)
            await asyncio.sleep(min(0.1, deadline.remaining()))

    ``clock`` defaults to this module's ``monotonic`` (so ``FakeClock.installed()`` moves it)."""

    def __init__(self, seconds: float | None, *, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or monotonic
        self.at = None if seconds is None else self._clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never below 0; ``inf`` for a deadline of ``None``."""
        return float("inf") if self.at is None else max(0.0, self.at - self._clock())

    def expired(self) -> bool:
        return self.at is not None and self._clock() >= self.at


class FakeClock:
    """A clock that moves only when told: ``advance(seconds)`` moves wall and monotonic time together,
    ``set(moment)`` jumps the wall time alone (like a clock step; monotonic time stays)."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC), monotonic_start: float = 1000.0) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._monotonic = monotonic_start

    def now(self) -> datetime:
        return self._now

    def now_seconds(self) -> datetime:
        return self._now.replace(microsecond=0)

    def wall(self) -> float:
        return self._now.timestamp()

    def wall_ns(self) -> int:
        delta = self._now - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move wall and monotonic time forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError("a FakeClock does not go backwards; use set() for a wall-clock step")
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds

    def set(self, moment: datetime) -> None:
        """Step the wall time to ``moment`` (aware), forwards or back; monotonic time is unchanged."""
        if moment.tzinfo is None:
            raise ValueError("FakeClock.set needs an aware time")
        self._now = moment.astimezone(UTC)

    @contextmanager
    def installed(self) -> Iterator[FakeClock]:
        """Make the module-level ``now()``/``wall()``/``monotonic()`` read this clock inside the block."""
        global _fake
        previous, _fake = _fake, self
        try:
            yield self
        finally:
            _fake = previous
