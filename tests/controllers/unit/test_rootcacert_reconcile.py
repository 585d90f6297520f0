"""The root-ca-cert-publisher's reconcile on the in-memory Store: a ``kube-root-ca.crt`` ConfigMap with
the controller-manager's CA in every namespace, put back when edited (its data replaced, a user's
annotation kept) or deleted, nothing new in a Terminating namespace. Keys are namespace names."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.core import Namespace
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import CONFIGMAPS, NAMESPACES

from controllers.context import Settings
from controllers.rootcacert import RootCACertPublisher
from controllers.rootcacert_plan import DESCRIPTION, DESCRIPTION_ANNOTATION, KEY, NAME
from tests.controllers.unit.conftest import MakeWorld, World
from tests.controllers.unit.stores import CountingStore

pytestmark = pytest.mark.timeout(30)

CA = "-----BEGIN CERTIFICATE-----\nMIIBunittest\n-----END CERTIFICATE-----\n"


async def publisher(make_world: MakeWorld, store: CountingStore | None = None) -> World[RootCACertPublisher]:
    return await make_world(RootCACertPublisher, store=store, settings=Settings(root_ca=CA))


async def published(world: World[Any], namespace: str = "default") -> dict[str, Any]:
    return (await world.store.get(CONFIGMAPS, NAME, namespace)).to_dict()


async def test_every_namespace_gets_the_ca_config_map(make_world: MakeWorld) -> None:
    world = await publisher(make_world)
    await world.store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="team")))
    for name in ("default", "kube-public", "team"):
        await world.reconcile(name)
        doc = await published(world, name)
        assert doc["data"] == {KEY: CA}
        assert doc["metadata"]["annotations"] == {DESCRIPTION_ANNOTATION: DESCRIPTION}
        await world.assert_idempotent(name)


async def test_an_edited_config_map_is_restored_keeping_other_annotations(make_world: MakeWorld) -> None:
    world = await publisher(make_world)
    await world.reconcile("default")
    original = await published(world)

    def tamper(cm: Any) -> Any:
        doc = cm.to_dict()
        doc["data"] = {KEY: "not the CA", "extra": "x"}
        doc["binaryData"] = {"blob": "AAE="}
        doc["metadata"]["annotations"] = {"team.example.com/owner": "ops"}
        return CONFIGMAPS.model.model_validate(doc)
    await world.store.guaranteed_update(CONFIGMAPS, NAME, "default", tamper)
    await world.reconcile("default")
    restored = await published(world)
    assert restored["metadata"]["uid"] == original["metadata"]["uid"]  # updated, not re-created
    assert restored["data"] == {KEY: CA} and "binaryData" not in restored
    assert restored["metadata"]["annotations"] == {"team.example.com/owner": "ops", DESCRIPTION_ANNOTATION: DESCRIPTION}
    await world.assert_idempotent("default")


async def test_a_deleted_config_map_is_recreated(make_world: MakeWorld) -> None:
    world = await publisher(make_world)
    await world.reconcile("default")
    first = await published(world)
    await world.store.delete(CONFIGMAPS, NAME, "default")
    await world.reconcile("default")
    again = await published(world)
    assert again["metadata"]["uid"] != first["metadata"]["uid"] and again["data"] == {KEY: CA}
    await world.assert_idempotent("default")


async def test_a_terminating_namespace_gets_nothing_new(make_world: MakeWorld) -> None:
    store = CountingStore()
    world = await publisher(make_world, store)
    await world.store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="team")))
    await world.store.delete(NAMESPACES, "team")  # Terminating while its finalizer (no controller here) holds it
    await world.reconcile("team")
    await world.reconcile("gone")
    # refused with 403 in a Terminating namespace, which the controller ignores: only the attempts tell
    assert store.creates[CONFIGMAPS.plural] == 0
