"""An etcd cluster of 1, 3 or 5 local processes on 127.0.0.1: chaos tests without Docker.

The binary is the one kubelite embeds (``kubelite.etcd.server.find_etcd_binary``, so
``ETCD_BIN`` picks another). A member can be killed (SIGKILL), restarted on its data dir and
ports, or frozen (SIGSTOP/SIGCONT); members share the host's network, so a partition is not
possible here (:meth:`LocalEtcdCluster.disconnect` raises :class:`NotSupported`, and the
partition fault is then skipped with that reason).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kubelite.etcd.server import find_etcd_binary, free_port
from kubelite.testing.etcd import find_leader
from kubelite.util import clock


class NotSupported(RuntimeError):
    """This fault cannot be injected on this kind of cluster (the message says why)."""


@dataclass
class LocalMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class LocalEtcdCluster:
    """``size`` etcd processes under ``tmp``; same interface as :class:`kubelite.testing.etcd.EtcdCluster`."""

    kind = "local"

    def __init__(self, tmp: Path, size: int = 3) -> None:
        self.size = size
        self.tmp = tmp
        self.token = f"kubelite-chaos-{uuid.uuid4().hex[:8]}"
        self.members: list[LocalMember] = []

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(m.endpoint for m in self.members)

    def start(self) -> None:
        self.members = [LocalMember(f"{self.token}-etcd{i}", free_port(), free_port(), self.tmp / f"etcd{i}")
                        for i in range(1, self.size + 1)]
        try:
            for member in self.members:
                self._spawn(member)
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, member: LocalMember) -> None:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        client_url = f"http://{member.endpoint}"
        member.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [str(find_etcd_binary()), f"--name={member.name}", f"--data-dir={member.data_dir / 'data'}",
                f"--listen-client-urls={client_url}", f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={member.peer_url}", f"--initial-advertise-peer-urls={member.peer_url}",
                f"--initial-cluster={initial}", "--initial-cluster-state=new",
                f"--initial-cluster-token={self.token}", "--heartbeat-interval=100", "--election-timeout=1000"]
        with open(member.data_dir / "etcd.log", "ab") as log:
            # Not die_with_parent: restarts run in worker threads, whose exit would kill the member.
            member.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=member.data_dir)

    def stop(self) -> None:
        for member in self.members:
            if member.popen is not None and member.popen.poll() is None:
                os.kill(member.popen.pid, signal.SIGCONT)  # a frozen member cannot die otherwise
                member.popen.kill()
                member.popen.wait(10)

    def wait_healthy(self, timeout: float = 30.0, members: list[LocalMember] | None = None) -> None:
        deadline = clock.Deadline(timeout)
        pending = list(members or self.members)
        while pending:
            if deadline.expired():
                raise AssertionError(f"etcd members not healthy in {timeout}s: {[m.name for m in pending]}")
            pending = [m for m in pending if not self._healthy(m)]
            time.sleep(0.2)

    def _healthy(self, member: LocalMember) -> bool:
        try:
            with urllib.request.urlopen(f"http://{member.endpoint}/health", timeout=1) as response:
                return b'"true"' in response.read()
        except OSError:
            return False

    async def leader(self) -> LocalMember:
        return await find_leader(self.members)

    def kill(self, member: LocalMember) -> None:
        if member.popen is not None and member.popen.poll() is None:
            member.popen.kill()
            member.popen.wait(10)

    def restart(self, member: LocalMember) -> None:
        self.kill(member)
        self._spawn(member)
        self.wait_healthy(members=[member])

    def pause(self, member: LocalMember) -> None:
        assert member.popen is not None
        os.kill(member.popen.pid, signal.SIGSTOP)

    def unpause(self, member: LocalMember) -> None:
        assert member.popen is not None
        os.kill(member.popen.pid, signal.SIGCONT)

    def disconnect(self, member: LocalMember) -> None:
        raise NotSupported("local etcd processes share the host network: a partition needs etcd in containers")

    def reconnect(self, member: LocalMember) -> None:
        raise NotSupported("local etcd processes share the host network: a partition needs etcd in containers")
