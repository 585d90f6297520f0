"""Fixtures for controller tests: a store on the test's etcd, in-process controller
managers, and fake kubelets (tests/controllers/fake_kubelet.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from controllers.context import Settings
from controllers.manager import ControllerManager, ManagerConfig
from kubelite.etcd.client import EtcdConfig
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.storage.store import Store
from tests.controllers.fake_kubelet import FakeKubelet

FAST = Settings(default_not_ready_toleration_seconds=2, default_unreachable_toleration_seconds=2, node_monitor_grace_seconds=0.5, resync_seconds=300)


MakeManager = Callable[..., Awaitable[ControllerManager]]


@pytest.fixture
async def make_manager(etcd: EmbeddedEtcd) -> AsyncIterator[MakeManager]:
    """Start in-process managers (each with its own etcd client); all stopped after the test."""
    managers: list[ControllerManager] = []

    async def make(identity: str = "cm-1", *, settings: Settings = FAST, lease_ttl: int = 3,
                   controllers: tuple[str, ...] | None = None, wait_leading: bool = True) -> ControllerManager:
        kwargs: dict[str, Any] = {}
        if controllers is not None:
            kwargs["controllers"] = controllers
        config = ManagerConfig(etcd=EtcdConfig(endpoints=(etcd.endpoint,), timeout=3.0), identity=identity,
                               listen="127.0.0.1:0", lease_ttl=lease_ttl, settings=settings, **kwargs)
        manager = ControllerManager(config)
        managers.append(manager)
        await manager.start()
        if wait_leading:
            import asyncio
            await asyncio.wait_for(manager.wait_leading(), 10)
        return manager

    try:
        yield make
    finally:
        for manager in reversed(managers):
            await manager.stop()


@pytest.fixture
async def manager(make_manager: MakeManager) -> ControllerManager:
    return await make_manager()


MakeKubelet = Callable[..., Awaitable[FakeKubelet]]


@pytest.fixture
async def make_kubelet(store: Store) -> AsyncIterator[MakeKubelet]:
    kubelets: list[FakeKubelet] = []

    async def make(name: str, **kwargs: Any) -> FakeKubelet:
        kubelet = FakeKubelet(store, name, **kwargs)
        kubelets.append(kubelet)
        await kubelet.start()
        return kubelet

    try:
        yield make
    finally:
        for kubelet in kubelets:
            await kubelet.stop()
