"""Faults as objects: ``await fault.inject(cluster)`` hurts the cluster, ``await fault.heal(cluster)``
undoes it. ``fault.unavailable(cluster)`` says why a fault cannot be injected on this cluster
(``None`` when it can): a schedule then skips it and the report names the reason.

Targets of etcd faults: ``leader``, ``follower`` (one that does not lead), ``random`` or a
member's index (``0``…) — ``random`` picks with the ``rng`` given to ``inject`` (a seeded
schedule's), so a run replays. Component faults name a process (``agent-1``, ``gateway-1``,
``cm-2``), a kind (``agent``, ``gateway``, ``manager``: the first of them, or a ``random``
one with ``pick_random=True``) or ``manager-leader``.

Catalogue (docs/chaos.md): :class:`EtcdKill`, :class:`EtcdRestart`, :class:`EtcdFreeze`,
:class:`EtcdPartition`, :class:`ProcessKill`, :class:`ProcessPause`, :class:`ProcessCutOff`,
and :class:`Together` to inject several at once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from kubelite.testing.cluster import Cluster
from kubelite.testing.etcd_local import NotSupported

ETCD_TARGETS = ("leader", "follower", "random")
COMPONENT_KINDS = {"agent": "agents", "gateway": "gateways", "manager": "managers"}


class Fault(ABC):
    """One way to hurt a cluster. Subclasses keep what they hurt between inject and heal."""

    kind: str = "fault"

    def unavailable(self, cluster: Cluster) -> str | None:
        """Why this fault cannot be injected on ``cluster``; ``None`` when it can."""
        return None

    @abstractmethod
    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        """Hurt the cluster; returns what was hurt (``etcd member ...-etcd2``)."""

    async def heal(self, cluster: Cluster) -> None:
        """Undo :meth:`inject` (a no-op for faults that heal themselves)."""

    def describe(self) -> str:
        return self.kind


# -- etcd ----------------------------------------------------------------------------------


@dataclass
class _EtcdFault(Fault):
    target: str | int = "leader"
    _member: Any = field(default=None, init=False, repr=False)

    async def _pick(self, cluster: Cluster, rng: random.Random | None) -> Any:
        members = cluster.etcd.members
        if isinstance(self.target, int):
            return members[self.target]
        if self.target == "random":
            return (rng or random.Random()).choice(members)
        lead = await cluster.etcd.leader()
        if self.target == "leader":
            return lead
        followers = [m for m in members if m is not lead]
        if not followers:
            raise NotSupported("a single-member etcd has no follower")
        return (rng or random.Random()).choice(followers) if rng else followers[0]

    def unavailable(self, cluster: Cluster) -> str | None:
        if isinstance(self.target, int) and not 0 <= self.target < cluster.spec.etcd_members:
            return f"etcd member {self.target} does not exist ({cluster.spec.etcd_members} members)"
        if self.target == "follower" and cluster.spec.etcd_members == 1:
            return "a single-member etcd has no follower"
        return None

    def describe(self) -> str:
        return f"{self.kind} {self.target}"


@dataclass
class EtcdKill(_EtcdFault):
    """SIGKILL an etcd member; heal starts it again on its data (and waits until healthy)."""

    kind = "etcd-kill"

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._member = await self._pick(cluster, rng)
        await asyncio.to_thread(cluster.etcd.kill, self._member)
        return f"etcd member {self._member.name}"

    async def heal(self, cluster: Cluster) -> None:
        if self._member is not None:
            await asyncio.to_thread(cluster.etcd.restart, self._member)
            self._member = None


@dataclass
class EtcdRestart(_EtcdFault):
    """SIGKILL an etcd member and start it again at once (heal is a no-op)."""

    kind = "etcd-restart"

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        member = await self._pick(cluster, rng)
        await asyncio.to_thread(cluster.etcd.kill, member)
        await asyncio.to_thread(cluster.etcd.restart, member)
        return f"etcd member {member.name}"


@dataclass
class EtcdFreeze(_EtcdFault):
    """Freeze an etcd member (``docker pause`` / SIGSTOP): it holds its connections but answers nothing."""

    kind = "etcd-freeze"

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._member = await self._pick(cluster, rng)
        await asyncio.to_thread(cluster.etcd.pause, self._member)
        return f"etcd member {self._member.name}"

    async def heal(self, cluster: Cluster) -> None:
        if self._member is not None:
            await asyncio.to_thread(cluster.etcd.unpause, self._member)
            self._member = None


@dataclass
class EtcdPartition(_EtcdFault):
    """Cut an etcd member off its peers and clients (its container leaves the cluster's network)."""

    kind = "etcd-partition"

    def unavailable(self, cluster: Cluster) -> str | None:
        if cluster.etcd.kind == "local":
            return "local etcd processes share the host network: partitions need etcd_backend containers"
        if cluster.etcd.kind != "containers":
            return "an existing cluster's etcd cannot be partitioned from here"
        return super().unavailable(cluster)

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._member = await self._pick(cluster, rng)
        await asyncio.to_thread(cluster.etcd.disconnect, self._member)
        return f"etcd member {self._member.name}"

    async def heal(self, cluster: Cluster) -> None:
        if self._member is not None:
            await asyncio.to_thread(cluster.etcd.reconnect, self._member)
            await asyncio.to_thread(cluster.etcd.wait_healthy)
            self._member = None


# -- kubelite's processes ----------------------------------------------------------------------


@dataclass
class _ProcessFault(Fault):
    target: str = "agent"
    pick_random: bool = False
    _name: str | None = field(default=None, init=False, repr=False)

    def _candidates(self, cluster: Cluster) -> list[str]:
        if self.target in COMPONENT_KINDS:
            names: list[str] = getattr(cluster, COMPONENT_KINDS[self.target])
            return names
        return [self.target]

    def unavailable(self, cluster: Cluster) -> str | None:
        if self.target == "manager-leader":
            return None
        if not self._candidates(cluster) or (
                self.target not in COMPONENT_KINDS and cluster.processes is not None
                and self.target not in cluster.processes.procs):
            return f"no process {self.target!r} in this cluster"
        return None

    async def _pick(self, cluster: Cluster, rng: random.Random | None) -> str:
        if self.target == "manager-leader":
            name = await cluster.manager_leader()
            if name is None:
                raise NotSupported("no controller-manager leads right now")
            return name
        names = self._candidates(cluster)
        return (rng or random.Random()).choice(names) if self.pick_random else names[0]

    def describe(self) -> str:
        return f"{self.kind} {self.target}"


@dataclass
class ProcessKill(_ProcessFault):
    """SIGKILL a component process; heal starts it again with the same flags."""

    kind = "kill"

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._name = await self._pick(cluster, rng)
        cluster.proc(self._name).kill()
        return self._name

    async def heal(self, cluster: Cluster) -> None:
        if self._name is not None:
            cluster.proc(self._name).start()
            self._name = None


@dataclass
class ProcessPause(_ProcessFault):
    """SIGSTOP a component process (a hung process: connections open, nothing answered); heal SIGCONTs."""

    kind = "pause"

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._name = await self._pick(cluster, rng)
        proc = cluster.proc(self._name)
        if proc.pid is None or not proc.alive:
            raise NotSupported(f"{self._name} is not running")
        os.kill(proc.pid, signal.SIGSTOP)
        return self._name

    async def heal(self, cluster: Cluster) -> None:
        if self._name is not None:
            proc = cluster.proc(self._name)
            if proc.alive and proc.pid is not None:
                os.kill(proc.pid, signal.SIGCONT)
            self._name = None


@dataclass
class ProcessCutOff(_ProcessFault):
    """Cut a component off etcd (its TCP proxy drops every connection and refuses new ones) while
    it keeps running; heal reconnects. Needs ``ClusterSpec(proxy_etcd=True)``."""

    kind = "cut-off"

    def unavailable(self, cluster: Cluster) -> str | None:
        if not cluster.spec.proxy_etcd:
            return "cut-off needs the components behind TCP proxies: start the cluster with proxy_etcd"
        return super().unavailable(cluster)

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._name = await self._pick(cluster, rng)
        await cluster.proxies[self._name].cut()
        return self._name

    async def heal(self, cluster: Cluster) -> None:
        if self._name is not None:
            await cluster.proxies[self._name].heal()
            self._name = None


@dataclass
class Together(Fault):
    """Several faults injected at once and healed in reverse order."""

    faults: tuple[Fault, ...] = ()
    kind = "together"

    def unavailable(self, cluster: Cluster) -> str | None:
        reasons = [r for f in self.faults if (r := f.unavailable(cluster))]
        return "; ".join(reasons) or None

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        return " + ".join([await f.inject(cluster, rng) for f in self.faults])

    async def heal(self, cluster: Cluster) -> None:
        for f in reversed(self.faults):
            await f.heal(cluster)

    def describe(self) -> str:
        return " + ".join(f.describe() for f in self.faults)


CATALOGUE: dict[str, type[Fault]] = {
    cls.kind: cls for cls in (EtcdKill, EtcdRestart, EtcdFreeze, EtcdPartition, ProcessKill, ProcessPause,
                              ProcessCutOff)
}
"""Fault kinds by the name scenario files use."""
