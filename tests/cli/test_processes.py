"""kl up's process handling and small decisions: stop escalates to SIGKILL, the
whole process group goes, runtime choice, ports and tokens kept in the data dir."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kubelite.cli.errors import CliError
from kubelite.cli.processes import ManagedProcess
from kubelite.cli.up_support import auto_runtime, detect_runtime, ensure_token, etcd_ports, split_host_port
from kubelite.util.listen import is_loopback
from tests.cli.cluster import alive
from tests.helpers import wait_for


async def test_stop_escalates_and_takes_the_process_group(tmp_path: Path) -> None:
    # A child that ignores SIGTERM and has a grandchild of its own.
    pidfile = tmp_path / "grandchild"
    script = f"trap '' TERM; sleep 300 & echo $! > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; wait"
    proc = ManagedProcess("stubborn", ["sh", "-c", script], tmp_path / "logs" / "stubborn.log")
    proc.start()
    try:
        await wait_for(pidfile.exists, timeout=10, message="the grandchild to start")
        grandchild = int(pidfile.read_text())
        assert proc.running and alive(grandchild)
        code = await proc.stop(grace=0.5)
        assert code is not None and code < 0  # killed by a signal
        assert not proc.running and not alive(proc.pid or 0)
        await wait_for(lambda: not alive(grandchild), timeout=5, message="the grandchild to die")
        assert "starting sh -c" in (tmp_path / "logs" / "stubborn.log").read_text()
    finally:
        await proc.stop(grace=0)


async def test_stop_of_a_cooperative_child_is_its_exit_code(tmp_path: Path) -> None:
    proc = ManagedProcess("py", [sys.executable, "-c", "import signal,sys,time\n"
                                 "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\nprint('rea' + 'dy', flush=True)\n"
                                 "time.sleep(300)"], tmp_path / "py.log")
    proc.start()
    # (the log starts with the command line, hence 'rea' + 'dy' there)
    await wait_for(lambda: "\nready" in (tmp_path / "py.log").read_text(), timeout=20, message="child ready")
    assert await proc.stop(grace=10) == 0
    assert "ready" in proc.log_tail()


def test_runtime_choice() -> None:
    assert detect_runtime("sim") == ("sim", "as requested (--runtime sim)")
    runtime, why = detect_runtime("auto")
    assert runtime in ("docker", "oci", "sim") and why
    # auto prefers docker, then oci, then sim, and says why (issue 18)
    assert auto_runtime(None, None) == ("docker", "a Docker Engine answers")
    assert auto_runtime("no Docker Engine answers", None)[0] == "oci"
    runtime, why = auto_runtime("no Docker Engine answers", "the oci runtime needs root")
    assert runtime == "sim" and "no Docker Engine answers" in why and "needs root" in why
    with pytest.raises(CliError, match="unknown runtime"):
        detect_runtime("podman")


def test_addresses() -> None:
    assert split_host_port("127.0.0.1:8080") == ("127.0.0.1", 8080)
    with pytest.raises(CliError, match="HOST:PORT"):
        split_host_port("8080")
    with pytest.raises(CliError, match="0 to 65535"):  # was a bind() OverflowError after etcd had started
        split_host_port("127.0.0.1:99999")
    assert split_host_port("[::1]:8080") == ("[::1]", 8080)
    assert is_loopback("127.0.0.1") and is_loopback("127.0.0.2") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def test_ports_and_token_survive_a_restart(tmp_path: Path) -> None:
    first = etcd_ports(tmp_path)
    assert etcd_ports(tmp_path) == first and first[0] != first[1]
    token = ensure_token(tmp_path)
    assert ensure_token(tmp_path) == token and len(token) >= 20
    assert (tmp_path / "tokens.csv").stat().st_mode & 0o777 == 0o600
