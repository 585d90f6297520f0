"""Docker Engines a chaos test may stop and start: :class:`DockerEngine` (any engine, given its
URL and either its pid or a restart command) and :class:`PrivateDockerd` (an engine of the
test's own, so a shared engine is never touched).

A ``PrivateDockerd`` runs ``dockerd`` with its own ``--host`` unix socket, ``--data-root``,
``--exec-root`` and ``--pidfile`` under a short directory in /tmp (socket paths are limited to
108 bytes); a bridge of its own (``kld<hex>``, 10.247.X.1/24 with X random, made before it starts
and deleted after it stopped: the docker runtime needs each pod sandbox to get an IP, so
``--bridge none`` would not do) and ``--iptables=false`` (it writes no host rules: its
containers reach each other and the host, nothing beyond); storage driver ``vfs`` (works on any
filesystem, overlay included; the images it holds are a few MB) and a cgroup parent of its own.
Images come from the shared engine with ``docker save`` → ``load`` (there is no registry).
The Docker SDK (docker-py, already kubelite's Docker client) talks to both.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker

from kubelite.util import clock


class EngineError(RuntimeError):
    """An engine that does not stop or answer in time."""


def _answers(url: str) -> bool:
    try:
        client = docker.DockerClient(base_url=url, timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means: not answering yet
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child (ours, not yet reaped) is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


@dataclass
class DockerEngine:
    """An engine at ``url`` (``unix:///path`` or ``tcp://``) that a fault may stop and start.

    Either ``restart_command`` (e.g. ``["systemctl", "restart", "docker"]``: :meth:`stop` does
    nothing and :meth:`start` runs it) or ``pid``/``pid_file`` of the dockerd process:
    :meth:`stop` sends SIGTERM (containers stop with it, as on a host) and waits until it exited;
    :meth:`start` runs it again with the command line it had. Both wait with deadlines."""

    url: str
    pid: int | None = None
    pid_file: Path | None = None
    restart_command: Sequence[str] | None = None
    log_path: Path | None = None
    stop_timeout: float = 60.0
    start_timeout: float = 60.0
    _argv: list[str] = field(default_factory=list, init=False, repr=False)
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def attach(self, popen: subprocess.Popen[bytes]) -> None:
        """The engine is this child of ours (so stopping it reaps it)."""
        self._popen = popen

    def current_pid(self) -> int | None:
        if self.pid_file is not None:
            try:
                return int(self.pid_file.read_text().strip())
            except (OSError, ValueError):
                return None
        return self.pid

    def answers(self) -> bool:
        return _answers(self.url)

    def stop(self) -> str:
        """Stop the engine; what was stopped. EngineError when it does not exit in time."""
        if self.restart_command is not None:
            return f"Docker Engine at {self.url} (restarted by {' '.join(self.restart_command)} on heal)"
        pid = self.current_pid()
        if pid is None or not _alive(pid):
            raise EngineError(f"no dockerd process for {self.url} (pid {pid})")
        self._argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        os.kill(pid, signal.SIGTERM)
        if self._popen is not None and self._popen.pid == pid:
            self._popen.wait(self.stop_timeout)
        deadline = clock.Deadline(self.stop_timeout)
        while _alive(pid):
            if deadline.expired():
                raise EngineError(f"dockerd {pid} did not exit {self.stop_timeout}s after SIGTERM")
            time.sleep(0.05)
        return f"dockerd {pid} at {self.url}"

    def start(self) -> None:
        """Start the engine again and wait until it answers a ping."""
        if self.restart_command is not None:
            subprocess.run(list(self.restart_command), check=True, timeout=self.start_timeout,  # noqa: S603
                           capture_output=True)
        else:
            if not self._argv:
                raise EngineError("start() before stop(): the engine's command line is not known")
            log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115 - the child holds it
            try:
                self._popen = subprocess.Popen(self._argv, stdin=subprocess.DEVNULL, stdout=log,  # noqa: S603
                                               stderr=subprocess.STDOUT, start_new_session=True)
            finally:
                log.close()
            self.pid = self._popen.pid
        self.wait_answers()

    def wait_answers(self) -> float:
        """Seconds until the engine answered; EngineError after ``start_timeout``."""
        began = clock.monotonic()
        while not self.answers():
            if self._popen is not None and self._popen.poll() is not None:
                raise EngineError(f"dockerd exited ({self._popen.returncode}) before answering at {self.url}")
            if clock.monotonic() - began > self.start_timeout:
                raise EngineError(f"the Docker Engine at {self.url} did not answer within {self.start_timeout}s")
            time.sleep(0.1)
        return clock.monotonic() - began


def private_dockerd_problem() -> str | None:
    """Why a private dockerd cannot run here (``None`` when it can)."""
    if shutil.which("dockerd") is None:
        return "no dockerd binary (apt-get install docker.io)"
    if os.geteuid() != 0:
        return "a private dockerd needs root"
    return None


class PrivateDockerd:
    """A dockerd of the test's own; :meth:`start` returns once it answers and holds ``images``;
    :meth:`close` stops it and removes its directory whatever happened."""

    def __init__(self, images: Sequence[str] = ("kubelite/demo:latest",)) -> None:
        self.images = tuple(images)
        self.dir = Path(tempfile.mkdtemp(prefix="kld-"))  # short: the sockets live below it
        tag = uuid.uuid4().hex[:6]
        self.name = f"kl-chaos-{tag}"
        self.bridge = f"kld{tag}"
        self.gateway = f"10.247.{random.Random().randrange(1, 255)}.1/24"  # noqa: S311 - a subnet, not a secret
        self.engine = DockerEngine(url=f"unix://{self.dir}/docker.sock", pid_file=self.dir / "docker.pid",
                                   log_path=self.dir / "dockerd.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.engine.url

    def argv(self) -> list[str]:
        return ["dockerd", "--host", self.url, "--data-root", str(self.dir / "data"),
                "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.dir / "docker.pid"),
                "--bridge", self.bridge, "--iptables=false", "--ip6tables=false", "--ip-masq=false",
                "--storage-driver", "vfs", "--cgroup-parent", self.name, "--containerd-namespace", self.name,
                "--containerd-plugins-namespace", f"{self.name}-plugins"]

    def start(self) -> None:
        problem = private_dockerd_problem()
        if problem is not None:
            raise EngineError(problem)
        for command in (["ip", "link", "add", self.bridge, "type", "bridge"],
                        ["ip", "addr", "add", self.gateway, "dev", self.bridge], ["ip", "link", "set", self.bridge, "up"]):
            subprocess.run(command, check=True, capture_output=True, timeout=30)  # noqa: S603
        with open(self.engine.log_path or os.devnull, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,  # noqa: S603
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.engine.attach(self.proc)
        self.engine.wait_answers()
        self._load_images()

    def _load_images(self) -> None:
        shared = docker.from_env(timeout=120)
        private = docker.DockerClient(base_url=self.url, timeout=120)
        try:
            for name in self.images:
                private.images.load(b"".join(shared.images.get(name).save(named=True)))
        finally:
            shared.close()
            private.close()

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=30)

    def close(self) -> None:
        """SIGTERM the engine (whatever pid it has now), wait, unmount what it left, remove its directory."""
        pid = self.engine.current_pid() or (self.proc.pid if self.proc else None)
        try:
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGTERM)
                for popen in (self.proc, self.engine._popen):
                    if popen is not None and popen.pid == pid:
                        popen.wait(60)
                deadline = clock.Deadline(60)
                while _alive(pid) and not deadline.expired():
                    time.sleep(0.05)
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        finally:
            for popen in (self.proc, self.engine._popen):
                if popen is not None and popen.poll() is None:
                    popen.kill()
                    popen.wait(10)
            unmount_below(self.dir)
            shutil.rmtree(self.dir, ignore_errors=True)
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)  # noqa: S603,S607


def unmount_below(directory: Path) -> None:
    """Lazily unmount whatever is mounted below ``directory`` (a killed engine's netns files, a
    runtime's overlay roots), deepest first, so the directory can be removed."""
    try:
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    except OSError:
        return
    for point in sorted((m for m in mounts if m.startswith(f"{directory}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)  # noqa: S603,S607
