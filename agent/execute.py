"""Executing a pod's plan on the runtime: create/start sandboxes and containers, kill, remove.

The actions come from the pure planner (:mod:`agent.plan`). A failure the engine reports for
one container or for the sandbox is turned into the kubelet's reason (recorded in
:mod:`agent.startfailures` with a back-off, and as a ``Warning`` Event) and the rest of the plan
goes on; ``ContainerNotFound`` (the runtime lacks what the plan believed in) and
``RuntimeUnavailable`` raise, so the retry re-lists and re-plans from what really exists.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kubelite.api.core import Container, Pod

from agent.plan import (
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
from agent.podconfig.env import CONFIG_ERROR, ConfigError
from agent.podconfig.volumes import HostVolume, MountError
from agent.startfailures import SANDBOX_KEY
from agent.status import Waiting

if TYPE_CHECKING:
    from agent.pods import PodManager

log = logging.getLogger(__name__)


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
        for action in plan.actions:
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
                sandbox_id = await self._create_sandbox(pod, mine, replaces=action.replaces)
            elif isinstance(action, StartContainer):
                if sandbox_id is None or self.manager.failures.remaining(uid, action.name) > 0:
                    continue
                changed = True
                await self._start_container(pod, specs[action.name], action, sandbox_id, waiting, volumes or {})
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
        return changed

    async def _create_sandbox(self, pod: Pod, mine: list[ContainerInfo], *, replaces: bool) -> str | None:
        """Create and start a new sandbox; None when the runtime refused (recorded, backed off)."""
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
            await self.manager.images.ensure_sandbox_image(image)
            sandbox_id = await self.manager.runtime.create_container(spec)
        except RuntimeUnavailable:
            raise
        except ContainerRuntimeError as exc:
            self._sandbox_failed(pod, exc)
            return None
        if replaces:
            self.manager.recorder.record(pod, "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
        if not await self._start_sandbox(pod, sandbox_id):
            return None
        self.manager.failures.clear_runtime_errors(uid)  # a fresh sandbox: earlier failures get a fresh try
        return sandbox_id

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

    def _run_failed(self, pod: Pod, name: str, exc: ContainerRuntimeError) -> None:
        """The kubelet's RunContainerError: created, but the engine could not start it."""
        self.manager.failures.record(pod.metadata.uid or "", name, Waiting("RunContainerError", str(exc)))
        self.manager.recorder.record(pod, "Warning", "Failed", f"Error: failed to start container {name!r}: {exc}")

    async def _start_container(
        self, pod: Pod, container: Container, action: StartContainer, sandbox_id: str, waiting: dict[str, Waiting],
        volumes: dict[str, HostVolume],
    ) -> None:
        uid = pod.metadata.uid or ""
        try:
            await self.manager.images.ensure_image(pod, container)  # records the Failed to pull Event
        except ImagePullError as exc:
            self.manager.failures.record(uid, container.name, Waiting(exc.reason, str(exc)))
            waiting[container.name] = Waiting(exc.reason, str(exc))
            self.manager.recorder.record(pod, "Warning", "Failed", f"Error: {exc.reason}")
            return
        try:
            config = await self.manager.configure(pod, container, sandbox_id, volumes)
            spec = self.manager.container_spec(pod, container, action.attempt, sandbox_id, config)  # SecurityError
        except (ConfigError, MountError) as exc:
            # The kubelet's CreateContainerConfigError: retried when the source appears (watch) or after back-off.
            self.manager.failures.record(uid, container.name, Waiting(CONFIG_ERROR, str(exc)))
            waiting[container.name] = Waiting(CONFIG_ERROR, str(exc))
            self.manager.recorder.record(pod, "Warning", "Failed", f"Error: {exc}")
            return
        try:
            container_id = await self.manager.runtime.create_container(spec)
        except (RuntimeUnavailable, ContainerNotFound):
            raise  # e.g. the sandbox vanished: the retry re-lists and replaces it
        except ImagePullError as exc:  # removed between the check and the create
            self.manager.failures.record(uid, container.name, Waiting(exc.reason, str(exc)))
            self.manager.recorder.record(pod, "Warning", "Failed", f"Error: {exc.reason}")
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
