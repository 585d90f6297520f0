"""`kl etcd` runs the embedded etcd in the foreground and stops it on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from kubelite.etcd.server import free_port
from tests.helpers import wait_for


async def test_kl_etcd_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubelite.cli", "etcd", "--data-dir", str(tmp_path / "etcd"),
         "--listen-client", f"127.0.0.1:{port}", "--listen-peer", f"127.0.0.1:{free_port()}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        async def healthy() -> bool:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
                async with session.get(f"http://127.0.0.1:{port}/health") as resp:
                    return (await resp.json(content_type=None)).get("health") == "true"

        await wait_for(healthy, timeout=20, ignore=(aiohttp.ClientError, OSError),
                       message="kl etcd to answer /health")
        etcd_pids = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                    text=True).stdout.split()]
        assert etcd_pids, "etcd should be a child of kl"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert f"etcd listening on 127.0.0.1:{port}" in err
        for pid in etcd_pids:
            assert not os.path.exists(f"/proc/{pid}"), f"etcd (pid {pid}) outlived kl etcd"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
