"""``kl up`` keeps its children running: a child that exits is restarted with back-off.

A crashed dependency (etcd killed by the OOM killer, a component's bug) is
repaired, never answered by stopping the cluster: tearing down would make the
agents drain, turning an etcd blip into a workload outage. Only the user's
SIGINT/SIGTERM stops ``kl up``. Back-off like the kubelet's container restarts
(doubling from 1 s, capped at 30 s), reset once a child has run for a minute.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kubelite.util.logs import file_tail
from kubelite.util.clock import monotonic


@dataclass
class RestartBackoff:
    """Delays between restarts of one child; pure (the caller passes ``now``, seconds)."""

    initial: float = 1.0
    cap: float = 30.0
    stable_after: float = 60.0
    restarts: int = 0
    started_at: float = 0.0

    def next_delay(self, now: float) -> float:
        """The delay before restarting a child that exited at ``now``; counts the restart."""
        if now - self.started_at >= self.stable_after:
            self.restarts = 0
        delay = float(min(self.initial * 2 ** self.restarts, self.cap))
        self.restarts += 1
        return delay


def exit_reason(code: int | None) -> str:
    """'exit code 1' / 'killed by SIGKILL' for a Popen returncode."""
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Child:
    """One supervised child: how to tell it exited, and how to start it again."""

    name: str
    returncode: Callable[[], int | None]  # None while running
    restart: Callable[[], Awaitable[None]]
    log_path: str
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    due: float | None = None  # monotonic time of the scheduled restart


class Supervisor:
    """Checks the children every ``period`` seconds and restarts those that exited."""

    def __init__(self, children: list[Child], say: Callable[[str], None], *,
                 on_restart: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = monotonic) -> None:
        self.children = children
        self.say = say
        self.on_restart = on_restart
        self.clock = clock
        self.restarts = 0
        now = clock()
        for child in children:
            child.backoff.started_at = now

    async def check(self) -> None:
        """One pass: schedule restarts of children that exited; perform the ones due."""
        for child in self.children:
            now = self.clock()
            if child.due is None:
                code = child.returncode()
                if code is None:
                    continue
                delay = child.backoff.next_delay(now)
                child.due = now + delay
                tail = file_tail_lines(child.log_path, 3)
                self.say(f"{child.name} {exit_reason(code)}; restarting it in {delay:g} s "
                         f"(restart {child.backoff.restarts}); log: {child.log_path}{tail}")
            elif now >= child.due:
                child.due = None
                child.backoff.started_at = self.clock()
                try:
                    await child.restart()
                except Exception as exc:  # e.g. etcd not healthy in time: next pass backs off further
                    self.say(f"restarting {child.name} failed: {exc}")
                    continue
                self.restarts += 1
                self.on_restart()  # up.json names the new process before the message says it restarted
                self.say(f"{child.name} restarted")


def file_tail_lines(path: str, lines: int) -> str:
    """The last lines of a log, indented under the message ('' when empty)."""
    tail = file_tail(path, lines).strip()
    return "".join(f"\n    | {line}" for line in tail.splitlines()) if tail else ""
