"""Defragmentation of etcd members: give the space compaction freed back to the file system.

Compaction (:mod:`kubelite.etcd.compaction`) drops old revisions, but bbolt only marks their pages
free inside the database file: ``dbSize`` (the file) never shrinks, only ``dbSizeInUse`` does, and the
file counts against ``--quota-backend-bytes``. etcd's ``Maintenance.Defragment`` rewrites one
member's file without the free pages. kube-apiserver never defragments; operators run rules such as
etcd-defrag's (github.com/ahrtr/etcd-defrag) ``dbSize - dbSizeInUse > X && dbSizeInUse / dbSize < Y``
per member. kubelite runs that rule itself, in the round of the compactor that won
(:class:`~kubelite.etcd.compaction.Compactor`: one process per interval across all gateways and
controller-managers), member by member, followers before the leader as etcd-defrag does.

Defragmenting **blocks the member's reads and writes** for its duration (a few seconds for
hundreds of MB; docs/operations.md): hence the two thresholds (only when much is to be won) and a
member at a time. Status and Defragment are raw gRPC calls on aetcd's channel (aetcd has no
helper for them), each with a deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aetcd import rpc

from kubelite.etcd.client import EtcdClient, connect
from kubelite.etcd.ops import EtcdUnavailable
from kubelite.util import clock

log = logging.getLogger(__name__)

MIB = 1 << 20
DEFAULT_MIN_FREE_FRACTION = 0.5  # defragment when at least half of the file is free pages ...
DEFAULT_MIN_FREE_BYTES = 64 * MIB  # ... and at least this much (small files are not worth a pause)
DEFRAG_TIMEOUT = 60.0  # seconds; etcd rewrites the whole file (etcdctl users pass --command-timeout=60s too)


@dataclass(frozen=True)
class DefragPolicy:
    """When a member is worth defragmenting: its free pages (``dbSize - dbSizeInUse``) are at least
    ``min_free_fraction`` of ``dbSize`` and at least ``min_free_bytes``. ``enabled=False``: never."""

    min_free_fraction: float = DEFAULT_MIN_FREE_FRACTION
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    timeout: float = DEFRAG_TIMEOUT
    enabled: bool = True


@dataclass(frozen=True)
class MemberStatus:
    """One member's Maintenance.Status: sizes in bytes, its id and the leader's id (equal: it leads),
    and the store's revision when it answered."""

    endpoint: str
    member_id: int
    leader: int
    db_size: int
    db_size_in_use: int
    revision: int = 0

    @property
    def free_bytes(self) -> int:
        return max(0, self.db_size - self.db_size_in_use)

    @property
    def is_leader(self) -> bool:
        return self.member_id == self.leader


def should_defragment(db_size: int, db_size_in_use: int, policy: DefragPolicy) -> bool:
    """The rule (pure): both thresholds exceeded. A size etcd did not report (0) never defragments."""
    if not policy.enabled or db_size <= 0:
        return False
    free = db_size - db_size_in_use
    return free >= policy.min_free_bytes and free >= policy.min_free_fraction * db_size


def defrag_order(statuses: list[MemberStatus], policy: DefragPolicy) -> list[MemberStatus]:
    """The members to defragment, followers first and the leader last (pure): a leader's pause
    stalls every write of the cluster, a follower's only the clients connected to it."""
    chosen = [s for s in statuses if should_defragment(s.db_size, s.db_size_in_use, policy)]
    return sorted(chosen, key=lambda s: s.is_leader)


async def member_status(client: EtcdClient, *, endpoint: str = "") -> MemberStatus:
    """Maintenance.Status of the member ``client`` is connected to; :class:`EtcdUnavailable` on errors."""
    response = await _call(client, "Status", rpc.StatusRequest(), client.config.timeout, "etcd member status")
    return MemberStatus(endpoint=endpoint or client.current_endpoints[0], member_id=int(response.header.member_id),
                        leader=int(response.leader), db_size=int(response.dbSize),
                        db_size_in_use=int(response.dbSizeInUse), revision=int(response.header.revision))


async def defragment(client: EtcdClient, *, timeout: float = DEFRAG_TIMEOUT) -> None:
    """Maintenance.Defragment of the member ``client`` is connected to (blocks it meanwhile)."""
    await _call(client, "Defragment", rpc.DefragmentRequest(), timeout, "defragment etcd")


async def _call(client: EtcdClient, method: str, request: Any, timeout: float, what: str) -> Any:
    try:
        await client.connect()
        return await getattr(client.maintenancestub, method)(request, timeout=timeout, metadata=client.metadata)
    except rpc.AioRpcError as exc:
        raise EtcdUnavailable(f"{what}: etcd {exc.code().name}: {exc.details()}") from exc
    except Exception as exc:  # aetcd wraps connection problems differently
        raise EtcdUnavailable(f"{what}: cannot connect to etcd {client.config.endpoints}: {exc}") from exc


async def defragment_members(
    client: EtcdClient, policy: DefragPolicy, *, on_status: Callable[[MemberStatus], None] | None = None,
) -> list[MemberStatus]:
    """Ask every member of ``client``'s endpoints for its status and defragment those
    :func:`defrag_order` picks, one at a time; returns their statuses from before. A member that
    does not answer is logged and left out; a failed defragmentation raises :class:`EtcdUnavailable`.

    One endpoint: ``client`` itself. Several: a short-lived client per endpoint (the shared channel
    reaches only one member, and Status and Defragment are per member).
    """
    endpoints = client.config.endpoints
    if len(endpoints) == 1:
        return await _run(policy, [(endpoints[0], client)], on_status)
    clients = []
    try:
        for endpoint in endpoints:
            clients.append((endpoint, await connect(replace(client.config, endpoints=(endpoint,)))))
        return await _run(policy, clients, on_status)
    finally:
        for _, member in clients:
            await member.close()


async def _run(policy: DefragPolicy, members: list[tuple[str, EtcdClient]],
               on_status: Callable[[MemberStatus], None] | None) -> list[MemberStatus]:
    statuses: list[MemberStatus] = []
    by_endpoint = dict(members)
    for endpoint, member in members:
        try:
            statuses.append(await member_status(member, endpoint=endpoint))
        except EtcdUnavailable as exc:
            log.warning("etcd member %s: no status, not defragmented: %s", endpoint, exc)
    for status in statuses:
        if on_status is not None:
            on_status(status)
    chosen = defrag_order(statuses, policy)
    for status in chosen:
        log.info("defragmenting etcd member %s%s: dbSize %.1f MiB, in use %.1f MiB (blocks it meanwhile)",
                 status.endpoint, " (leader)" if status.is_leader else "", status.db_size / MIB,
                 status.db_size_in_use / MIB)
        started = clock.monotonic()
        await defragment(by_endpoint[status.endpoint], timeout=policy.timeout)
        log.info("defragmented etcd member %s in %.1f s", status.endpoint, clock.monotonic() - started)
    return chosen
