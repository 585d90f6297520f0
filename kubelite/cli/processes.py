"""Child processes of ``kl up``: started with their output in a log file, in a
session of their own (so the terminal's Ctrl-C reaches only ``kl``, which then
stops them in order), killed by the kernel if ``kl`` dies (``setpriv
--pdeathsig``, as for the embedded etcd), and stopped with
SIGTERM then SIGKILL after a grace period.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubelite.etcd.server import die_with_parent
from kubelite.util import clock
from kubelite.util.logs import file_tail


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- kl up: starting {' '.join(self.argv)} at {time.ctime()}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                die_with_parent(list(self.argv)), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        """None while running (or never started)."""
        return self._proc.poll() if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def signal_group(self, sig: int) -> None:
        """Signal the child's whole process group (it leads its own session)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        try:
            os.killpg(self._proc.pid, sig)
        except ProcessLookupError:
            pass

    async def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Returns the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            self.signal_group(signal.SIGTERM)
            deadline = clock.Deadline(grace)
            while proc.poll() is None and not deadline.expired():
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                self.signal_group(signal.SIGKILL)
                await asyncio.to_thread(proc.wait, 10)
        # Grandchildren left in the group (if any) go too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return proc.returncode

    def log_tail(self, lines: int = 15) -> str:
        return file_tail(self.log_path, lines)
