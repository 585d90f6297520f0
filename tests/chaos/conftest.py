"""The 3-member etcd cluster fixture for chaos tests (real containers, torn down after each test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import pytest

from kubelite.testing import ETCD_IMAGE, EtcdAccess, EtcdCluster, Processes
from tests.strict_etcd import strict_problems


@pytest.fixture
def etcd_cluster(docker_client: docker.DockerClient) -> Iterator[EtcdCluster]:
    try:
        docker_client.images.get(ETCD_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {ETCD_IMAGE} is missing: run `kl images build etcd` (scripts/setup.sh does)")
    cluster = EtcdCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def chaos(etcd_cluster: EtcdCluster, tmp_path: Path,
                docker_client: docker.DockerClient) -> AsyncIterator[Processes]:
    """kubelite's processes against the 3-member etcd; all stopped (and their containers removed) after."""
    cluster = Processes(EtcdAccess(etcd_cluster.endpoints), tmp_path, docker_client)
    try:
        yield cluster
        # whatever the faults, everything the processes stored is Kubernetes JSON kube-apiserver accepts
        problems = await strict_problems((await cluster.connect_store()).client)
        assert problems == [], "objects in etcd that kube-apiserver would refuse:\n" + "\n".join(problems[:30])
    finally:
        await cluster.close()
