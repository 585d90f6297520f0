"""Clients and stores against the real etcd of the ``etcd`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kubelite.bootstrap import ensure_system_namespaces
from kubelite.etcd_client import EtcdClient, EtcdConfig, connect
from kubelite.etcd_server import EmbeddedEtcd
from kubelite.store import Store


@pytest.fixture
async def etcd_client(etcd: EmbeddedEtcd) -> AsyncIterator[EtcdClient]:
    client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=3.0))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def store(etcd_client: EtcdClient) -> Store:
    store = Store(etcd_client)
    await ensure_system_namespaces(store)
    return store
