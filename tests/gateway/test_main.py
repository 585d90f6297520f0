"""``python -m kubelite.gateway`` as a process: serves, answers /readyz, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

from kubelite.etcd_server import EmbeddedEtcd, free_port
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
    from kubelite.strategy import Admission

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
