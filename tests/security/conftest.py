"""Fixtures for the security tests: certificates made for the test, and kubelite processes
(the chaos harness) against a single embedded etcd."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import docker
import pytest

from kubelite.etcd.server import EmbeddedEtcd
from kubelite.testing import Processes, EtcdAccess
from tests.integration.test_etcd_security import make_pki


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    """ca.crt, server.crt/key (127.0.0.1, localhost), client.crt/key — valid for a day."""
    return make_pki(tmp_path / "pki")


@pytest.fixture
async def processes(etcd: EmbeddedEtcd, tmp_path: Path,
                    docker_client: docker.DockerClient) -> AsyncIterator[Processes]:
    cluster = Processes(EtcdAccess((etcd.endpoint,)), tmp_path, docker_client)
    try:
        yield cluster
    finally:
        await cluster.close()
