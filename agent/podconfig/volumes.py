"""A pod's volumes on the node: per-pod directories under the agent's root dir, and the mounts
each container gets (the kubelet's volume manager, for the volume kinds kubelite supports).

Layout, as the kubelet's ``/var/lib/kubelet/pods/<uid>/volumes/<plugin>/<name>``::

    <root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>     emptyDir (a tmpfs for medium Memory)
    <root>/pods/<uid>/volumes/kubernetes.io~configmap/<name>      configMap, secret, downwardAPI, projected:
    <root>/pods/<uid>/volumes/kubernetes.io~secret/<name>          files by the atomic writer (..data swap)
    ...

``setup(pod)`` is idempotent and runs at every sync of the pod: it creates what is missing and
rewrites file volumes whose contents changed (nothing when equal; immutable sources are never
re-read); a projected ``serviceAccountToken`` is fetched from the gateway (:mod:`agent.podconfig.tokens`)
and written again once it is refreshed (80 % of its lifetime). hostPath volumes are checked by their ``type`` as the kubelet does. ``cleanup(uid)``
removes the pod's directory (unmounting tmpfs) when the pod's containers are gone.
Without a root dir (the sim runtime) nothing is written: payloads are still computed, so missing
sources fail the same way, and the mounts are only recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from kubelite.api.core import Container, Pod
from kubelite.api.podconfig import Volume
from kubelite.api.quantity import to_bytes

from agent.podconfig import atomicwriter
from agent.podconfig.env import Sources, expand
from agent.podconfig.fieldpath import PodRuntimeFacts
from agent.podconfig.projection import VolumeError, is_projected_kind, token_paths, volume_payload
from agent.podconfig.tokens import DEFAULT_EXPIRATION, TokenError, TokenKey, TokenManager
from agent.runtime.base import Mount

log = logging.getLogger(__name__)


class MountError(Exception):
    """A volume could not be set up: ``volume`` names it, the message is the kubelet's."""

    def __init__(self, volume: str, message: str) -> None:
        super().__init__(f'MountVolume.SetUp failed for volume "{volume}" : {message}')
        self.volume = volume


@dataclass(frozen=True)
class HostVolume:
    path: str  # host path of the volume's root
    read_only: bool  # configMap/secret/downwardAPI/projected are always mounted read-only (kube)


def plugin_dir(volume: Volume) -> str:
    for attr, plugin in (("empty_dir", "empty-dir"), ("config_map", "configmap"), ("secret", "secret"),
                         ("downward_api", "downward-api"), ("projected", "projected")):
        if getattr(volume, attr) is not None:
            return f"kubernetes.io~{plugin}"
    return "kubernetes.io~unknown"


def check_host_path(path: str, kind: str) -> None:
    """The kubelet's hostPath type checker (``pkg/volume/hostpath``); creates for *OrCreate."""
    if kind == "DirectoryOrCreate" and not os.path.exists(path):
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        with open(path, "a"):
            pass
        os.chmod(path, 0o644)
    if kind in ("", None):
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = 0
    checks = {
        "DirectoryOrCreate": (stat.S_ISDIR, "is not a directory"), "Directory": (stat.S_ISDIR, "is not a directory"),
        "FileOrCreate": (stat.S_ISREG, "is not a file"), "File": (stat.S_ISREG, "is not a file"),
        "Socket": (stat.S_ISSOCK, "is not a socket file"), "CharDevice": (stat.S_ISCHR, "is not a character device"),
        "BlockDevice": (stat.S_ISBLK, "is not a block device"),
    }
    if kind not in checks:
        raise VolumeError(f"invalid HostPathType {kind}")
    test, what = checks[kind]
    if not test(mode):
        raise VolumeError(f"hostPath type check failed: {path} {what}")


ClaimPath = Callable[[str, str], Awaitable[str]]  # (namespace, claim) -> host directory; VolumeError


class VolumeManager:
    def __init__(self, root: Path | None, *, sources: Sources, allocatable_memory: int = 0,
                 claim_path: ClaimPath | None = None, tokens: TokenManager | None = None) -> None:
        self.root = root
        self.sources = sources
        self.claim_path = claim_path
        self.allocatable_memory = allocatable_memory
        self.tokens = tokens  # None: no API server to ask (tokens cannot be mounted, sim records them)
        self._immutable: dict[tuple[str, str], bool] = {}  # (uid, volume) written from immutable objects
        # sim: the TokenRequests each pod's volumes would make (what a real node would ask the gateway)
        self.would_request: dict[str, tuple[TokenKey, ...]] = {}

    def pod_dir(self, uid: str) -> Path | None:
        return self.root / "pods" / uid if self.root is not None else None

    async def setup(self, pod: Pod, facts: PodRuntimeFacts) -> dict[str, HostVolume]:
        """Every volume of ``pod`` ready on the node; MountError names the first that is not."""
        uid = pod.metadata.uid or ""
        base = self.pod_dir(uid)
        result: dict[str, HostVolume] = {}
        for volume in pod.spec.volumes or []:
            result[volume.name] = await self._setup_checked(pod, volume, base, facts)
        return result

    async def _setup_checked(self, pod: Pod, volume: Volume, base: Path | None, facts: PodRuntimeFacts) -> HostVolume:
        try:
            return await self._setup_one(pod, volume, base, facts)
        except (VolumeError, OSError, atomicwriter.PayloadPathError) as exc:
            raise MountError(volume.name, str(exc)) from exc

    async def _setup_one(self, pod: Pod, volume: Volume, base: Path | None, facts: PodRuntimeFacts) -> HostVolume:
        uid = pod.metadata.uid or ""
        target = base / "volumes" / plugin_dir(volume) / volume.name if base is not None else None
        if volume.host_path is not None:
            if self.root is not None:
                await asyncio.to_thread(check_host_path, volume.host_path.path, volume.host_path.type or "")
            return HostVolume(volume.host_path.path, read_only=False)
        claim = (volume.model_extra or {}).get("persistentVolumeClaim")
        if isinstance(claim, dict) and claim.get("claimName") and self.root is not None and self.claim_path:
            # the bound PersistentVolume's directory on this node (local-path provisioner), made if missing
            path = await self.claim_path(pod.namespace or "", str(claim["claimName"]))
            await asyncio.to_thread(check_host_path, path, "DirectoryOrCreate")
            return HostVolume(path, read_only=bool(claim.get("readOnly")))
        if target is None:  # sim: contents decided (errors surface) but nothing written
            if is_projected_kind(volume):
                volume_payload(pod, volume, self.sources, facts)
                keys = _token_keys(pod, volume)
                if keys and self.would_request.get(uid) != keys:
                    self.would_request[uid] = keys
                    # debug: a line per pod cost a sim process of 100 nodes 3 % of its CPU in a scale-up
                    log.debug("pod %s/%s: volume %s would request %d service account token(s) (sim)",
                             pod.namespace, pod.name, volume.name, len(keys),
                             extra={"pod": f"{pod.namespace}/{pod.name}", "volume": volume.name})
            return HostVolume(f"/sim/pods/{uid}/volumes/{plugin_dir(volume)}/{volume.name}",
                              read_only=is_projected_kind(volume))
        if volume.empty_dir is not None:
            await asyncio.to_thread(self._empty_dir, target, volume)
            return HostVolume(str(target), read_only=False)
        if is_projected_kind(volume):
            if self._immutable.get((uid, volume.name)) and target.is_dir():
                return HostVolume(str(target), read_only=True)
            try:
                payload = volume_payload(pod, volume, self.sources, facts, await self._tokens(pod, volume))
            except VolumeError as exc:
                if not (target / atomicwriter.DATA_DIR).is_symlink():
                    raise
                # Set up before (the source went away since): the kubelet keeps the last contents.
                log.warning("pod %s/%s: volume %s keeps its contents: %s", pod.namespace, pod.name, volume.name, exc,
                            extra={"pod": f"{pod.namespace}/{pod.name}", "volume": volume.name})
                return HostVolume(str(target), read_only=True)
            if volume.secret is not None and not target.exists():
                # Secrets stay off the node's disk: a tmpfs, as the kubelet's secret plugin does.
                await asyncio.to_thread(_secret_tmpfs, target)
            changed = await asyncio.to_thread(atomicwriter.write, target, payload.files)
            if changed:
                log.info("pod %s/%s: volume %s written (%d file(s))%s", pod.namespace, pod.name, volume.name,
                         len(payload.files), "".join(f"; {note}" for note in payload.notes),
                         extra={"pod": f"{pod.namespace}/{pod.name}", "volume": volume.name})
            self._immutable[(uid, volume.name)] = payload.immutable and bool(payload.files)
            return HostVolume(str(target), read_only=True)
        raise VolumeError(f"volume {volume.name!r}: unsupported volume type")

    async def _tokens(self, pod: Pod, volume: Volume) -> dict[str, bytes] | None:
        """The tokens of the volume's serviceAccountToken paths (fetched or cached); VolumeError."""
        keys = _token_keys(pod, volume)
        if not keys:
            return None
        if self.tokens is None:
            raise VolumeError("failed to fetch token: this agent has no API server to request it from (--api-server)")
        paths = token_paths(volume)
        try:
            return {path: (await self.tokens.get(key)).encode() for path, key in zip(paths, keys, strict=True)}
        except TokenError as exc:
            raise VolumeError(str(exc)) from exc

    def _empty_dir(self, target: Path, volume: Volume) -> None:
        assert volume.empty_dir is not None
        if target.is_dir():
            return
        target.mkdir(parents=True, exist_ok=True)
        target.chmod(0o777)  # kube makes emptyDir world-writable
        if (volume.empty_dir.medium or "") == "Memory":
            limit = volume.empty_dir.size_limit
            size = to_bytes(limit) if limit is not None else self.allocatable_memory
            error = _mount_tmpfs(target, f"size={size}" if size else "size=50%")
            if error:
                target.rmdir()
                raise VolumeError(error)

    async def refresh_sub_paths(self, pod: Pod, container: Container, volumes: dict[str, HostVolume],
                                facts: PodRuntimeFacts) -> None:
        """Write again the agent-written volumes that ``container`` mounts by a subPath not there yet.

        A subPath that is missing is made as an empty directory by :meth:`mounts` (as the kubelet
        does), and the atomic writer never replaces a directory with its file; so a volume set up
        before its source appeared must be brought up to date before the container's mounts are
        decided. MountError when that write fails.
        """
        base = self.pod_dir(pod.metadata.uid or "")
        if base is None:
            return
        stale = {m.name for m in container.volume_mounts or [] if m.sub_path and m.name in volumes
                 and not os.path.lexists(os.path.join(volumes[m.name].path, m.sub_path))}
        for volume in pod.spec.volumes or []:
            if volume.name in stale and is_projected_kind(volume):
                volumes[volume.name] = await self._setup_checked(pod, volume, base, facts)

    def mounts(self, pod: Pod, container: Container, volumes: dict[str, HostVolume], env: dict[str, str]) -> tuple[Mount, ...]:
        """The container's bind mounts; subPath binds the resolved file or directory (never updated)."""
        result = []
        for mount in container.volume_mounts or []:
            volume = volumes.get(mount.name)
            if volume is None:
                raise MountError(mount.name, f"volume {mount.name!r} is not defined in the pod")
            source = volume.path
            sub = mount.sub_path or (expand(mount.sub_path_expr, env.get) if mount.sub_path_expr else "")
            if sub:
                atomicwriter.check_path(sub)
                source = os.path.join(volume.path, sub)
                if self.root is not None:
                    if not os.path.lexists(source):
                        os.makedirs(source, exist_ok=True)
                    source = os.path.realpath(source)  # bind the current version: a subPath never updates
            result.append(Mount(source=source, target=mount.mount_path,
                                read_only=bool(mount.read_only) or volume.read_only))
        return tuple(result)

    async def disk_usage(self, uid: str) -> int:
        """Bytes the pod's emptyDir volumes take on the node's disk (tmpfs ones excluded); 0 without a root."""
        return sum((await self.empty_dir_usage(uid)).values())

    async def empty_dir_usage(self, uid: str) -> dict[str, int]:
        """Bytes per disk emptyDir volume of the pod (tmpfs ones excluded); {} without a root."""
        base = self.pod_dir(uid)
        if base is None:
            return {}
        return await asyncio.to_thread(_empty_dir_bytes, base / "volumes" / "kubernetes.io~empty-dir")

    async def cleanup(self, uid: str) -> None:
        """Remove the pod's directory (after its containers are gone); tmpfs volumes are unmounted."""
        self.would_request.pop(uid, None)
        if self.tokens is not None:
            self.tokens.forget(uid)
        for key in [k for k in self._immutable if k[0] == uid]:
            del self._immutable[key]
        base = self.pod_dir(uid)
        if base is None or not base.exists():
            return
        await asyncio.to_thread(_remove_pod_dir, base)

    async def cleanup_except(self, uids: set[str]) -> None:
        """Remove directories of pods not in ``uids`` (rediscovery after a restart)."""
        if self.root is None or not (self.root / "pods").is_dir():
            return
        for entry in (self.root / "pods").iterdir():
            if entry.name not in uids:
                await self.cleanup(entry.name)


def _token_keys(pod: Pod, volume: Volume) -> tuple[TokenKey, ...]:
    """The TokenRequests of a projected volume's serviceAccountToken sources, bound to the pod."""
    if volume.projected is None:
        return ()
    return tuple(TokenKey(namespace=pod.metadata.namespace or "default",
                          account=pod.spec.service_account_name or "default", pod=pod.metadata.name or "",
                          pod_uid=pod.metadata.uid or "", audience=source.service_account_token.audience or "",
                          seconds=source.service_account_token.expiration_seconds or DEFAULT_EXPIRATION)
                 for source in volume.projected.sources or [] if source.service_account_token is not None)


def _empty_dir_bytes(root: Path) -> dict[str, int]:
    usage: dict[str, int] = {}
    for volume in root.iterdir() if root.is_dir() else ():
        if os.path.ismount(volume):
            continue  # medium Memory: counts against memory, not disk
        total = 0
        for path, _, files in os.walk(volume):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(path, name)).st_blocks * 512
        usage[volume.name] = total
    return usage


def _mount_tmpfs(target: Path, options: str) -> str:
    """Mount a tmpfs on ``target`` (the agent runs as root beside the engine); the error text, or ''."""
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],  # noqa: S603,S607
                          capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else f"mount tmpfs on {target}: {done.stderr.strip() or done.returncode}"


def _secret_tmpfs(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    error = _mount_tmpfs(target, "size=16m,mode=0755")  # Secrets are at most 1 MiB each
    if error:  # e.g. an unprivileged agent: the files still work, on disk
        log.warning("secret volume on disk, not tmpfs: %s", error)


def _remove_pod_dir(base: Path) -> None:
    volumes = base / "volumes"
    if volumes.is_dir():
        for plugin in volumes.iterdir():
            for volume in plugin.iterdir() if plugin.is_dir() else ():
                if os.path.ismount(volume):
                    subprocess.run(["umount", str(volume)], capture_output=True, check=False)  # noqa: S603,S607
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(base)
