"""The ReplicationController controller (the ReplicaSet controller through its adapter) on the in-memory
Store: pods owned by the RC, status written to the RC, scale down, adoption, idempotence; and the API's
defaulting of an RC (selector and labels from the template, replicas 1) that the controller relies on."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.resources import PODS, REPLICATIONCONTROLLERS
from kubelite.api.replicationcontroller import validate, with_defaults
from kubelite.client.informer import object_key
from kubelite.gateway.subresources import scale_of

from controllers.replicationcontroller import ReplicationControllerController
from tests.controllers.objects import bare_pod, template
from tests.controllers.unit.conftest import MakeWorld

pytestmark = pytest.mark.timeout(30)


def rc(name: str, replicas: int | None, *, selector: bool = True) -> Any:
    spec: dict[str, Any] = {"template": template(name).to_dict()}
    if replicas is not None:
        spec["replicas"] = replicas
    if selector:
        spec["selector"] = {"app": name}
    return REPLICATIONCONTROLLERS.model.model_validate(
        {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name, "namespace": "default"},
         "spec": spec})


async def test_creates_replicas_owned_by_the_rc_and_writes_its_status(make_world: MakeWorld) -> None:
    world = await make_world(ReplicationControllerController)
    created_rc = await world.store.create(REPLICATIONCONTROLLERS, rc("web", 3))
    key = object_key(created_rc)
    await world.reconcile(key)
    created = await world.pods()
    assert len(created) == 3
    for pod in created:
        ref, = pod.metadata.owner_references or []
        assert (ref.api_version, ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == \
            ("v1", "ReplicationController", "web", created_rc.metadata.uid, True, True)
        assert pod.metadata.labels == {"app": "web"} and pod.name.startswith("web-")
    await world.reconcile(key)
    status = (await world.store.get(REPLICATIONCONTROLLERS, "web", "default")).to_dict()["status"]
    assert status["replicas"] == 3 and status["fullyLabeledReplicas"] == 3 and status["observedGeneration"] == 1
    assert status["readyReplicas"] == 0 and status["availableReplicas"] == 0
    before = world.store.revision
    await world.reconcile(key)  # idempotent: nothing more to do
    assert world.store.revision == before and len(await world.pods()) == 3


async def test_scale_down_deletes_the_surplus_and_adopts_a_matching_orphan(make_world: MakeWorld) -> None:
    world = await make_world(ReplicationControllerController)
    await world.store.create(PODS, bare_pod("orphan", labels={"app": "web"}))
    await world.store.create(PODS, bare_pod("other", labels={"app": "db"}))
    created_rc = await world.store.create(REPLICATIONCONTROLLERS, rc("web", 2))
    key = object_key(created_rc)
    await world.reconcile(key)
    by_name = {p.name: p for p in await world.pods()}
    assert len(by_name) == 3  # the orphan adopted, one created, the db pod left alone
    orphan_ref, = by_name["orphan"].metadata.owner_references or []
    assert (orphan_ref.kind, orphan_ref.uid, orphan_ref.controller) == ("ReplicationController", created_rc.metadata.uid, True)
    assert by_name["other"].metadata.owner_references is None
    current = (await world.store.get(REPLICATIONCONTROLLERS, "web", "default")).to_dict()
    current["spec"]["replicas"] = 1
    await world.store.update(REPLICATIONCONTROLLERS, REPLICATIONCONTROLLERS.model.model_validate(current))
    await world.reconcile(key)
    await world.reconcile(key)
    left = [p for p in await world.pods() if (p.metadata.labels or {}).get("app") == "web"]
    assert len(left) == 1
    status = (await world.store.get(REPLICATIONCONTROLLERS, "web", "default")).to_dict()["status"]
    assert status["replicas"] == 1 and status["observedGeneration"] == 2


async def test_the_store_defaults_an_rc_selector_labels_and_replicas(make_world: MakeWorld) -> None:
    world = await make_world(ReplicationControllerController)
    stored = (await world.store.create(REPLICATIONCONTROLLERS, rc("web", None, selector=False))).to_dict()
    assert stored["spec"]["selector"] == {"app": "web"} and stored["spec"]["replicas"] == 1
    assert stored["metadata"]["labels"] == {"app": "web"}
    await world.reconcile("default/web")
    assert len(await world.pods()) == 1


def test_validation_needs_a_selector_the_template_matches() -> None:
    doc = rc("web", 1).to_dict()
    assert validate(doc) == []
    doc["spec"]["selector"] = {"app": "other"}
    assert [c.field for c in validate(doc)] == ["spec.template.metadata.labels"]
    bare = {"spec": {"replicas": -1}}
    assert [c.field for c in validate(bare)] == ["spec.selector", "spec.template", "spec.replicas"]
    assert with_defaults(bare)["spec"]["replicas"] == -1


def test_the_scale_of_an_rc_reads_its_selector_map() -> None:
    scale = scale_of(rc("web", 2))
    assert scale["spec"] == {"replicas": 2} and scale["status"] == {"replicas": 0, "selector": "app=web"}
