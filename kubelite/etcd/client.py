"""Connection to etcd: endpoints, TLS, user/password, deadlines.

aetcd does the protocol; this module adds what it lacks (see
ENVIRONMENT.md): TLS channels, several endpoints with gRPC failover, keepalive
pings so a dead or frozen member breaks the stream instead of hanging it, and
large catch-up messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import aetcd
import grpc
from aetcd import rpc, watcher

from kubelite.etcd.txnbatch import TxnBatcher
from kubelite.etcd.encryption_reload import ReloadingEncryption
from kubelite.util import clock

if TYPE_CHECKING:
    from kubelite.etcd.encryption import Encryption

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "127.0.0.1:2379"
# Consecutive timeouts/refusals after which the client moves to the next endpoint.
_FAILOVER_AFTER = 2

_CHANNEL_OPTIONS = {
    "grpc.max_receive_message_length": 64 << 20,
    "grpc.max_send_message_length": 16 << 20,
    # etcd's default --grpc-keepalive-min-time is 5 s; pinging faster gets GOAWAY.
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 0,  # etcd GOAWAYs pings on an idle connection (too_many_pings)
    "grpc.http2.max_pings_without_data": 0,
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 2_000,
}


@dataclass(frozen=True)
class EtcdConfig:
    """How to reach etcd; secrets come from files or the environment, never argv."""

    endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    timeout: float = 5.0
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # encryption at rest of the values this process writes and reads (--encryption-provider-config)
    encryption: Encryption | None = field(default=None, repr=False)

    @classmethod
    def from_options(
        cls, endpoints: str | None = None, *, timeout: float = 5.0, ca_file: str | None = None,
        cert_file: str | None = None, key_file: str | None = None, username: str | None = None,
        password_file: str | None = None,
    ) -> EtcdConfig:
        """Build from CLI flags, falling back to KUBELITE_ETCD_* environment variables."""
        raw = endpoints or os.environ.get("KUBELITE_ETCD_ENDPOINTS") or DEFAULT_ENDPOINT
        password = None
        if password_file:
            password = Path(password_file).read_text().strip()
        elif os.environ.get("KUBELITE_ETCD_PASSWORD"):
            password = os.environ["KUBELITE_ETCD_PASSWORD"]
        return cls(
            endpoints=parse_endpoints(raw),
            timeout=timeout,
            ca_file=ca_file or os.environ.get("KUBELITE_ETCD_CA"),
            cert_file=cert_file or os.environ.get("KUBELITE_ETCD_CERT"),
            key_file=key_file or os.environ.get("KUBELITE_ETCD_KEY"),
            username=username or os.environ.get("KUBELITE_ETCD_USER"),
            password=password,
        )

    @property
    def uses_tls(self) -> bool:
        return self.ca_file is not None


def parse_endpoints(raw: str) -> tuple[str, ...]:
    """'http://127.0.0.1:2379,127.0.0.1:22379' → ('127.0.0.1:2379', '127.0.0.1:22379')."""
    result = []
    for part in raw.split(","):
        part = part.strip()
        for scheme in ("http://", "https://"):
            part = part.removeprefix(scheme)
        if not part:
            continue
        if ":" not in part:
            part = f"{part}:2379"
        result.append(part.rstrip("/"))
    if not result:
        raise ValueError(f"no etcd endpoint in {raw!r}")
    return tuple(result)


def grpc_target(endpoints: tuple[str, ...]) -> str:
    """One gRPC target for several endpoints; gRPC fails over between them.

    A list needs literal IPv4 addresses ('ipv4:a:p,b:p'); a single endpoint
    may be a host name.
    """
    if len(endpoints) == 1:
        return endpoints[0]
    return "ipv4:" + ",".join(endpoints)


class EtcdClient(aetcd.Client):  # type: ignore[misc]  # aetcd publishes no types
    """aetcd.Client with TLS, several endpoints and keepalive, from an :class:`EtcdConfig`."""

    def __init__(self, config: EtcdConfig) -> None:
        super().__init__(
            host=config.endpoints[0],
            username=config.username,
            password=config.password,
            timeout=config.timeout,  # aetcd passes it to gRPC: floats work
            options=dict(_CHANNEL_OPTIONS),
        )
        self.config = config
        # called with (what, seconds) after every txn/range (kubelite.etcd.ops): a process's etcd latency metric
        self.request_observer: Callable[[str, float], None] | None = None
        self.txn_batcher: TxnBatcher | None = None  # kubelite.etcd.ops.txn's group commit, made on first use
        # False: every txn alone. A node's agent, whose etcd role may write one key: etcd before 3.5.28
        # checks no permission inside a nested txn (etcd commit 9e4303361), so its writes never nest.
        self.batch_txns = True
        self._offset = 0
        self._failures = 0
        self._last_failover = 0.0
        # clock.monotonic() of the last KV call etcd answered (ops' txn and range): a watchdog needs no
        # probe of its own while the member behind this channel answers them
        self.last_success = float("-inf")
        self._connect_lock = asyncio.Lock()
        self._follows_encryption = False

    def follow_encryption_config(self) -> None:
        """With ``--encryption-provider-config-automatic-reload``, keep the file followed while this
        client is open (the reloader polls while any client of the process uses it)."""
        if isinstance(self.config.encryption, ReloadingEncryption) and not self._follows_encryption:
            self._follows_encryption = True
            self.config.encryption.follow()

    async def close(self) -> None:
        if self._follows_encryption and isinstance(self.config.encryption, ReloadingEncryption):
            self._follows_encryption = False
            await self.config.encryption.unfollow()
        await super().close()

    @property
    def current_endpoints(self) -> tuple[str, ...]:
        """The endpoints in the order gRPC tries them; the first is the preferred one."""
        eps = self.config.endpoints
        return eps[self._offset:] + eps[: self._offset]

    def _open_channel(self) -> grpc.aio.Channel:
        target = grpc_target(self.current_endpoints)
        options = list(self._options.items())
        if not self.config.uses_tls:
            return rpc.insecure_channel(target, options=options)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=Path(self.config.ca_file or "").read_bytes(),
            private_key=Path(self.config.key_file).read_bytes() if self.config.key_file else None,
            certificate_chain=Path(self.config.cert_file).read_bytes() if self.config.cert_file else None,
        )
        return rpc.secure_channel(target, credentials, options=options)

    async def connect(self) -> None:
        """Open the channel; authenticates when a user is configured."""
        async with self._connect_lock:
            if not self._connected.is_set():
                await self._open()

    async def _open(self) -> None:
        self.channel = self._open_channel()
        if self._username is not None:
            self.auth_stub = rpc.AuthStub(self.channel)
            request = rpc.AuthenticateRequest(name=self._username, password=self._password)
            try:
                response = await self.auth_stub.Authenticate(request, timeout=self._timeout)
            except rpc.AioRpcError as exc:
                await self.channel.close()
                raise aetcd.ClientError(f"etcd authentication as {self._username!r} failed: {exc.details()}") from exc
            self.metadata = (("token", response.token),)
        self.kvstub = rpc.KVStub(self.channel)
        self.clusterstub = rpc.ClusterStub(self.channel)
        self.leasestub = rpc.LeaseStub(self.channel)
        self.maintenancestub = rpc.MaintenanceStub(self.channel)
        self._watcher = watcher.Watcher(rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata)
        self._connected.set()

    async def reset_watch_stream(self, reason: str) -> None:
        """Break the shared watch stream so every watch reconnects.

        Used by watchdogs when reads time out: a frozen member can leave the
        stream open but silent, which aetcd would never notice.
        """
        if self._watcher is not None:
            await self._watcher._terminate_stream(aetcd.ConnectionFailedError(reason))  # noqa: SLF001


    def report_success(self) -> None:
        """A KV call on this channel was answered: the member is up, and its raft and apply loops move
        (a linearizable read waits for the applied index, a write for its apply). Lease keepalives do
        not count: etcd before 3.5.8 (the embedded one is 3.5.1) renews on the leader without
        checking that it still leads or applies (etcd issue 15247), so a stuck member answers them."""
        self._failures = 0
        self.last_success = clock.monotonic()

    async def report_unavailable(self) -> None:
        """Fail over to the next endpoint after repeated timeouts.

        gRPC's own failover only helps when a connection breaks; a frozen
        member (or a proxy in front of one) keeps it open and every call
        times out. Reopening the channel with the next endpoint first fixes
        that; watches on the old channel break and resume on the new one.
        """
        if len(self.config.endpoints) < 2:
            return
        self._failures += 1
        now = clock.monotonic()
        if self._failures < _FAILOVER_AFTER or now - self._last_failover < self.config.timeout:
            return
        self._failures = 0
        self._last_failover = now
        old_channel, old_watcher = self.channel, self._watcher
        self._offset = (self._offset + 1) % len(self.config.endpoints)
        log.warning("etcd: %s unresponsive; failing over to %s", self.config.endpoints[self._offset - 1],
                    self.current_endpoints[0])
        self._connected.clear()
        self._init_channel_attrs()
        await self.connect()
        if old_watcher is not None:
            await old_watcher._terminate_stream(aetcd.ConnectionFailedError("failed over"))  # noqa: SLF001
        if old_channel is not None:
            asyncio.get_running_loop().create_task(_close_later(old_channel))


async def _close_later(channel: grpc.aio.Channel) -> None:
    """Give calls in flight on the old channel their deadline, then close it."""
    with contextlib.suppress(Exception):
        await channel.close(grace=5.0)


async def connect(config: EtcdConfig) -> EtcdClient:
    client = EtcdClient(config)
    await client.connect()
    client.follow_encryption_config()
    return client
