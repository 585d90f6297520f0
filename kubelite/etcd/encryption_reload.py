"""``--encryption-provider-config-automatic-reload``: follow the EncryptionConfiguration file.

kube-apiserver's DynamicEncryptionConfigContent (k8s.io/apiserver, server/options/encryptionconfig/
controller): the file is re-read, and when its content hash changed it is parsed and checked; a good
file replaces the providers of every later read and write at once, a bad one (not YAML, a wrong key
size, a provider kubelite lacks, missing) leaves the previous configuration in force, with one
error line naming the file and the reason. Reloads are counted under kube's metric names
(``apiserver_encryption_config_controller_automatic_reload*``, see :class:`ReloadCollector`).

Watching: the file is polled — read and hashed (SHA-256) every ``interval`` seconds (5 s by
default; kube polls once a minute). Polling, not inotify, because kube moved to polling for the same
reasons: the file usually sits in a mounted Secret or ConfigMap, which the kubelet updates by an
atomic symlink swap that a watch on the file never sees, and editors replace files by rename; a
content hash also ignores ``touch`` and rewrites of the same text. Reading a file of a few hundred
bytes each few seconds costs nothing, so no watcher library is needed.

Differences from kube: a bad file is reported once per distinct content (one log line, one failure
count) rather than on every rate-limited retry; KMS health checks do not apply (no kms provider).

Every reader of a process holds this object in place of an :class:`~kubelite.etcd.encryption.EncryptionConfig`
(it is the process's ``EtcdConfig.encryption``): each read or write asks it for the transformer of its
resource, so a swap applies to the next call. The polling task runs while at least one etcd client
of the process uses it (:meth:`follow` / :meth:`unfollow`, called by :mod:`kubelite.etcd.client`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kubelite.etcd.encryption import EncryptionConfig, Transformer, parse_config_text
from kubelite.util.supervise import BackgroundTask
from kubelite.util import clock

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 5.0  # seconds between two reads of the file
SUCCESS, FAILURE = "success", "failure"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def identity_hash(identity: str) -> str:
    """kube's getHash: ``sha256:<hex>`` of the server identity ("" stays "")."""
    return f"sha256:{hashlib.sha256(identity.encode()).hexdigest()}" if identity else ""


class ReloadingEncryption:
    """The encryption configuration of one process, re-read from ``path`` when its content changes."""

    def __init__(self, path: Path, initial: EncryptionConfig, initial_hash: str, *,
                 interval: float = DEFAULT_INTERVAL, identity: str | None = None) -> None:
        self.path = path
        self.current = initial
        self.interval = interval
        self.identity = identity if identity is not None else f"kubelite-{uuid.uuid4()}"
        self._hash = initial_hash  # of the configuration in force
        self._failed_hash: str | None = None  # of the last bad content, reported once
        self.reloads = {SUCCESS: 0, FAILURE: 0}
        self.last_reload: dict[str, float] = {}  # status → unix time
        self._users = 0
        self._task = BackgroundTask()

    @classmethod
    def load(cls, path: str | Path, *, interval: float = DEFAULT_INTERVAL,
             identity: str | None = None) -> ReloadingEncryption:
        """Read the file once (ValueError says what is wrong, as :func:`kubelite.etcd.encryption.load_config`)."""
        data = _read(Path(path))
        return cls(Path(path), parse_config_text(data, str(path)), content_hash(data), interval=interval,
                   identity=identity)

    # -- the Encryption protocol: what readers and writers ask -------------------------------------

    @property
    def source(self) -> str:
        return self.current.source

    def transformer(self, plural: str, group: str) -> Transformer | None:
        return self.current.transformer(plural, group)

    # -- reloading -------------------------------------------------------------------------------

    def check(self) -> str | None:
        """Re-read the file: ``"success"`` when a new configuration is now in force, ``"failure"``
        when a changed file was refused (the previous one stays), None when nothing changed."""
        try:
            data = _read(self.path)
        except ValueError as exc:
            return self._refuse(f"missing:{exc}", str(exc))
        digest = content_hash(data)
        if digest == self._hash:
            self._failed_hash = None  # back to the file in force: a later bad edit is reported again
            return None
        try:
            config = parse_config_text(data, str(self.path))
        except ValueError as exc:
            return self._refuse(digest, str(exc))
        self.current, self._hash, self._failed_hash = config, digest, None
        self._record(SUCCESS)
        log.info("encryption config %s reloaded", self.path,
                 extra={"event": "encryption_config_reloaded", "hash": f"sha256:{digest}"})
        return SUCCESS

    def _refuse(self, digest: str, reason: str) -> str | None:
        if digest == self._failed_hash:
            return None
        self._failed_hash = digest
        self._record(FAILURE)
        log.error("encryption config %s not reloaded, keeping the previous configuration: %s", self.path, reason,
                  extra={"event": "encryption_config_reload_failed"})
        return FAILURE

    def _record(self, status: str) -> None:
        self.reloads[status] += 1
        self.last_reload[status] = clock.wall()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await asyncio.to_thread(self.check)

    def follow(self) -> None:
        """One more user (an etcd client): the first starts the polling task."""
        self._users += 1
        self._task.start(f"encryption-config-reload {self.path}", self._poll)

    async def unfollow(self) -> None:
        """One user fewer: the last one stops the polling task and waits for it."""
        self._users = max(self._users - 1, 0)
        if self._users == 0:
            await self._task.stop()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None


class ReloadCollector(Collector):
    """kube's reload metrics (k8s.io/apiserver .../encryptionconfig/metrics), read at scrape time:
    ``apiserver_encryption_config_controller_automatic_reloads_total{status,apiserver_id_hash}``,
    the deprecated (1.30) ``..._automatic_reload_success_total`` / ``..._automatic_reload_failures_total``
    ``{apiserver_id_hash}``, and ``..._automatic_reload_last_timestamp_seconds{status,apiserver_id_hash}``."""

    _PREFIX = "apiserver_encryption_config_controller_"

    def __init__(self, reloader: ReloadingEncryption) -> None:
        self.reloader = reloader

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        r, ident = self.reloader, identity_hash(self.reloader.identity)
        total = CounterMetricFamily(
            f"{self._PREFIX}automatic_reloads", "Total number of reload successes and failures of encryption "
            "configuration split by apiserver identity.", labels=["status", "apiserver_id_hash"])
        stamp = GaugeMetricFamily(
            f"{self._PREFIX}automatic_reload_last_timestamp_seconds", "Timestamp of the last successful or failed "
            "automatic reload of encryption configuration split by apiserver identity.",
            labels=["status", "apiserver_id_hash"])
        for status, count in r.reloads.items():
            if count:  # a labelled series exists once it happened, as in kube
                total.add_metric([status, ident], count)
                stamp.add_metric([status, ident], r.last_reload[status])
        yield total
        yield stamp
        for status, name in ((SUCCESS, "success"), (FAILURE, "failures")):
            old = CounterMetricFamily(
                f"{self._PREFIX}automatic_reload_{name}", f"(Deprecated since 1.30.0) Total number of "
                f"{'successful' if status == SUCCESS else 'failed'} automatic reloads of encryption configuration "
                "split by apiserver identity.", labels=["apiserver_id_hash"])
            if r.reloads[status]:
                old.add_metric([ident], r.reloads[status])
            yield old
