"""Executing a pod's plan on the runtime: create/start sandboxes and containers, kill, remove.

The actions come from the pure planner (:mod:`agent.plan`). A failure the engine reports for
one container or for the sandbox is turned into the kubelet's reason (recorded in
:mod:`agent.startfailures` with a back-off, and as a ``Warning`` Event) and the rest of the plan
goes on; ``ContainerNotFound`` (the runtime lacks what the plan believed in) and
``RuntimeUnavailable`` raise, so the retry re-lists and re-plans from what really exists.

On a runtime that allows it (``creates_before_sandbox_starts``: Docker), a new sandbox's start and
the create of the first container to start in it overlap (the two slowest engine calls of a pod,
after the starts, no longer wait for each other). That early create records nothing: when the
sandbox has started, the container's ordinary path runs with the created container in hand and
records its Events in the kubelet's order (or meets the same error again and reports it); when the
sandbox fails, the early container is removed and only the sandbox's failure is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubelite.api.core import Container, Pod

from agent.plan import (
    Action,
    CreateSandbox,
    KillContainer,
    Plan,
    RemoveContainer,
    StartContainer,
    StartExisting,
    WaitBackoff,
    backoff_key,
    by_attempt,
)
from agent.runtime.base import (
    SANDBOX_NAME,
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntimeError,
    ContainerSpec,
    ImagePullError,
    PortMapping,
    RuntimeUnavailable,
)
from agent.service_env import dns_settings, pod_hostname
from agent.podconfig.configurator import ContainerConfig
from agent.podconfig.env import CONFIG_ERROR, ConfigError, needs_pod_ip
from agent.podconfig.volumes import HostVolume, MountError
from agent.startfailures import SANDBOX_KEY
from agent.status import Waiting

if TYPE_CHECKING:
    from agent.pods import PodManager

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Early:
    """A container's config and spec built while its sandbox started, and its id when the early
    create succeeded (None: the ordinary path creates it, and reports what fails)."""
    name: str
    config: ContainerConfig
    spec: ContainerSpec
    container_id: str | None


class Executor:
    def __init__(self, manager: PodManager) -> None:
        self.manager = manager

    async def execute(self, pod: Pod, plan: Plan, mine: list[ContainerInfo], waiting: dict[str, Waiting], *,
                      volumes: dict[str, HostVolume] | None = None) -> bool:
        """Run the plan's actions in order; True when the runtime was changed.

        A failure the engine reports for one container (or the sandbox) is recorded with its
        reason, an Event and a back-off, and the rest of the plan goes on. ``ContainerNotFound``
        (the runtime lacks something the plan believed in) and ``RuntimeUnavailable`` raise: the
        retry re-lists the pod's containers and plans from what is really there.
        """
        uid = pod.metadata.uid or ""
        specs = {c.name: c for c in [*(pod.spec.init_containers or []), *pod.spec.containers]}
        sandbox = next(iter(by_attempt([c for c in mine if c.is_sandbox and c.state in ("running", "created")])), None)
        sandbox_id = sandbox.id if sandbox else None
        changed = False
        early: Early | None = None
        for index, action in enumerate(plan.actions):
            if isinstance(action, WaitBackoff):
                delay = self.manager.backoff.entries.get(backoff_key(uid, action.name))
                waiting[action.name] = Waiting(
                    "CrashLoopBackOff", f"back-off {delay.delay if delay else 0:g}s restarting failed container="
                                        f"{action.name} pod={pod.name}_{pod.namespace}({uid})")
                attempt = next((c.attempt for c in mine if c.container_name == action.name), 0)
                if (uid, action.name, attempt) not in self.manager.backoff_reported:
                    self.manager.backoff_reported.add((uid, action.name, attempt))
                    self.manager.recorder.record(pod, "Warning", "BackOff", "Back-off restarting failed container "
                                         f"{action.name} in pod {pod.name}_{pod.namespace}({uid})")
                continue
            if isinstance(action, CreateSandbox):
                if self.manager.failures.remaining(uid, SANDBOX_KEY) > 0:
                    sandbox_id = None  # backing off: nothing can start without it
                    continue
                changed = True
                follower = self._first_start(uid, plan.actions[index + 1:])
                sandbox_id, early = await self._create_sandbox(
                    pod, mine, replaces=action.replaces, volumes=volumes or {},
                    follower=(specs[follower.name], follower) if follower is not None else None)
            elif isinstance(action, StartContainer):
                if sandbox_id is None or self.manager.failures.remaining(uid, action.name) > 0:
                    continue
                changed = True
                mine_early = early if early is not None and early.name == action.name else None
                early = None
                await self._start_container(pod, specs[action.name], action, sandbox_id, waiting, volumes or {},
                                            early=mine_early)
            elif isinstance(action, StartExisting):
                if action.name == SANDBOX_NAME:
                    if self.manager.failures.remaining(uid, SANDBOX_KEY) > 0:
                        sandbox_id = None
                        continue
                    changed = True
                    if not await self._start_sandbox(pod, action.container_id):
                        sandbox_id = None
                elif self.manager.failures.remaining(uid, action.name) == 0:
                    changed = True
                    await self._start_existing(pod, action.container_id, action.name)
            elif isinstance(action, KillContainer):
                changed = True
                await self.manager.teardown.kill(pod, action.container_id, action.name, action.reason)
            elif isinstance(action, RemoveContainer):
                changed = True
                try:
                    await self.manager.runtime.remove_container(action.container_id)
                except ContainerNotFound:
                    pass
        await self._discard(early)  # made for a start the plan did not reach (not expected)
        return changed

    def _first_start(self, uid: str, rest: Sequence[Action]) -> StartContainer | None:
        """The container a new sandbox starts first, when its create may overlap the sandbox's start."""
        if not self.manager.runtime.creates_before_sandbox_starts:
            return None
        action = next((a for a in rest if isinstance(a, StartContainer)), None)
        if action is None or self.manager.failures.remaining(uid, action.name) > 0:
            return None
        return action

    async def _create_sandbox(
        self, pod: Pod, mine: list[ContainerInfo], *, replaces: bool, volumes: dict[str, HostVolume],
        follower: tuple[Container, StartContainer] | None = None,
    ) -> tuple[str | None, Early | None]:
        """Create and start a new sandbox → (its id, the follower created meanwhile); no id when the
        runtime refused (recorded, backed off). ``follower``: the container to create during the start."""
        uid = pod.metadata.uid or ""
        attempt = 1 + max((c.attempt for c in mine if c.is_sandbox), default=-1)
        ports = tuple(
            PortMapping(p.container_port, p.host_port or None, p.effective_protocol, p.host_ip or self.manager.options.host_ip)
            for c in pod.spec.containers for p in (c.ports or [])
        )
        image = self.manager.options.pause_image
        spec = ContainerSpec(
            name=self.manager.container_name(pod, SANDBOX_NAME, attempt), image=image,
            labels=self.manager.labels_for(pod, SANDBOX_NAME, attempt), command=[self.manager.options.pause_command[0]],
            args=list(self.manager.options.pause_command[1:]), ports=ports, **_dns_fields(pod, self.manager.options),
        )
        try:
            sandbox_id = await self.manager.images.create_sandbox(spec)
        except RuntimeUnavailable:
            raise
        except ContainerRuntimeError as exc:
            self._sandbox_failed(pod, exc)
            return None, None
        if replaces:
            self.manager.recorder.record(pod, "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
        early: Early | None = None
        if follower is None:
            started = await self._start_sandbox(pod, sandbox_id)
        else:
            start, made = await asyncio.gather(self._start_sandbox(pod, sandbox_id),
                                               self._create_early(pod, *follower, sandbox_id, volumes),
                                               return_exceptions=True)
            early = made if isinstance(made, Early) else None
            if start is not True:
                await self._discard(early)  # the container must not outlive the sandbox it was made for
                if isinstance(start, BaseException):
                    raise start
                return None, None
            if isinstance(made, BaseException):
                raise made
            started = True
        if not started:
            return None, None
        self.manager.failures.clear_runtime_errors(uid)  # a fresh sandbox: earlier failures get a fresh try
        return sandbox_id, early

    async def _create_early(self, pod: Pod, container: Container, action: StartContainer, sandbox_id: str,
                            volumes: dict[str, HostVolume]) -> Early | None:
        """The follower's config, spec and create, recording nothing; None when it is not to be made
        early (its image is pulled every time, its env needs the started sandbox's IP, or its config
        fails: the ordinary path meets that again and reports it)."""
        if container.effective_image_pull_policy == "Always" or needs_pod_ip(container):
            return None
        try:
            config = await self.manager.configure(pod, container, sandbox_id, volumes, record=False)
            spec = self.manager.container_spec(pod, container, action.attempt, sandbox_id, config)
        except (ConfigError, MountError):
            return None
        try:
            container_id: str | None = await self.manager.runtime.create_container(spec)
        except ContainerRuntimeError:
            container_id = None
        return Early(container.name, config, spec, container_id)

    async def _discard(self, early: Early | None) -> None:
        if early is not None and early.container_id is not None:
            with contextlib.suppress(ContainerRuntimeError):
                await self.manager.runtime.remove_container(early.container_id)

    async def _start_sandbox(self, pod: Pod, sandbox_id: str) -> bool:
        """Start a created sandbox; on failure remove it (as RunPodSandbox cleans up) and record why."""
        try:
            await self.manager.runtime.start_container(sandbox_id)
        except RuntimeUnavailable:
            raise
        except ContainerRuntimeError as exc:
            self._sandbox_failed(pod, exc)
            try:
                await self.manager.runtime.remove_container(sandbox_id)
            except ContainerNotFound:
                pass
            return False
        self.manager.failures.clear(pod.metadata.uid or "", SANDBOX_KEY)
        return True

    def _sandbox_failed(self, pod: Pod, exc: ContainerRuntimeError) -> None:
        message = f"Failed to create pod sandbox: {exc}"
        log.warning("pod %s/%s: %s", pod.namespace, pod.name, message, extra={"pod": f"{pod.namespace}/{pod.name}"})
        self.manager.failures.record(pod.metadata.uid or "", SANDBOX_KEY, Waiting("ContainerCreating", message))
        self.manager.recorder.record(pod, "Warning", "FailedCreatePodSandBox", message)

    async def _start_existing(self, pod: Pod, container_id: str, name: str) -> None:
        try:
            await self.manager.runtime.start_container(container_id)
        except (RuntimeUnavailable, ContainerNotFound):
            raise
        except ContainerRuntimeError as exc:
            self._run_failed(pod, name, exc)
            return
        self.manager.failures.clear(pod.metadata.uid or "", name)
        self.manager.recorder.record(pod, "Normal", "Started", f"Started container {name}")

    def _image_failed(self, pod: Pod, name: str, exc: ImagePullError, waiting: dict[str, Waiting]) -> None:
        """ErrImagePull / ErrImageNeverPull: backed off (ImagePullBackOff), shown at once."""
        self.manager.failures.record(pod.metadata.uid or "", name, Waiting(exc.reason, str(exc)))
        waiting[name] = Waiting(exc.reason, str(exc))
        self.manager.recorder.record(pod, "Warning", "Failed", f"Error: {exc.reason}")

    def _run_failed(self, pod: Pod, name: str, exc: ContainerRuntimeError) -> None:
        """The kubelet's RunContainerError: created, but the engine could not start it."""
        self.manager.failures.record(pod.metadata.uid or "", name, Waiting("RunContainerError", str(exc)))
        self.manager.recorder.record(pod, "Warning", "Failed", f"Error: failed to start container {name!r}: {exc}")

    async def _start_container(
        self, pod: Pod, container: Container, action: StartContainer, sandbox_id: str, waiting: dict[str, Waiting],
        volumes: dict[str, HostVolume], *, early: Early | None = None,
    ) -> None:
        """Image, config, create and start of one container, with the kubelet's Events and failure
        reasons; ``early``: its config, spec (and container) made while the sandbox started."""
        uid = pod.metadata.uid or ""
        images = self.manager.images
        try:
            if early is not None:
                config, spec = early.config, early.spec
                self.manager.record_warnings(pod, config)
            else:
                config = await self.manager.configure(pod, container, sandbox_id, volumes)
                spec = self.manager.container_spec(pod, container, action.attempt, sandbox_id, config)  # SecurityError
        except (ConfigError, MountError) as exc:
            # The kubelet makes the image present before it builds the container's config: a missing
            # image is reported first (``images.create_container`` checks it with the create itself).
            try:
                await images.ensure_image(pod, container)
            except ImagePullError as pull:
                self._image_failed(pod, container.name, pull, waiting)
                return
            # The kubelet's CreateContainerConfigError: retried when the source appears (watch) or after back-off.
            self.manager.failures.record(uid, container.name, Waiting(CONFIG_ERROR, str(exc)))
            waiting[container.name] = Waiting(CONFIG_ERROR, str(exc))
            self.manager.recorder.record(pod, "Warning", "Failed", f"Error: {exc}")
            return
        made = early.container_id if early is not None else None

        async def create() -> str:
            nonlocal made
            if made is not None:  # created while the sandbox started: this is that create's outcome
                container_id, made = made, None
                return container_id
            return await self.manager.runtime.create_container(spec)

        try:
            # the image per its pull policy (Events Pulling/Pulled/Failed to pull), then the create
            container_id = await images.create_container(pod, container, create)
        except (RuntimeUnavailable, ContainerNotFound):
            raise  # e.g. the sandbox vanished: the retry re-lists and replaces it
        except ImagePullError as exc:  # not pullable, never to be pulled, or removed between pull and create
            self._image_failed(pod, container.name, exc, waiting)
            return
        except ContainerRuntimeError as exc:
            # The kubelet's CreateContainerError: the engine refused this container's settings.
            self.manager.failures.record(uid, container.name, Waiting("CreateContainerError", str(exc)))
            self.manager.recorder.record(pod, "Warning", "Failed", f"Error: {exc}")
            return
        self.manager.failures.clear(uid, container.name)
        self.manager.recorder.record(pod, "Normal", "Created", f"Created container {container.name}")
        if action.restart:
            self.manager.backoff.next(backoff_key(uid, container.name))
            self.manager.metrics.container_restarts.inc()
        else:
            self.manager.backoff.forget(backoff_key(uid, container.name))
        try:
            await self.manager.runtime.start_container(container_id)
        except (RuntimeUnavailable, ContainerNotFound):
            raise
        except ContainerRuntimeError as exc:
            self._run_failed(pod, container.name, exc)
            return
        self.manager.metrics.container_starts.inc()
        self.manager.recorder.record(pod, "Normal", "Started", f"Started container {container.name}")


def _dns_fields(pod: Pod, options: Any) -> dict[str, Any]:
    """The sandbox's hostname and resolv.conf (its containers share both): :mod:`agent.service_env`."""
    settings = dns_settings(pod, options.cluster_dns, options.cluster_domain)
    fields: dict[str, Any] = {"hostname": pod_hostname(pod) or None}
    if settings is not None:
        fields.update(dns=settings.servers, dns_search=settings.search, dns_options=settings.options)
    return fields
