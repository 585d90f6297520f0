"""The agent's side of pod configuration: what a container gets (env, command, args, mounts)
and the pod's volumes, from the ConfigMap/Secret informers and the node's facts.

:class:`PodConfigurator` is owned by the pod manager. It re-syncs pods when an object they use
changes (so a ``CreateContainerConfigError`` or a failed mount recovers as soon as the source
appears, and volume files follow updates), sets volumes up before containers start, and removes
a pod's directory once its containers are gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubelite.api.core import Container, Pod

from agent.podconfig.env import ResolvedEnv, resolve
from agent.podconfig.fieldpath import PodRuntimeFacts
from agent.podconfig.refs import pod_refs
from agent.podconfig.sources import ConfigSource
from agent.podconfig.tokens import TokenManager
from agent.podconfig.volumes import HostVolume, VolumeManager
from agent.runtime.base import Mount

log = logging.getLogger(__name__)

VOLUMES_KEY = "..volumes"  # StartFailures key of a pod's volume setup (never a container name)


@dataclass(frozen=True)
class ContainerConfig:
    env: dict[str, str]
    command: list[str] | None
    args: list[str] | None
    mounts: tuple[Mount, ...]
    warnings: tuple[tuple[str, str], ...] = ()


class PodConfigurator:
    def __init__(self, source: ConfigSource, *, root: Path | None, owns_source: bool,
                 tokens: TokenManager | None = None) -> None:
        self.source = source
        self.owns_source = owns_source
        self.volumes = VolumeManager(root, sources=source.sources, claim_path=source.claim_path, tokens=tokens)
        self.allocatable = (0, 0)  # (cpu millis, memory bytes), set once the node's resources are known
        self._on_change: Callable[[str, str, str], None] | None = None

    async def start(self, on_change: Callable[[str, str, str], None]) -> None:
        self._on_change = on_change
        self.source.subscribe(on_change)
        if self.owns_source:
            await self.source.start()

    async def stop(self) -> None:
        if self._on_change is not None:
            self.source.unsubscribe(self._on_change)
        if self.owns_source:
            await self.source.stop()

    def set_allocatable(self, cpu_millis: int, memory_bytes: int) -> None:
        self.allocatable = (cpu_millis, memory_bytes)
        self.volumes.allocatable_memory = memory_bytes

    def facts(self, *, pod_ip: str, host_ip: str) -> PodRuntimeFacts:
        return PodRuntimeFacts(pod_ip=pod_ip, host_ip=host_ip, allocatable_cpu_millis=self.allocatable[0],
                               allocatable_memory_bytes=self.allocatable[1])

    @staticmethod
    def uses(pod: Pod, kind: str, name: str) -> bool:
        return (kind, name) in pod_refs(pod)

    async def setup_volumes(self, pod: Pod, facts: PodRuntimeFacts) -> dict[str, HostVolume]:
        """MountError when a volume cannot be made (the pod's containers stay ContainerCreating)."""
        await self.source.prefetch(pod)
        return await self.volumes.setup(pod, facts)

    async def container_config(self, pod: Pod, container: Container, facts: PodRuntimeFacts,
                               volumes: dict[str, HostVolume]) -> ContainerConfig:
        """ConfigError / MountError say why the container cannot be configured.

        The env is resolved first and the subPath-mounted files are then brought up to date: the
        informers only move forward, so a container never starts with an env from a ConfigMap
        whose subPath file its volume (set up earlier, before the ConfigMap existed) lacks.
        """
        await self.source.prefetch(pod)
        resolved: ResolvedEnv = resolve(pod, container, self.source.sources, facts)
        await self.volumes.refresh_sub_paths(pod, container, volumes, facts)
        mounts = self.volumes.mounts(pod, container, volumes, resolved.env)
        return ContainerConfig(env=resolved.env, command=resolved.command, args=resolved.args, mounts=mounts,
                               warnings=tuple(resolved.warnings))

    async def cleanup(self, uid: str) -> None:
        await self.volumes.cleanup(uid)

    async def cleanup_except(self, uids: set[str]) -> None:
        await self.volumes.cleanup_except(uids)
