"""Test harness for `kl up`: run it as a child process on free ports with a temp
data dir, wait until it says the cluster is up, stop it with SIGTERM, and
report which of its processes outlived it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelite.etcd.server import free_port
from tests.helpers import wait_for

UP_TIMEOUT = 90.0


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine from a sync test or fixture on a private loop."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def alive(pid: int) -> bool:
    """Whether pid is a live process (a zombie counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(root: int) -> list[int]:
    """Every live descendant of ``root``, from /proc's parent links (the process table)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and alive(int(entry.name)):
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def kl_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "kubelite.cli", *args]


@dataclass
class KlUp:
    data_dir: Path
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def out_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-kl-up.out"

    def output(self) -> str:
        try:
            return self.out_path.read_text()
        except OSError:
            return ""

    @property
    def env(self) -> dict[str, str]:
        return {"KUBELITE_SERVER": self.server, "KUBECONFIG": str(self.data_dir / "no-such-kubeconfig")}

    def start(self) -> None:
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(
                kl_argv("up", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
                        "--ready-timeout", str(UP_TIMEOUT - 10), *self.args),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    async def wait_up(self) -> None:
        def is_up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"kl up exited with {self.proc.returncode}:\n{self.output()}\n"
                                     + self.logs_tail())
            return "kubelite is up" in self.output()

        await wait_for(is_up, timeout=UP_TIMEOUT, interval=0.1, message="kl up to report the cluster up")
        self.state = json.loads((self.data_dir / "up.json").read_text())

    def state_now(self) -> dict[str, Any]:
        """up.json as kl up last wrote it (it rewrites it when a child restarts)."""
        return json.loads((self.data_dir / "up.json").read_text())

    def pids(self) -> list[int]:
        pids = list(self.state.get("processes", {}).values())
        if self.state.get("etcd_pid"):
            pids.append(self.state["etcd_pid"])
        return pids

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM kl up and wait for it; returns its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"kl up did not stop within {timeout:g} s:\n{self.output()}") from None
        return self.proc.returncode

    def kill_leftovers(self) -> None:
        for pid in self.pids():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    def logs_tail(self) -> str:
        parts = []
        for log in sorted((self.data_dir / "logs").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-8:]
            parts.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(parts)
