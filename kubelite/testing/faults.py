"""Faults as objects: ``await fault.inject(cluster)`` hurts the cluster, ``await fault.heal(cluster)``
undoes it. ``fault.unavailable(cluster)`` says why a fault cannot be injected on this cluster
(``None`` when it can): a schedule then skips it and the report names the reason.

Targets of etcd faults: ``leader``, ``follower`` (one that does not lead), ``random``, ``all``
or a member's index (``0``…) — ``random`` picks with the ``rng`` given to ``inject`` (a seeded
schedule's), so a run replays. Component faults name a process (``agent-1``, ``gateway-1``,
``cm-2``), a kind (``agent``, ``gateway``, ``manager``: the first of them, or a ``random``
one with ``pick_random=True``) or ``manager-leader``.

Catalogue (docs/chaos.md): :class:`EtcdKill`, :class:`EtcdRestart`, :class:`EtcdFreeze`,
:class:`EtcdPartition`, :class:`ProcessKill`, :class:`ProcessPause`, :class:`ProcessCutOff`,
:class:`DockerEngineRestart`, :class:`ClockSkew`, and :class:`Together` to inject several at
once. etcd faults also take ``all`` (every member at once: an etcd outage).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from kubelite.testing.clock import clock_skew_problem, set_skew
from kubelite.testing.cluster import Cluster
from kubelite.testing.dockerd import DockerEngine, EngineError
from kubelite.testing.etcd_local import NotSupported

ETCD_TARGETS = ("leader", "follower", "random", "all")
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
    _members: list[Any] = field(default_factory=list, init=False, repr=False)

    async def _pick(self, cluster: Cluster, rng: random.Random | None) -> list[Any]:
        members = cluster.etcd.members
        if isinstance(self.target, int):
            return [members[self.target]]
        if self.target == "all":
            return list(members)
        if self.target == "random":
            return [(rng or random.Random()).choice(members)]
        lead = await cluster.etcd.leader()
        if self.target == "leader":
            return [lead]
        followers = [m for m in members if m is not lead]
        if not followers:
            raise NotSupported("a single-member etcd has no follower")
        return [(rng or random.Random()).choice(followers) if rng else followers[0]]

    def unavailable(self, cluster: Cluster) -> str | None:
        if isinstance(self.target, int) and not 0 <= self.target < cluster.spec.etcd_members:
            return f"etcd member {self.target} does not exist ({cluster.spec.etcd_members} members)"
        if self.target == "follower" and cluster.spec.etcd_members == 1:
            return "a single-member etcd has no follower"
        return None

    def describe(self) -> str:
        return f"{self.kind} {self.target}"

    async def _each(self, cluster: Cluster, action: Any, members: list[Any]) -> None:
        """``action`` on every member at once: a restart waits for its member's health, which
        needs a quorum, so members of an ``all`` fault must come back together."""
        await asyncio.gather(*(asyncio.to_thread(action, member) for member in members))

    def _names(self) -> str:
        return f"etcd member{'s' if len(self._members) > 1 else ''} {', '.join(m.name for m in self._members)}"


@dataclass
class EtcdKill(_EtcdFault):
    """SIGKILL etcd members; heal starts them again on their data (and waits until healthy)."""

    kind = "etcd-kill"

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._members = await self._pick(cluster, rng)
        await self._each(cluster, cluster.etcd.kill, self._members)
        return self._names()

    async def heal(self, cluster: Cluster) -> None:
        members, self._members = self._members, []
        await self._each(cluster, cluster.etcd.restart, members)


@dataclass
class EtcdRestart(_EtcdFault):
    """SIGKILL etcd members and start them again at once (heal is a no-op)."""

    kind = "etcd-restart"

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._members = await self._pick(cluster, rng)
        await self._each(cluster, cluster.etcd.kill, self._members)
        await self._each(cluster, cluster.etcd.restart, self._members)
        return self._names()


@dataclass
class EtcdFreeze(_EtcdFault):
    """Freeze etcd members (``docker pause`` / SIGSTOP): they hold their connections but answer nothing."""

    kind = "etcd-freeze"

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._members = await self._pick(cluster, rng)
        await self._each(cluster, cluster.etcd.pause, self._members)
        return self._names()

    async def heal(self, cluster: Cluster) -> None:
        members, self._members = self._members, []
        await self._each(cluster, cluster.etcd.unpause, members)


@dataclass
class EtcdPartition(_EtcdFault):
    """Cut etcd members off their peers and clients (their containers leave the cluster's network)."""

    kind = "etcd-partition"

    def unavailable(self, cluster: Cluster) -> str | None:
        if cluster.etcd.kind == "local":
            return "local etcd processes share the host network: partitions need etcd_backend containers"
        if cluster.etcd.kind != "containers":
            return "an existing cluster's etcd cannot be partitioned from here"
        return super().unavailable(cluster)

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._members = await self._pick(cluster, rng)
        await self._each(cluster, cluster.etcd.disconnect, self._members)
        return self._names()

    async def heal(self, cluster: Cluster) -> None:
        members, self._members = self._members, []
        if members:
            await self._each(cluster, cluster.etcd.reconnect, members)
            await asyncio.to_thread(cluster.etcd.wait_healthy)


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


# -- the host: Docker Engine, clock ---------------------------------------------------------


@dataclass
class DockerEngineRestart(Fault):
    """Stop a Docker Engine (its containers stop with it, as when a host's dockerd restarts) and,
    on heal, start it again and wait until it answers.

    ``engine``: any :class:`~kubelite.testing.dockerd.DockerEngine` (its pid or a restart
    command); by default the cluster's own (``ClusterSpec(runtime="docker",
    docker_engine="private")``). A shared engine is never chosen by default: other work runs on it."""

    engine: DockerEngine | None = None
    target: str = "engine"  # scenario files name no engine: the cluster's
    kind = "docker-restart"

    def _engine(self, cluster: Cluster) -> DockerEngine | None:
        return self.engine or cluster.docker_engine

    def unavailable(self, cluster: Cluster) -> str | None:
        if self._engine(cluster) is not None:
            return None
        if not cluster.started_here:
            return ("an existing cluster's Docker Engine is not restarted from here (other work may use it): "
                    "give the fault a DockerEngine you own")
        if cluster.spec.runtime != "docker":
            return f"no docker agents in this cluster (runtime {cluster.spec.runtime}): no engine to restart"
        return ("the cluster's docker agents use the shared Docker Engine, which other work uses too: "
                "docker-restart needs docker_engine: private (or a DockerEngine given to the fault)")

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        engine = self._engine(cluster)
        if engine is None:
            raise NotSupported(self.unavailable(cluster) or "no engine")
        try:
            return await asyncio.to_thread(engine.stop)
        except EngineError as exc:
            raise NotSupported(str(exc)) from None

    async def heal(self, cluster: Cluster) -> None:
        engine = self._engine(cluster)
        if engine is not None:
            await asyncio.to_thread(engine.start)

    def describe(self) -> str:
        return self.kind


@dataclass
class ClockSkew(_ProcessFault):
    """Shift an agent process's wall clock by ``seconds`` (negative: behind) while it runs; heal
    sets it right. Needs ``ClusterSpec(clock_skew=True)`` and libfaketime
    (:mod:`kubelite.testing.clock`); the monotonic clock is not touched."""

    seconds: float = 60.0
    kind = "clock-skew"

    def unavailable(self, cluster: Cluster) -> str | None:
        if (problem := clock_skew_problem()) is not None:
            return problem
        if not cluster.started_here:
            return "an existing cluster's agents were not started under libfaketime: their clocks cannot be skewed"
        if not cluster.spec.clock_skew:
            return "clock skew needs the agents started under libfaketime: start the cluster with clock_skew"
        if self.target not in ("agent", *cluster.agents):
            return f"clock skew is for agent processes, not {self.target!r}"
        return super().unavailable(cluster)

    async def inject(self, cluster: Cluster, rng: random.Random | None = None) -> str:
        self._name = await self._pick(cluster, rng)
        set_skew(cluster.clock_file(self._name), self.seconds)
        return f"{self._name} clock {self.seconds:+g}s"

    async def heal(self, cluster: Cluster) -> None:
        if self._name is not None:
            set_skew(cluster.clock_file(self._name), 0.0)
            self._name = None

    def describe(self) -> str:
        return f"{self.kind} {self.target} {self.seconds:+g}s"


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
                              ProcessCutOff, DockerEngineRestart, ClockSkew)
}
"""Fault kinds by the name scenario files use."""
