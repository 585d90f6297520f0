"""The node proxy: programs this node's kernel (iptables nat) from the Service and EndpointSlice
informers, as kube-proxy does; the rules themselves come from :mod:`agent.proxy.rules`.

Any informer event marks the rules dirty; one loop re-renders the whole table from the caches
and applies it atomically with ``iptables-restore --noflush`` (our chains only), then makes sure
nat PREROUTING/OUTPUT/POSTROUTING and filter INPUT/FORWARD/OUTPUT jump to them. It also runs at start (a restarted agent repairs
what changed while it was away, removing stale chains) and every ``resync`` seconds as a safety
net. ``stop()`` removes the jumps and every chain of ours: nothing is left behind by a clean exit.
Uses the ``iptables`` tools (Debian package ``iptables``; nf_tables or legacy backend alike).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubelite.api.resources import ENDPOINTSLICES, SERVICES
from kubelite.client.informer import FuncHandler, Informer
from kubelite.storage.store import Store
from kubelite.util.supervise import cancel_and_wait, spawn
from kubelite.util import clock

from agent.proxy import rules

log = logging.getLogger(__name__)


class IptablesError(RuntimeError):
    pass


async def _run(*argv: str, stdin: str | None = None, check: bool = True) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), 30)
    if check and proc.returncode != 0:
        raise IptablesError(f"{' '.join(argv)}: exit {proc.returncode}: {err.decode().strip()}")
    return proc.returncode or 0, out.decode()


class Iptables:
    """The few iptables calls the proxy makes (nat table only)."""

    async def chains(self, table: str = "nat") -> set[str]:
        return rules.chains_in((await _run("iptables-save", "-t", table))[1])

    async def restore(self, document: str) -> None:
        await _run("iptables-restore", "--noflush", "-w", "5", stdin=document)

    @staticmethod
    def _spec(op: str, jump: rules.Jump, comment: str) -> list[str]:
        return ["-w", "5", "-t", jump.table, op, jump.builtin, *jump.match, "-m", "comment", "--comment", comment,
                "-j", jump.target]

    async def ensure_jump(self, jump: rules.Jump, comment: str) -> None:
        if (await _run("iptables", *self._spec("-C", jump, comment), check=False))[0] != 0:
            await _run("iptables", *self._spec("-I", jump, comment))

    async def remove_jump(self, jump: rules.Jump, comment: str) -> None:
        while (await _run("iptables", *self._spec("-D", jump, comment), check=False))[0] == 0:
            pass


def jump_comment(node: str, prefix: str) -> str:
    return f"kubelite node proxy {node} {prefix}"


async def remove_rules(iptables: Iptables, prefix: str, node: str) -> None:
    """Remove the jumps to a node's chains, then the chains (idempotent: nothing there is fine)."""
    for jump in rules.jumps(prefix):
        await iptables.remove_jump(jump, jump_comment(node, prefix))
    existing = {table: await iptables.chains(table) for table in ("nat", "filter")}
    if any(c.startswith(f"{prefix}-") for chains in existing.values() for c in chains):
        await iptables.restore(rules.cleanup(prefix, existing))


class Proxier:
    """start(cluster_uid) / stop(); ``synced_at``: monotonic time of the last successful sync."""

    def __init__(self, store: Store, *, node: str, resync: float = 30.0, iptables: Iptables | None = None) -> None:
        self.store = store
        self.node = node
        self.resync = resync
        self.iptables = iptables or Iptables()
        self.prefix = ""
        self.services = Informer(store, SERVICES, resync_period=0)
        self.slices = Informer(store, ENDPOINTSLICES, resync_period=0)
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.synced_at = 0.0
        self.syncs = 0
        self.last_rules = ""

    @property
    def comment(self) -> str:
        return jump_comment(self.node, self.prefix)

    async def start(self, cluster_uid: str) -> None:
        self.prefix = rules.chain_prefix(cluster_uid, self.node)
        mark = FuncHandler(add=lambda _o: self._dirty.set(), update=lambda _o, _n: self._dirty.set(),
                           delete=lambda _o: self._dirty.set())
        for informer in (self.services, self.slices):
            informer.add_handler(mark)
            await informer.start()
        for informer in (self.services, self.slices):
            await informer.wait_synced(60)
        try:
            await self.sync()  # at start: repair whatever changed while no agent watched
        except (IptablesError, OSError, TimeoutError) as exc:  # no iptables, no privilege: the node still runs pods
            log.error("node proxy %s: cannot program iptables (%s); Services will not route on this node "
                      "until it can (retrying)", self.node, exc)
        self._task = spawn(f"proxy-{self.node}", self._loop, restart_delay=5.0)
        log.info("node proxy %s: iptables chains %s-*", self.node, self.prefix)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        for informer in (self.slices, self.services):
            await informer.stop()
        if self.prefix:
            await self.remove_rules()

    async def remove_rules(self) -> None:
        await remove_rules(self.iptables, self.prefix, self.node)
        log.info("node proxy %s: rules removed", self.node)

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), self.resync)
            except TimeoutError:
                pass
            await asyncio.sleep(0.02)  # gather a burst of events into one sync
            await self.sync()

    async def sync(self) -> None:
        """Render from the caches and apply; a failure leaves the rules dirty (the loop retries)."""
        self._dirty.clear()
        services = [s.to_dict() for s in self.services.list()]
        slices = [s.to_dict() for s in self.slices.list()]
        ports = rules.service_ports(services, slices)
        try:
            existing = await self.iptables.chains()
            document = rules.render(self.prefix, ports, existing)
            await self.iptables.restore(document)
            for jump in rules.jumps(self.prefix):
                await self.iptables.ensure_jump(jump, self.comment)
        except BaseException:
            self._dirty.set()
            raise
        self.last_rules = document
        self.synced_at = clock.monotonic()
        self.syncs += 1
        log.debug("node proxy %s: %d service ports synced", self.node, len(ports))

    def snapshot(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "syncs": self.syncs}
