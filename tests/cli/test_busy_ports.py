"""Every process whose port is taken says so in one line naming the flag, and exits 1
(issue 9: a second controller-manager on its default port ended in a traceback).

Real processes (``python -m ...``) against a real etcd; the port is held by a socket of
the test, on 127.0.0.1, so no fixed port of the machine is ever needed."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelite.etcd.server import EmbeddedEtcd

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def argv_for(component: str, etcd: str, port: int, tmp_path: Path) -> list[str]:
    listen = ["--listen", f"127.0.0.1:{port}", "--etcd-endpoints", etcd]
    if component == "controller-manager":
        return [sys.executable, "-m", "controllers", *listen, "--id", "second"]
    if component == "gateway":
        return [sys.executable, "-m", "kubelite.gateway", *listen]
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    return [sys.executable, "-m", "agent", "--node", "busy", "--runtime", "sim", *listen, "--token-file", str(token)]


def control_plane_argv(busy: str, etcd: str, port: int) -> list[str]:
    """kl up's process (controllers.controlplane) with ``busy``'s port taken, the other's free."""
    ports = {name: f"127.0.0.1:{port if name == busy else 0}" for name in ("gateway", "controller-manager")}
    return [sys.executable, "-m", "controllers.controlplane",
            "--gateway", "--listen", ports["gateway"], "--etcd-endpoints", etcd,
            "--controller-manager", "--listen", ports["controller-manager"], "--etcd-endpoints", etcd, "--id", "second"]


@pytest.mark.parametrize(("process", "component"), [
    ("controller-manager", "controller-manager"), ("gateway", "gateway"), ("agent", "agent"),
    ("control-plane", "gateway"), ("control-plane", "controller-manager")])
async def test_busy_port_is_one_line_naming_the_flag(
    process: str, component: str, busy_port: int, etcd: EmbeddedEtcd, tmp_path: Path,
) -> None:
    argv = (control_plane_argv(component, etcd.endpoint, busy_port) if process == "control-plane"
            else argv_for(component, etcd.endpoint, busy_port, tmp_path))
    result = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=90)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {component} cannot listen on 127.0.0.1:{busy_port}: address already in use "
                      f"(another {component} running?); choose another address with --listen HOST:PORT "
                      "(port 0: any free port)"], output


def test_kl_control_plane_runs_the_one_process_with_its_flags() -> None:
    """``kl control-plane`` execs controllers.controlplane with the arguments as given: without its
    two markers it prints the usage line and exits 2."""
    from tests.cli.cluster import kl_argv
    from controllers.controlplane import USAGE

    result = subprocess.run(kl_argv("control-plane", "--listen", "127.0.0.1:0"), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == USAGE and "Traceback" not in result.stderr
