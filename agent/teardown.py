"""Stopping things: killing containers, graceful pod deletion, orphans, rediscovery, drain.

Graceful stop = the runtime's SIGTERM, then SIGKILL after the grace period.
A pod marked for deletion first reports Ready=False, has all its containers
stopped in parallel with ``deletionGracePeriodSeconds``, reports their
terminated states (and its terminal phase), then they are removed and its key
deleted with a uid precondition: clients see the termination, as with the
kubelet. Containers whose pod is gone (or bound elsewhere) are stopped and
removed: that is the agent's fencing after an outage. The runtime the agent
holds is scoped to its cluster (``runtime/scoped.py``): another cluster's
containers on a shared engine are never listed, so never removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kubelite.api import errors
from kubelite.api.core import Pod
from kubelite.api.resources import PODS
from kubelite.client.events import EventRecorder
from kubelite.storage.store import Store
from kubelite.util import clock

from agent.podconfig.configurator import PodConfigurator
from agent.probes import ProbeManager
from agent.runtime.base import (
    LABEL_GRACE,
    LABEL_NODE,
    LABEL_POD_UID,
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntime,
)
from agent.runtime.scoped import legacy_to_remove
from agent.status import build_status, status_changed, termination_input

log = logging.getLogger(__name__)

ORPHAN_GRACE_CAP = 10  # seconds: an orphan's pod is gone, nobody waits for a clean exit


class Teardown:
    """Gets only its collaborators (not the ``PodManager``): ``forget_uid`` drops what the
    manager kept about a pod whose containers are gone; ``config`` owns the pods' volumes."""

    def __init__(
        self, store: Store, runtime: ContainerRuntime, *, node: str, host_ip: str, recorder: EventRecorder,
        probes: ProbeManager, config: PodConfigurator, forget_uid: Callable[[str], None],
        bound_pods: Callable[[], list[Pod]],
    ) -> None:
        self.store = store
        self.bound_pods = bound_pods  # this node's pods as the agent's synced pod informer holds them
        self.runtime = runtime
        self.node = node
        self.host_ip = host_ip
        self.recorder = recorder
        self.probes = probes
        self.config = config
        self.forget_uid = forget_uid

    async def kill(self, pod: Pod, container_id: str, name: str, reason: str, *, grace: int | None = None) -> None:
        """Stop one container of a live pod, with an Event saying why."""
        spec = next((c for c in pod.spec.containers if c.name == name), None)
        if grace is None:
            grace = pod.spec.effective_termination_grace_period_seconds
            probe = spec.liveness_probe if spec is not None else None
            if reason == "Unhealthy" and probe is not None and probe.termination_grace_period_seconds is not None:
                grace = probe.termination_grace_period_seconds
        if reason == "Unhealthy":
            message = f"Container {name} failed liveness probe, will be restarted"
        elif reason == "Deleting":
            message = f"Stopping container {name}"
        else:
            message = f"Stopping container {name} ({reason})"
        if name != "POD":
            self.recorder.record(pod, "Normal", "Killing", message)
        try:
            await self.runtime.stop_container(container_id, timeout=grace)
        except ContainerNotFound:
            pass

    async def stop_running(self, pod: Pod, containers: list[ContainerInfo]) -> None:
        """A finished pod: nothing of it may keep running (containers stay for logs until deletion)."""
        for info in containers:
            if info.state in ("running", "created"):
                await self.kill(pod, info.id, info.container_name, "PodCompleted")

    async def delete_pod(self, pod: Pod, containers: list[ContainerInfo]) -> None:
        """Graceful deletion: stop all (apps first, then the sandbox), remove, delete the key."""
        grace = pod.metadata.deletion_grace_period_seconds
        if grace is None:
            grace = pod.spec.effective_termination_grace_period_seconds
        apps = [c for c in containers if not c.is_sandbox and c.state in ("running", "created")]
        pod = await self._report_termination(pod, containers)  # Ready=False while they stop
        # Sidecars stop after the app containers, in reverse order (kubelet, since sidecars exist).
        sidecars = [c.name for c in pod.spec.init_containers or [] if c.restart_policy == "Always"]
        await asyncio.gather(*(self.kill(pod, c.id, c.container_name, "Deleting", grace=grace)
                               for c in apps if c.container_name not in sidecars))
        for name in reversed(sidecars):
            for c in (c for c in apps if c.container_name == name):
                await self.kill(pod, c.id, name, "Deleting", grace=grace)
        await self.probes.forget_pod(f"{pod.namespace}/{pod.name}")
        if apps:
            stopped = await self.runtime.list_containers({LABEL_NODE: self.node,
                                                  LABEL_POD_UID: pod.metadata.uid or ""})
            await self._report_termination(pod, stopped)  # terminated states, terminal phase
        await self._remove_all(containers, grace=0)
        try:
            await self.store.delete(PODS, pod.name, pod.namespace, grace_period_seconds=0,
                                    uid=pod.metadata.uid)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
        self.forget_uid(pod.metadata.uid or "")
        await self.config.cleanup(pod.metadata.uid or "")
        log.info("pod %s/%s deleted after its containers stopped", pod.namespace, pod.name)

    async def _report_termination(self, pod: Pod, containers: list[ContainerInfo]) -> Pod:
        """Write the terminating pod's status when it changed; the pod as stored afterwards."""
        if not any(not c.is_sandbox for c in containers):
            return pod  # nothing ever ran: nothing to report
        data = termination_input(containers, host_ip=self.host_ip, runtime=self.runtime.name)
        status = build_status(pod, data, clock.now_seconds())
        if not status_changed(pod.status, status):
            return pod
        updated = pod.deep_copy()
        updated.status = status
        try:
            written = await self.store.update(PODS, updated, subresource="status")
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
            return pod  # force-deleted meanwhile
        return written

    async def remove_containers(self, containers: list[ContainerInfo], *, reason: str) -> None:
        """Containers of a pod that is gone: stop and remove them (no pod to record Events on)."""
        log.info("removing %d container(s): %s", len(containers), reason,
                 extra={"containers": [c.name for c in containers]})
        await self._remove_all(containers, grace=None)
        for uid in {c.pod_uid for c in containers}:
            self.forget_uid(uid)
            await self.config.cleanup(uid)

    async def _remove_all(self, containers: list[ContainerInfo], *, grace: int | None) -> None:
        apps = [c for c in containers if not c.is_sandbox]
        sandboxes = [c for c in containers if c.is_sandbox]
        for group in (apps, sandboxes):
            await asyncio.gather(*(self._stop_and_remove(c, grace) for c in group))

    async def _stop_and_remove(self, info: ContainerInfo, grace: int | None) -> None:
        if grace is None:
            try:
                grace = min(int(info.labels.get(LABEL_GRACE, "30")), ORPHAN_GRACE_CAP)
            except ValueError:
                grace = ORPHAN_GRACE_CAP
        try:
            if info.state in ("running", "created"):
                await self.runtime.stop_container(info.id, timeout=grace)
            await self.runtime.remove_container(info.id)
        except ContainerNotFound:
            pass

    async def rediscover(self) -> None:
        """List this node's containers; keep those of pods still bound here, remove the rest.

        The pods bound here come from the agent's synced pod informer, not a LIST of every pod in etcd:
        after a mass lease loss (1,000 sim nodes on a loaded etcd) each node's rediscovery read all
        10,000 pods (21 MB) — 140 such reads a minute kept etcd overloaded and the leases lapsing. The
        cache is safe for this: the agent creates containers only for pods its cache showed it, so a
        pod missing from a cache that is behind has no containers yet, and a deleted pod the cache
        still holds keeps its containers only until its delete event tears them down."""
        uids = {pod.metadata.uid for pod in self.bound_pods() if pod.spec.node_name == self.node}
        containers = await self.runtime.list_containers({LABEL_NODE: self.node})
        orphans = [c for c in containers if c.pod_uid not in uids]
        adopted = len(containers) - len(orphans)
        if orphans:
            await self.remove_containers(orphans, reason="their pods are gone or bound elsewhere")
        known = {uid for uid in uids if uid}  # stored pods always have one; the type allows None
        await self._legacy(known)
        await self.config.cleanup_except(known)
        log.info("node %s: rediscovery adopted %d container(s), removed %d orphan(s)", self.node, adopted,
                 len(orphans), extra={"adopted": adopted, "orphans": len(orphans)})

    async def _legacy(self, bound_uids: set[str]) -> None:
        """Containers of an older kubelite carry no cluster label: remove only the provably ours
        (their pods are recreated with the label); leave the rest alone and say so."""
        list_legacy = getattr(self.runtime, "list_legacy", None)
        if list_legacy is None:  # an unscoped runtime (unit tests): nothing to tell apart
            return
        ours, foreign = legacy_to_remove(await list_legacy({LABEL_NODE: self.node}), bound_uids)
        if ours:
            await self.remove_containers(ours, reason="made by an older kubelite without the cluster label; "
                                                      "their pods get new containers")
        if foreign:
            log.warning("node %s: %d container(s) labelled for this node name but with no cluster label are "
                        "left alone (not provably this cluster's): %s; remove them by hand if they are stale",
                        self.node, len(foreign), ", ".join(c.name for c in foreign[:10]),
                        extra={"containers": [c.name for c in foreign]})

    async def drain(self) -> None:
        """--drain-on-exit: stop and remove every container of this node."""
        containers = await self.runtime.list_containers({LABEL_NODE: self.node})
        await self.remove_containers(containers, reason="draining on exit")
