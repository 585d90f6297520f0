"""Making a container's image present: the pull policy and its Events, as the kubelet's image manager.

Kubernetes' ``pkg/kubelet/images`` ``EnsureImageExists``: ``Never`` uses only a local image
(else ``ErrImageNeverPull``), ``IfNotPresent`` pulls when missing, ``Always`` pulls every time;
Events ``Pulling`` / ``Pulled`` / ``Failed``. The runtimes keep their own ``image_present`` and
``pull_image`` (engine calls); the back-off (``ImagePullBackOff``) lives in :mod:`agent.startfailures`.
"""

from __future__ import annotations

import logging

from kubelite.api.core import Container, Pod
from kubelite.client.events import EventRecorder

from agent.runtime.base import ContainerRuntime, ImagePullError

log = logging.getLogger(__name__)


class ImageManager:
    """Pulls images for the pod loop per their pull policy; raises ``ImagePullError`` (its ``reason``
    is ``ErrImagePull`` or ``ErrImageNeverPull``) after recording the ``Failed`` Event."""

    def __init__(self, runtime: ContainerRuntime, recorder: EventRecorder) -> None:
        self.runtime = runtime
        self.recorder = recorder

    async def ensure_sandbox_image(self, image: str) -> None:
        """The pause image: pulled when missing, no Events (the sandbox's failure is reported instead)."""
        if not await self.runtime.image_present(image):
            await self.runtime.pull_image(image)

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
            self.recorder.record(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine')
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
