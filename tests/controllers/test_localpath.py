"""The local-path provisioner finishes a binding that was interrupted: a claim that got its
volumeName but not its Bound status (the third of its three writes failed, e.g. a conflict with
the scheduler's annotation) becomes Bound, instead of staying Pending for good."""

from __future__ import annotations

from kubelite.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES
from kubelite.storage.store import Store

from controllers import localpath_plan as plan
from tests.controllers.conftest import MakeManager
from tests.helpers import wait_for


async def test_a_claim_left_with_its_volume_name_but_pending_is_finished(
    store: Store, make_manager: MakeManager,
) -> None:
    claim = await store.create(PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMECLAIMS.model.model_validate({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "www-web-0", "namespace": "default"},
        "spec": {"storageClassName": "local-path", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Mi"}}}}))
    doc = claim.to_dict()
    volume = plan.volume_for(doc, {"reclaimPolicy": "Delete"}, "n1")
    await store.create(PERSISTENTVOLUMES, PERSISTENTVOLUMES.model.model_validate(volume))
    # the state a failed status write leaves: volumeName set, status still Pending
    await store.update(PERSISTENTVOLUMECLAIMS,
                       PERSISTENTVOLUMECLAIMS.model.model_validate(plan.bound_claim(doc, volume)))
    await make_manager(controllers=("localpath",))

    async def bound() -> bool:
        status = (await store.get(PERSISTENTVOLUMECLAIMS, "www-web-0", "default")).to_dict().get("status") or {}
        return status.get("phase") == "Bound" and status.get("capacity") == {"storage": "1Mi"}

    await wait_for(bound, 15, message="the claim Bound")
