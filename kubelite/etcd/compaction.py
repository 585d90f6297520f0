"""Periodic compaction of etcd's history, as kube-apiserver does it (``--etcd-compaction-interval``).

Without compaction etcd keeps every revision: history and the database grow
until the space quota is hit and etcd refuses writes. Every gateway and every
controller-manager runs a :class:`Compactor`; they agree through one etcd key
so that only one of them compacts per interval, however many run.

The protocol is kube-apiserver's (k8s.io/apiserver/pkg/storage/etcd3/compact.go):
the key ``compact_rev_key``'s *version* is a logical clock. Each interval a
compactor runs one transaction: if the key's version is still the one it last
saw, it writes the revision it recorded one interval ago (bumping the version)
and then compacts etcd to that revision; otherwise another compactor won this
round, and it adopts the key's version. Either way it records the
transaction's header revision for the next round, so history is kept for at
least one interval (between one and two intervals after a compactor dies and
another takes over). The first round only claims: nothing is compacted at start.

The compactor that won a round then applies the defragmentation rule of :mod:`kubelite.etcd.defrag`
to every member (kube-apiserver does not defragment; kubelite does what operators' tools do), so
the database file shrinks back once compaction freed most of it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from kubelite.api import errors
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.defrag import DefragPolicy, MemberStatus, defragment_members
from kubelite.etcd.ops import EtcdCompacted, cmp_version, compact, op_get, op_put, txn
from kubelite.util.supervise import BackgroundTask

log = logging.getLogger(__name__)

# The key kube-apiserver uses (outside /registry/), so kubelite and etcdctl users see one convention.
COMPACT_REV_KEY = "compact_rev_key"
DEFAULT_INTERVAL = 300.0  # seconds; kube-apiserver's DefaultCompactInterval (5 min)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_interval(text: str) -> float:
    """Seconds from a Go duration as kube-apiserver's flag takes it ("5m0s", "90s", "1h", "0") or plain seconds.

    Raises ValueError (argparse turns it into a usage error) for anything else or a negative value.
    """
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"invalid duration {text!r}: use seconds or a Go duration such as 5m0s") from None
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds < 0:
        raise ValueError(f"invalid duration {text!r}: must not be negative")
    return seconds


def add_compaction_argument(parser: argparse.ArgumentParser) -> None:
    """``--etcd-compaction-interval``, as kube-apiserver spells it (the gateway and the controller-manager)."""

    def interval(text: str) -> float:
        try:
            return parse_interval(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parser.add_argument(
        "--etcd-compaction-interval", type=interval, default=DEFAULT_INTERVAL, metavar="DURATION",
        help="how often to compact etcd's history (seconds or e.g. 5m0s; default 5m; 0 disables). Every "
             "gateway and controller-manager takes part; one compacts per interval",
    )


@dataclass(frozen=True)
class CompactClock:
    """What a compactor knows between rounds: the key's version it last saw, and the revision to compact next."""

    version: int = 0
    revision: int = 0


@dataclass(frozen=True)
class Round:
    """The outcome of one round: ``claimed`` if this compactor won it; ``compacted`` the revision it
    compacted etcd to (0: none, on the first round or when etcd was already compacted past it)."""

    clock: CompactClock
    claimed: bool
    compacted: int = 0


async def compact_round(client: EtcdClient, clock: CompactClock) -> Round:
    """One compaction round (one txn, then at most one Compact); raises :class:`~kubelite.api.errors.ApiError`
    (503 etcd unavailable) without changing anything the caller keeps."""
    response = await txn(
        client, [cmp_version(COMPACT_REV_KEY, "==", clock.version)],
        [op_put(COMPACT_REV_KEY, str(clock.revision).encode())], [op_get(COMPACT_REV_KEY)],
        what="claim compaction",
    )
    current = int(response.header.revision)
    if not response.succeeded:
        kvs = response.responses[0].response_range.kvs
        return Round(CompactClock(int(kvs[0].version) if kvs else 0, current), claimed=False)
    claimed = CompactClock(clock.version + 1, current)
    if clock.revision == 0:
        return Round(claimed, claimed=True)  # bootstrap: nothing recorded yet to compact to
    try:
        await compact(client, clock.revision, what=f"compact etcd to revision {clock.revision}")
    except EtcdCompacted:
        log.info("etcd is already compacted past revision %d (by an operator?)", clock.revision)
        return Round(claimed, claimed=True)
    return Round(claimed, claimed=True, compacted=clock.revision)


class Compactor:
    """Runs :func:`compact_round` every ``interval`` seconds (0 disables); ``start()``/``stop()``.

    ``compactions`` counts the rounds in which this compactor compacted etcd; ``last_compacted``
    is the revision it compacted to last. With a ``registry`` they are also the Prometheus metrics
    ``kubelite_etcd_compactions_total`` and ``kubelite_etcd_compacted_revision`` of the process.

    After each round it won, it defragments the members ``defrag`` picks (:mod:`kubelite.etcd.defrag`;
    ``DefragPolicy(enabled=False)`` never): ``defragmentations`` counts them, and the metrics
    ``kubelite_etcd_defragmentations_total`` and ``kubelite_etcd_db_size_bytes`` /
    ``kubelite_etcd_db_size_in_use_bytes`` (by member endpoint, as this process last saw them) follow.
    """

    def __init__(self, client: EtcdClient, *, interval: float = DEFAULT_INTERVAL, name: str = "etcd-compactor",
                 registry: CollectorRegistry | None = None, defrag: DefragPolicy | None = None) -> None:
        if interval < 0:
            raise ValueError(f"compaction interval must not be negative, not {interval}")
        self.client = client
        self.interval = interval
        self.name = name
        self.clock = CompactClock()
        self.rounds = 0
        self.compactions = 0
        self.last_compacted = 0
        self.defrag = defrag or DefragPolicy()
        self.defragmentations = 0
        self._task = BackgroundTask()
        self._counter = self._gauge = None
        self._defrags: Counter | None = None
        self._db_size: Gauge | None = None
        self._db_in_use: Gauge | None = None
        if registry is not None:
            self._counter = Counter("kubelite_etcd_compactions", "etcd compactions this process made.",
                                    registry=registry)
            self._gauge = Gauge("kubelite_etcd_compacted_revision", "The revision this process last compacted "
                                "etcd to (0: none yet; another process may be the one compacting).", registry=registry)
            self._defrags = Counter("kubelite_etcd_defragmentations", "etcd member defragmentations this "
                                    "process made.", registry=registry)
            self._db_size = Gauge("kubelite_etcd_db_size_bytes", "An etcd member's database file (dbSize), as "
                                  "this process last saw it in a compaction round it won.", ["member"],
                                  registry=registry)
            self._db_in_use = Gauge("kubelite_etcd_db_size_in_use_bytes", "The part of an etcd member's "
                                    "database file in use (dbSizeInUse), as this process last saw it.", ["member"],
                                    registry=registry)

    async def start(self) -> None:
        if self.interval > 0:
            self._task.start(self.name, self._loop)

    async def stop(self) -> None:
        await self._task.stop()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.run_once()

    async def run_once(self) -> Round | None:
        """One round; an unreachable etcd is logged and the round skipped (the clock is kept)."""
        try:
            result = await compact_round(self.client, self.clock)
        except errors.ApiError as exc:
            log.warning("%s: compaction round failed: %s", self.name, exc)
            return None
        self.rounds += 1
        self.clock = result.clock
        if result.compacted:
            self.compactions += 1
            self.last_compacted = result.compacted
            if self._counter is not None and self._gauge is not None:
                self._counter.inc()
                self._gauge.set(result.compacted)
            log.info("%s: compacted etcd to revision %d", self.name, result.compacted)
        if result.claimed and self.defrag.enabled:
            await self._defragment()
        return result

    async def _defragment(self) -> None:
        """The defragmentation rule on every member; a failure is logged and retried next round won."""
        try:
            done = await defragment_members(self.client, self.defrag, on_status=self._observe)
        except errors.ApiError as exc:
            log.warning("%s: defragmentation failed: %s", self.name, exc)
            return
        self.defragmentations += len(done)
        if self._defrags is not None and done:
            self._defrags.inc(len(done))

    def _observe(self, status: MemberStatus) -> None:
        if self._db_size is not None and self._db_in_use is not None:
            self._db_size.labels(status.endpoint).set(status.db_size)
            self._db_in_use.labels(status.endpoint).set(status.db_size_in_use)
