"""``python -m kubelite.gateway`` as a process: serves, answers /readyz, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

from kubelite.etcd.server import EmbeddedEtcd, free_port
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(90)


async def test_process_serves_and_stops_on_sigterm(etcd: EmbeddedEtcd) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubelite.gateway", "--etcd-endpoints", etcd.endpoint, "--listen", f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    return r.status == 200

            await wait_for(ready, timeout=30, ignore=(aiohttp.ClientError,), message="gateway /readyz")
            async with http.get(f"http://127.0.0.1:{port}/api/v1/namespaces/kube-system") as r:
                assert r.status == 200  # system namespaces ensured at start
            watch = await http.get(f"http://127.0.0.1:{port}/api/v1/pods?watch=1")  # an open stream
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 15) == 0
            watch.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_default_toleration_flags_reach_the_gateways_admission() -> None:
    from kubelite.gateway.__main__ import config_from_args, parse_args
    from kubelite.registry.strategy import Admission

    args = parse_args(["--default-not-ready-toleration-seconds", "7", "--default-unreachable-toleration-seconds", "0"])
    assert config_from_args(args).admission == Admission(default_not_ready_toleration_seconds=7,
                                                         default_unreachable_toleration_seconds=0)
    assert config_from_args(parse_args([])).admission == Admission(300, 300)  # kube-apiserver's defaults


def test_controller_manager_toleration_flags() -> None:
    from controllers.__main__ import config_from_args, parse_args

    settings = config_from_args(parse_args(["--toleration-seconds", "2"])).settings
    assert (settings.default_not_ready_toleration_seconds, settings.default_unreachable_toleration_seconds) == (2, 2)
    settings = config_from_args(parse_args(["--default-unreachable-toleration-seconds", "9"])).settings
    assert (settings.default_not_ready_toleration_seconds, settings.default_unreachable_toleration_seconds) == (300, 9)


BAD_FLAGS = [  # (module, flags, what the one line must name); none of these may reach etcd
    ("kubelite.gateway", ["--listen", "127.0.0.1:99999"], "--listen"),
    ("kubelite.gateway", ["--listen", "nowhere"], "--listen"),
    ("kubelite.gateway", ["--request-header-timeout", "inf"], "--request-header-timeout"),
    ("kubelite.gateway", ["--request-body-timeout", "0"], "--request-body-timeout"),
    ("kubelite.gateway", ["--default-not-ready-toleration-seconds", "-1"], "--default-not-ready-toleration-seconds"),
    ("kubelite.gateway", ["--default-unreachable-toleration-seconds", str(2**63)],
     "--default-unreachable-toleration-seconds"),
    ("kubelite.gateway", ["--default-unreachable-toleration-seconds", "5m"], "--default-unreachable-toleration-seconds"),
    ("kubelite.gateway", ["--etcd-compaction-interval", "soon"], "--etcd-compaction-interval"),
    ("kubelite.gateway", ["--token-file", "/nonexistent/tokens.csv"], "--token-file"),
    ("kubelite.gateway", ["--agent-secret-file", "/"], "--agent-secret-file"),
    ("kubelite.gateway", ["--tls-cert", "/nonexistent.crt", "--tls-key", "/nonexistent.key"], "--tls-cert"),
    ("controllers", ["--listen", "127.0.0.1:99999"], "--listen"),
    ("controllers", ["--listen", "nowhere"], "--listen"),
    ("controllers", ["--toleration-seconds", "-3"], "--toleration-seconds"),
    ("controllers", ["--default-not-ready-toleration-seconds", str(2**63)], "--default-not-ready-toleration-seconds"),
    ("controllers", ["--node-monitor-grace-period", "-1"], "--node-monitor-grace-period"),
    ("controllers", ["--lease-ttl", "0"], "--lease-ttl"),
    ("controllers", ["--resync-period", "nan"], "--resync-period"),
    ("controllers", ["--scheduler-workers", "0"], "--scheduler-workers"),
    ("controllers", ["--controllers", "scheduler,nope"], "unknown controllers: nope"),
    ("controllers", ["--etcd-compaction-interval", "-5"], "--etcd-compaction-interval"),
    ("agent", ["--node", "n", "--runtime", "sim", "--token-file", "/nonexistent/token"], "--token-file"),
    ("agent", ["--node", "n", "--runtime", "sim", "--agent-secret-file", "/"], "--agent-secret-file"),
    ("agent", ["--node", "n", "--runtime", "sim", "--listen", "127.0.0.1:99999"], "--listen"),
    ("agent", ["--node", "n", "--runtime", "sim", "--container-log-max-size", "0"], "--container-log-max-size"),
    ("agent", ["--node", "n", "--runtime", "sim", "--container-log-max-files", "1"], "--container-log-max-files"),
    ("agent", ["--node", "n", "--runtime", "sim", "--eviction-monitoring-interval", "nan"],
     "--eviction-monitoring-interval"),
    ("agent", ["--node", "n", "--runtime", "sim", "--eviction-pressure-transition-period", "-1"],
     "--eviction-pressure-transition-period"),
    ("agent", ["--node", "n", "--runtime", "sim", "--lease-ttl", "0"], "--lease-ttl"),
]


@pytest.mark.parametrize(("module", "flags", "flag"), BAD_FLAGS, ids=[f"{m}{' '.join(f)}" for m, f, _ in BAD_FLAGS])
async def test_bad_flag_values_exit_with_one_line_naming_the_flag(module: str, flags: list[str], flag: str) -> None:
    # etcd endpoint of nothing: a bad flag must be refused before any etcd call, not as a connection error.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "--etcd-endpoints", "127.0.0.1:1", *flags,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    last = err.decode().strip().splitlines()[-1]
    assert proc.returncode not in (0, None)
    assert "Traceback" not in err.decode(), err.decode()
    assert flag in last and "etcd" not in last.replace("--etcd-compaction-interval", ""), last


def test_listen_addresses_split_in_one_place() -> None:
    from kubelite.util.listen import split_host_port

    assert split_host_port("[::1]:0", flag="--listen") == ("::1", 0)
    assert split_host_port(":10257", flag="--listen", default_host="127.0.0.1") == ("127.0.0.1", 10257)
    for bad in ("127.0.0.1", "127.0.0.1:65536", "host:http", ":80"):
        with pytest.raises(ValueError, match="--listen"):
            split_host_port(bad, flag="--listen")


async def test_a_failed_start_leaves_nothing_running(etcd: EmbeddedEtcd) -> None:
    """A taken port fails the start after the watch hubs, HTTP session and etcd client exist; they
    must be undone, or ``asyncio.run`` waits on them forever (the process hung 1 time in 4)."""
    import socket

    from kubelite.gateway.app import Gateway
    from kubelite.util.listen import ListenError
    from tests.gateway.conftest import gateway_config

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        before = asyncio.all_tasks()
        gateway = Gateway(gateway_config(etcd, port=taken.getsockname()[1]))
        with pytest.raises(ListenError):
            await gateway.start()
    await wait_for(lambda: not (asyncio.all_tasks() - before), timeout=10,
                   message=f"tasks left by a failed start: {asyncio.all_tasks() - before}")
    assert gateway.state is not None and gateway._http is None and gateway._client is None


async def test_a_port_past_65535_at_bind_is_a_listen_error() -> None:
    """The agent parses its own --listen; a port the OS cannot take is still one line, not an OverflowError."""
    from aiohttp import web

    from kubelite.util.listen import ListenError, start_site

    runner = web.AppRunner(web.Application())
    await runner.setup()
    try:
        with pytest.raises(ListenError, match=r"cannot listen on 127\.0\.0\.1:70000: .*--listen HOST:PORT"):
            await start_site(runner, "127.0.0.1", 70000, what="agent", flag="--listen")
    finally:
        await runner.cleanup()
