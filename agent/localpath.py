"""The node side of the local-path provisioner: remove a deleted volume's directory, then let it go.

The provisioner (controllers/localpath.py) deletes a released ``Delete`` volume; the object stays,
Terminating, while it has the external-provisioner finalizer. The agent of the node the volume is on
(its required node affinity) sees that through a PersistentVolume informer, removes the directory
(``rm -rf``) and then drops the finalizer, so the API object goes only after the data did — as
upstream's local-path-provisioner does with a helper pod on the node, and kube's external-provisioner
with its finalizer. The agent does it itself: it is already on the node with the host filesystem,
and a helper pod would need an image, a schedulable node and a pod's permissions for one ``rm``.

The finalizer drop is the node's one write of a PersistentVolume, which Kubernetes' Node authorizer
never allows (rancher's provisioner drops it with its own ServiceAccount). kubelite allows exactly
that write as a documented deviation: RBAC's ``system:node`` may update persistentvolumes, and
NodeRestriction (kubelite/gateway/noderestriction.py) narrows it to removing this finalizer, and
nothing else, from a deleted local-path volume whose node affinity names the writing node.

Safety: only volumes provisioned by ``kubelite.io/local-path``, only directories strictly under the
agent's local-path root (symlinks resolved, so no escape), and only once the volume is ``Released``
(a Bound volume deleted by hand waits for its claim to go, as kube's pv-protection makes it wait).
A volume whose policy is not ``Delete`` keeps its directory; its finalizer (if any) just goes.
An agent without a host filesystem (sim runtime without ``--root-dir``) drops the finalizer only.
Decision: :func:`reclaim` (pure); I/O: :class:`VolumeReclaimer`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelite.api import errors
from kubelite.api.resources import PERSISTENTVOLUMES
from kubelite.client.informer import FuncHandler, Informer
from kubelite.client.reconcile import ReconcileLoop, Result
from kubelite.registry.storageclass import (
    LOCAL_PATH_PROVISIONER,
    PROVISIONED_BY_ANNOTATION,
    PROVISIONER_FINALIZER,
    volume_node,
)
from kubelite.storage.store import Store
from kubelite.client.workqueue import WorkQueue

log = logging.getLogger(__name__)

Doc = dict[str, Any]


@dataclass(frozen=True)
class Reclaim:
    """What the node does for one deleted volume: remove ``directory`` (if set), then the finalizer."""

    directory: str | None


def under(path: str, root: str) -> bool:
    """Whether ``path`` is strictly inside ``root`` (lexically; the I/O side checks symlinks too)."""
    normal, base = os.path.normpath(path), os.path.normpath(root)
    return os.path.isabs(normal) and normal.startswith(base.rstrip("/") + "/")


def reclaim(volume: Doc, *, node: str, root: str, filesystem: bool) -> Reclaim | None:
    """None when this node has nothing to do for ``volume`` (not ours, not deleted, still Bound, no
    finalizer, another node); else what to remove before the finalizer goes."""
    meta, spec = volume.get("metadata") or {}, volume.get("spec") or {}
    if not meta.get("deletionTimestamp") or PROVISIONER_FINALIZER not in (meta.get("finalizers") or []):
        return None
    if (meta.get("annotations") or {}).get(PROVISIONED_BY_ANNOTATION) != LOCAL_PATH_PROVISIONER:
        return None
    if volume_node(volume) != node:
        return None
    if spec.get("persistentVolumeReclaimPolicy") != "Delete":
        return Reclaim(directory=None)
    if (volume.get("status") or {}).get("phase") not in ("Released", "Failed"):
        return None  # still Bound: the claim goes first
    path = (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")
    if not filesystem or not isinstance(path, str) or not under(path, root):
        return Reclaim(directory=None)  # nothing of ours on disk to remove
    return Reclaim(directory=path)


def remove_directory(path: str, root: str) -> None:
    """``rm -rf path`` once its real location is still under the real ``root``; missing is done."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    if not under(real, base):
        raise ValueError(f"{path} resolves to {real}, outside the local-path root {base}: not removed")
    if os.path.lexists(real):
        shutil.rmtree(real)


class VolumeReclaimer:
    """Watches PersistentVolumes (its own informer, or a process's shared one) and reclaims this
    node's deleted local-path volumes. ``start()``/``stop()`` like every component."""

    def __init__(self, store: Store, *, node: str, root: str, filesystem: bool,
                 informer: Informer | None = None) -> None:
        self.store = store
        self.node = node
        self.root = root
        self.filesystem = filesystem
        self._own = informer is None
        self.volumes = informer or Informer(store, PERSISTENTVOLUMES)
        self.queue = WorkQueue()
        self.loop = ReconcileLoop(f"localpath-{node}", self.queue, self.reconcile, workers=1)

    async def start(self) -> None:
        self.volumes.add_handler(FuncHandler.enqueue_all(lambda pv: self.queue.add(pv.name)))
        if self._own:
            await self.volumes.start()
        await self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
        if self._own:
            await self.volumes.stop()

    async def reconcile(self, name: str) -> Result | None:
        cached = self.volumes.get(name)
        if cached is None:
            return None
        step = reclaim(cached.to_dict(), node=self.node, root=self.root, filesystem=self.filesystem)
        if step is None:
            return None
        if step.directory is not None:
            await asyncio.to_thread(remove_directory, step.directory, self.root)
            log.info("volume %s: directory %s removed", name, step.directory,
                     extra={"event": "volume_directory_removed", "volume": name, "node": self.node})
        doc = cached.to_dict()
        doc["metadata"]["finalizers"] = [f for f in doc["metadata"].get("finalizers") or []
                                         if f != PROVISIONER_FINALIZER] or None
        try:
            await self.store.update(PERSISTENTVOLUMES, PERSISTENTVOLUMES.model.model_validate(doc))
        except errors.ApiError as exc:
            if exc.code != 404:
                raise  # a conflict: the queue retries on the newer object
        return None
