"""The audit log backend: JSON lines to a file (or ``-``: standard output), rotated as kube-apiserver's.

``--audit-log-mode`` as kube-apiserver's: ``blocking`` (its default) writes each event before the
request's answer is sent, so an answered request's event survives a SIGKILL of the gateway (the
line is in the kernel's page cache; not fsynced, as kube's is not); ``batch`` hands lines to a
writer thread (the standard library's ``QueueListener``), so the event loop never waits for the disk,
and events still queued at a SIGKILL are lost. Rotation uses the standard library's
``BaseRotatingHandler`` for the
rotation kube-apiserver gets from lumberjack (``--audit-log-maxsize`` MB, 0: never rotate; the
file is renamed ``<name>-<UTC time>.<ext>``, e.g. ``audit-2026-12-01T02-03-04.567.log``; then the
oldest backups beyond ``--audit-log-maxbackup`` (0: keep all) and those older than
``--audit-log-maxage`` days by the time in their name (0: no limit) are removed). Files are created
mode 0600, as kube's ``ensureLogFile``.
"""

from __future__ import annotations

import datetime
import json
import logging
import logging.handlers
import os
import queue
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelite.gateway.audit_policy import Policy
from kubelite.util.clock import now as clock_now

_STAMP = "%Y-%m-%dT%H-%M-%S"
MODES = ("batch", "blocking")


@dataclass(frozen=True)
class AuditLogOptions:
    """kube-apiserver's ``--audit-log-*`` flags and ``--audit-policy-file``."""

    path: str | None = None  # "-": standard output
    mode: str = "blocking"  # or "batch" (kube's --audit-log-mode)
    policy_file: Path | None = None
    max_size_mb: int = 0
    max_backups: int = 0
    max_age_days: int = 0

    def check(self) -> None:
        for flag, value in (("--audit-log-maxsize", self.max_size_mb), ("--audit-log-maxbackup", self.max_backups),
                            ("--audit-log-maxage", self.max_age_days)):
            if value < 0:
                raise ValueError(f"{flag} {value} can't be a negative number")
        if self.mode not in MODES:
            raise ValueError(f'--audit-log-mode {self.mode}: invalid audit log mode "{self.mode}", '
                             f"allowed modes are \"{', '.join(MODES)}\"")


def backup_name(path: Path, when: datetime.datetime) -> Path:
    """Where a rotated file goes: lumberjack's ``<stem>-<2006-01-02T15-04-05.000>.<ext>`` in UTC."""
    utc = when.astimezone(datetime.UTC)
    stamp = f"{utc.strftime(_STAMP)}.{utc.microsecond // 1000:03d}"
    return path.with_name(f"{path.stem}-{stamp}{path.suffix}")


def backup_time(path: Path, name: str) -> datetime.datetime | None:
    """The rotation time in a backup's name, None when ``name`` is not one of ``path``'s backups."""
    found = re.fullmatch(re.escape(path.stem) + r"-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)\.(\d{3})" + re.escape(path.suffix),
                         name)
    if found is None:
        return None
    when = datetime.datetime.strptime(found.group(1), _STAMP).replace(tzinfo=datetime.UTC)
    return when + datetime.timedelta(milliseconds=int(found.group(2)))


def backups_to_remove(backups: Sequence[tuple[str, datetime.datetime]], *, now: datetime.datetime,
                      max_backups: int, max_age_days: int) -> list[str]:
    """Pure: which backups (name, rotation time) go — beyond the newest ``max_backups`` (0: no limit),
    or older than ``max_age_days`` (0: no limit) — as lumberjack's millRunOnce."""
    newest_first = sorted(backups, key=lambda b: b[1], reverse=True)
    doomed = [name for name, _ in newest_first[max_backups:]] if max_backups > 0 else []
    if max_age_days > 0:
        cutoff = now - datetime.timedelta(days=max_age_days)
        doomed += [name for name, when in newest_first if when < cutoff and name not in doomed]
    return doomed


def _touch_private(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))


class SizeRotatingFile(logging.handlers.BaseRotatingHandler):
    """One line per record; rotation by size with lumberjack's names and pruning."""

    def __init__(self, path: Path, *, max_bytes: int, max_backups: int, max_age_days: int,
                 clock: Callable[[], datetime.datetime] = clock_now) -> None:
        _touch_private(path)
        super().__init__(str(path), "a", encoding="utf-8")
        self.path = path
        self.max_bytes = max_bytes
        self.max_backups = max_backups
        self.max_age_days = max_age_days
        self.clock = clock

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802 - logging's name
        if self.max_bytes <= 0:
            return False
        if self.stream is None:
            self.stream = self._open()
        size = self.stream.tell()
        return size > 0 and size + len(self.format(record).encode()) + 1 > self.max_bytes

    def doRollover(self) -> None:  # noqa: N802 - logging's name
        if self.stream is not None:
            self.stream.close()
            self.stream = None  # logging reopens it
        now = self.clock()
        os.replace(self.path, backup_name(self.path, now))
        _touch_private(self.path)
        self.stream = self._open()
        backups = [(entry.name, when) for entry in self.path.parent.iterdir()
                   if (when := backup_time(self.path, entry.name)) is not None]
        for name in backups_to_remove(backups, now=now, max_backups=self.max_backups,
                                      max_age_days=self.max_age_days):
            try:
                (self.path.parent / name).unlink()
            except FileNotFoundError:
                pass


class AuditLog:
    """The backend: ``start()``, ``write(event)`` from the event loop (``blocking``: written before it
    returns; ``batch``: queued), ``stop()`` flushes."""

    def __init__(self, options: AuditLogOptions) -> None:
        self.options = options
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener: logging.handlers.QueueListener | None = None
        self._handler: logging.Handler | None = None

    def start(self) -> None:
        """Open the file (OSError for a path that cannot be written) and start the writer thread."""
        path = self.options.path
        if path == "-":
            handler: logging.Handler = logging.StreamHandler(sys.stdout)
        else:
            assert path
            handler = SizeRotatingFile(Path(path), max_bytes=self.options.max_size_mb * 1024 * 1024,
                                       max_backups=self.options.max_backups, max_age_days=self.options.max_age_days)
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._handler = handler
        if self.options.mode == "batch":
            self._listener = logging.handlers.QueueListener(self._queue, handler)
            self._listener.start()

    def write(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        record = logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "levelname": "INFO"})
        if self._listener is not None:
            self._queue.put(record)
        elif self._handler is not None:
            self._handler.handle(record)  # StreamHandler flushes each record: in the page cache on return

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()  # writes what is queued, then joins the thread
            self._listener = None
        if self._handler is not None:
            self._handler.close()
            self._handler = None


@dataclass(frozen=True)
class AuditBackend:
    """What the gateway audits with: the policy and the log it writes to."""

    policy: Policy
    log: AuditLog
