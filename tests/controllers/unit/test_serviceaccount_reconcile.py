"""The serviceaccounts controller's reconcile on the in-memory Store: every active namespace gets a
``default`` ServiceAccount, one deleted is re-created, an existing one (and any other account) is left
as it is, and a Terminating namespace gets nothing new. Keys are namespace names. The real-etcd test
(tests/controllers/test_serviceaccount.py) stays as it is."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.core import Namespace
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import NAMESPACES, SERVICEACCOUNTS

from controllers.serviceaccount import ServiceAccountController
from tests.controllers.unit.conftest import MakeWorld, World
from tests.controllers.unit.stores import CountingStore

pytestmark = pytest.mark.timeout(30)


async def accounts(world: World[Any], namespace: str) -> dict[str, str]:
    """name → uid."""
    return {sa.name: sa.metadata.uid or "" for sa in (await world.store.list(SERVICEACCOUNTS, namespace)).items}


async def test_every_namespace_gets_a_default_account(make_world: MakeWorld) -> None:
    world = await make_world(ServiceAccountController)
    await world.store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="team")))
    for name in ("default", "kube-system", "team"):
        await world.reconcile(name)
        assert list(await accounts(world, name)) == ["default"], name
        await world.assert_idempotent(name)


async def test_a_deleted_default_account_is_recreated_and_others_are_left_alone(make_world: MakeWorld) -> None:
    world = await make_world(ServiceAccountController)
    await world.store.create(SERVICEACCOUNTS, SERVICEACCOUNTS.model.model_validate({
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder", "namespace": "default"}}))
    await world.reconcile("default")
    first = await accounts(world, "default")
    assert sorted(first) == ["builder", "default"]

    await world.store.delete(SERVICEACCOUNTS, "default", "default")
    await world.reconcile("default")
    again = await accounts(world, "default")
    assert sorted(again) == ["builder", "default"]
    assert again["default"] != first["default"]  # a new object
    assert again["builder"] == first["builder"]
    await world.assert_idempotent("default")


async def test_a_terminating_namespace_gets_no_new_account(make_world: MakeWorld) -> None:
    store = CountingStore()
    world = await make_world(ServiceAccountController, store=store)
    await world.store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="team")))
    await world.store.delete(NAMESPACES, "team")  # Terminating while its finalizer (no controller here) holds it
    await world.reconcile("team")
    await world.reconcile("gone")  # a namespace that does not exist: nothing to do
    # refused with 403 in a Terminating namespace, which the controller ignores: only the attempts tell
    assert store.creates[SERVICEACCOUNTS.plural] == 0
    assert await accounts(world, "team") == {}
