"""Making a container's image present: the pull policy and its Events, as the kubelet's image manager.

Kubernetes' ``pkg/kubelet/images`` ``EnsureImageExists``: ``Never`` uses only a local image
(else ``ErrImageNeverPull``), ``IfNotPresent`` pulls when missing, ``Always`` pulls every time;
Events ``Pulling`` / ``Pulled`` / ``Failed``. The runtimes keep their own ``image_present`` and
``pull_image`` (engine calls); the back-off (``ImagePullBackOff``) lives in :mod:`agent.startfailures`.

With ``IfNotPresent`` and ``Never`` the container's create is the presence check (every runtime's
``create_container`` raises ``ImagePullError`` for a missing image): one engine call per container
instead of an image inspect and a create, and the policy decides only when the image is missing.
"""

from __future__ import annotations

import logging

from collections.abc import Awaitable, Callable

from kubelite.api.core import Container, Pod
from kubelite.client.events import EventRecorder

from agent.runtime.base import (
    ContainerNotFound,
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerSpec,
    ImagePullError,
    RuntimeUnavailable,
)

log = logging.getLogger(__name__)


class ImageManager:
    """Pulls images for the pod loop per their pull policy; raises ``ImagePullError`` (its ``reason``
    is ``ErrImagePull`` or ``ErrImageNeverPull``) after recording the ``Failed`` Event."""

    def __init__(self, runtime: ContainerRuntime, recorder: EventRecorder) -> None:
        self.runtime = runtime
        self.recorder = recorder

    async def create_sandbox(self, spec: ContainerSpec) -> str:
        """Create the sandbox container; its (pause) image is pulled when the engine says it is missing,
        without Events (the sandbox's failure is reported instead). Raises what the create raises."""
        try:
            return await self.runtime.create_container(spec)
        except ImagePullError:
            await self.runtime.pull_image(spec.image)
        return await self.runtime.create_container(spec)

    async def create_container(self, pod: Pod, container: Container, create: Callable[[], Awaitable[str]]) -> str:
        """``create()`` with the container's image made present per ``imagePullPolicy``, the kubelet's
        Events before it (``Pulled`` ... ``already present on machine`` precedes the caller's ``Created``).

        ``Always`` pulls first, as before. ``IfNotPresent``/``Never``: the create itself tells whether
        the image is there; when it is missing, :meth:`ensure_image` applies the policy (a pull, or
        ``ErrImageNeverPull``) and the create runs once more. Raises ``ImagePullError`` (after the
        ``Failed`` Event) and whatever else the create raises.
        """
        policy = container.effective_image_pull_policy
        if policy == "Always":
            await self.ensure_image(pod, container)
            return await create()
        try:
            container_id = await create()
        except ImagePullError:
            await self.ensure_image(pod, container)
            return await create()
        except (RuntimeUnavailable, ContainerNotFound):
            raise
        except ContainerRuntimeError:
            self._present(pod, container)  # the engine checks the image before the rest of the settings
            raise
        self._present(pod, container)
        return container_id

    def _present(self, pod: Pod, container: Container) -> None:
        if container.effective_image_pull_policy == "IfNotPresent":
            self.recorder.record(pod, "Normal", "Pulled", f'Container image "{container.image or ""}" already present on machine')

    async def ensure_image(self, pod: Pod, container: Container) -> None:
        """The container's image per ``imagePullPolicy``; Events on the pod as the kubelet's."""
        try:
            await self._ensure_image(pod, container)
        except ImagePullError as exc:
            self.recorder.record(pod, "Warning", "Failed", f"Failed to pull image \"{container.image}\": {exc}")
            raise

    async def _ensure_image(self, pod: Pod, container: Container) -> None:
        image = container.image or ""
        policy = container.effective_image_pull_policy
        present = await self.runtime.image_present(image)
        if policy == "Never":
            if not present:
                raise ImagePullError(f'Container image "{image}" is not present with pull policy of Never',
                                     reason="ErrImageNeverPull")
            return
        if policy == "IfNotPresent" and present:
            self._present(pod, container)
            return
        self.recorder.record(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        try:
            await self.runtime.pull_image(image)
        except ImagePullError as exc:
            if not present:
                raise
            # No registry is reachable here: with Always, a local copy beats failing the pod.
            log.info("pull of %s failed (%s); using the local image", image, exc)
            self.recorder.record(pod, "Normal", "Pulled",
                                 f'Container image "{image}" could not be pulled; using the image present on machine')
            return
        self.recorder.record(pod, "Normal", "Pulled", f'Successfully pulled image "{image}"')
