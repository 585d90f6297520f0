"""Images brought to a node by hand (issue 18): `kl images load FILE --node N` (kl → gateway's nodes/N/proxy →
the agent's /images/load → the runtime: skopeo into the oci store, `docker load` on docker) and the
directory an agent watches (`--image-dir`); a corrupt archive is one clear line."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubelite.agent_auth import node_token
from kubelite.etcd_server import EmbeddedEtcd
from kubelite.gateway import Gateway
from tests.agent.conftest import StartAgent
from tests.agent.runtimes import RuntimeNode, oci_runtime
from tests.gateway.conftest import gateway_config, stop_or_explain

from agent.images import ImageDirWatcher

pytestmark = pytest.mark.docker

SECRET = "test-agent-secret"
KL = [sys.executable, "-m", "kubelite.cli"]


@pytest.fixture
async def gateway(etcd: EmbeddedEtcd, tmp_path: Path) -> AsyncIterator[Gateway]:
    secret_file = tmp_path / "agent-secret"
    secret_file.write_text(SECRET)
    gw = Gateway(gateway_config(etcd, agent_secret_file=secret_file))
    await gw.start()
    try:
        yield gw
    finally:
        await stop_or_explain(gw)


async def kl(gw: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [*KL, "--server", gw.url, *args], capture_output=True,
                                   text=True, timeout=120, check=False, cwd=Path(__file__).parents[2])


async def test_kl_images_load_into_a_node_and_a_corrupt_archive_is_one_line(
    gateway: Gateway, start_agent: StartAgent, runtime_node: RuntimeNode, oci_root: Path, tmp_path: Path,
) -> None:
    node = runtime_node.node
    runtime = runtime_node.make()
    await start_agent(node, runtime=runtime, token=node_token(SECRET, node))
    archive = oci_root / "demo.tar"  # `docker save kubelite/demo:latest`, made once per session
    loaded = await kl(gateway, "images", "load", str(archive), "--node", node)
    assert (loaded.returncode, loaded.stdout) == (0, "Loaded image: kubelite/demo:latest\n"), loaded.stderr
    assert await runtime.image_present("kubelite/demo:latest")
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tarball at all")
    refused = await kl(gateway, "image", "load", str(junk), "--node", node)
    assert refused.returncode == 1 and refused.stdout == ""
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("Error from server (BadRequest): ") and "junk.tar" in line, line
    assert "not a docker save" in line, line
    missing = await kl(gateway, "images", "load", str(archive), "--node", "nosuchnode")
    assert missing.returncode == 1 and 'nodes "nosuchnode" not found' in missing.stderr


async def test_an_image_directory_loads_what_is_dropped_into_it(oci_root: Path, tmp_path: Path) -> None:
    runtime = oci_runtime(tmp_path / "oci", "watcher")  # a store of its own: it starts empty
    await runtime.start()
    watched = tmp_path / "drop"
    watcher = ImageDirWatcher(runtime, watched)
    await watcher.start()
    try:
        await watcher.stop()  # scans are driven by hand below: no timing to wait for
        shutil.copy(oci_root / "demo.tar", watched / "demo.tar")
        (watched / "junk.tar").write_bytes(b"garbage")
        assert await watcher.scan() == []  # first look: sizes recorded, nothing loaded while it may still grow
        assert await watcher.scan() == ["kubelite/demo:latest"]
        assert await runtime.image_present("kubelite/demo:latest")
        assert (watched / "loaded" / "demo.tar").exists() and not (watched / "demo.tar").exists()
        reason = (watched / "failed" / "junk.tar.error").read_text()
        assert "junk.tar" in reason and "not a docker save or OCI archive" in reason
        assert await watcher.scan() == [] and sorted(p.name for p in watched.iterdir()) == ["failed", "loaded"]
    finally:
        await watcher.stop()
        await runtime.stop()
