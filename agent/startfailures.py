"""Why a container (or a pod's sandbox) could not be started, and when to try again.

Every runtime failure on the way to a running container is kept here under
``"<pod uid>/<container name>"`` (``POD`` for the sandbox) with the kubelet's reason, shown as
the container's ``waiting`` state, and retried after a back-off (``initial`` doubling to
``cap``, the kubelet's schedule) instead of at every sync:

- ``ErrImagePull`` / ``ErrImageNeverPull``, shown as ``ImagePullBackOff`` while backing off;
- ``CreateContainerError`` (the engine refused the container: bad resources, mounts...);
- ``RunContainerError`` (created but could not start: no such executable...);
- sandbox failures (``FailedCreatePodSandBox`` Event; the containers stay ``ContainerCreating``).
"""

from __future__ import annotations

from collections.abc import Callable

from agent.backoff import Backoff
from agent.status import Waiting

from kubelite.util.clock import wall as clock_wall

SANDBOX_KEY = "POD"
PULL_REASONS = ("ErrImagePull", "ErrImageNeverPull", "ImagePullBackOff")


class StartFailures:
    def __init__(self, *, initial: float, cap: float, clock: Callable[[], float] = clock_wall) -> None:
        self.clock = clock
        self.backoff = Backoff(initial=initial, cap=cap, clock=clock)
        self.reasons: dict[str, Waiting] = {}
        self._failed_at: dict[str, float] = {}

    def record(self, uid: str, name: str, why: Waiting) -> None:
        key = f"{uid}/{name}"
        self.backoff.next(key)
        self._failed_at[key] = self.clock()
        self.reasons[key] = why

    def remaining(self, uid: str, name: str) -> float:
        """Seconds before ``name`` may be tried again (0: now)."""
        key = f"{uid}/{name}"
        if key not in self.reasons:
            return 0.0
        return self.backoff.remaining(key, self._failed_at.get(key, 0.0))

    def waiting(self, uid: str, name: str, image: str = "") -> Waiting | None:
        """What to show while ``name`` is failing: pull errors turn into ImagePullBackOff while backing off."""
        why = self.reasons.get(f"{uid}/{name}")
        if why is not None and why.reason in PULL_REASONS and self.remaining(uid, name) > 0:
            return Waiting("ImagePullBackOff", f'Back-off pulling image "{image}"')
        return why

    def clear(self, uid: str, name: str) -> None:
        key = f"{uid}/{name}"
        self.reasons.pop(key, None)
        self._failed_at.pop(key, None)
        self.backoff.forget(key)

    def clear_runtime_errors(self, uid: str) -> None:
        """A new sandbox: earlier create/start failures may have been its predecessor's fault."""
        for key, why in list(self.reasons.items()):
            if key.startswith(f"{uid}/") and why.reason not in PULL_REASONS:
                self.clear(uid, key.split("/", 1)[1])

    def names(self, uid: str) -> list[str]:
        prefix = f"{uid}/"
        return [k[len(prefix):] for k in self.reasons if k.startswith(prefix)]

    def forget_uid(self, uid: str) -> None:
        for name in self.names(uid):
            self.clear(uid, name)
