"""Reclaiming local-path volumes (agent/localpath.py with controllers/localpath.py): the pure decision,
the guarded ``rm -rf``, and end to end on a sim agent with a root dir (a real filesystem): a
``Delete`` volume's directory is removed by its node, then the PersistentVolume goes; a ``Retain``
volume stays Released with its data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.localpath import Reclaim, reclaim, remove_directory, under
from controllers import localpath_plan as lp
from kubelite.api import errors
from kubelite.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS, STORAGECLASSES
from kubelite.registry.storageclass import LOCAL_PATH, LOCAL_PATH_PROVISIONER, LOCAL_PATH_ROOT, PROVISIONER_FINALIZER
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent
from tests.controllers.conftest import MakeManager, make_manager  # noqa: F401 - the fixture
from tests.helpers import wait_for

ROOT = "/srv/local"


def volume(*, node: str = "n1", policy: str = "Delete", phase: str | None = "Released", deleting: bool = True,
           finalizer: bool = True, path: str = f"{ROOT}/pvc-u_default_c") -> dict[str, Any]:
    claim = {"metadata": {"name": "c", "namespace": "default", "uid": "u"}, "spec": {"storageClassName": "local-path"}}
    doc = lp.volume_for(claim, {"reclaimPolicy": policy}, node)
    doc["spec"]["hostPath"]["path"] = path
    doc["metadata"]["finalizers"] = [PROVISIONER_FINALIZER] if finalizer else None
    if deleting:
        doc["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    if phase:
        doc["status"] = {"phase": phase}
    return doc


def test_the_node_removes_only_its_own_released_delete_volumes_under_its_root() -> None:
    def decide(doc: dict[str, Any], filesystem: bool = True) -> Reclaim | None:
        return reclaim(doc, node="n1", root=ROOT, filesystem=filesystem)
    assert decide(volume()) == Reclaim(directory=f"{ROOT}/pvc-u_default_c")
    assert decide(volume(), filesystem=False) == Reclaim(directory=None)  # sim without a root dir: finalizer only
    assert decide(volume(deleting=False)) is None
    assert decide(volume(finalizer=False)) is None
    assert decide(volume(node="n2")) is None
    assert decide(volume(phase="Bound")) is None  # deleted by hand while bound: wait for the claim
    assert decide(volume(policy="Retain", phase="Bound")) == Reclaim(directory=None)  # data kept
    for outside in ("/etc", f"{ROOT}", f"{ROOT}/../etc", "relative/path", f"{ROOT}x/y"):
        assert decide(volume(path=outside)) == Reclaim(directory=None), outside
    foreign = volume()
    foreign["metadata"]["annotations"] = {"pv.kubernetes.io/provisioned-by": "someone.else/csi"}
    assert decide(foreign) is None
    assert under(f"{ROOT}/a/b", ROOT) and not under(ROOT, ROOT) and not under(f"{ROOT}/../x", ROOT)


def test_remove_directory_follows_no_symlink_out_of_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "precious"
    (root / "pvc-a" / "deep").mkdir(parents=True)
    (root / "pvc-a" / "deep" / "data").write_text("x")
    outside.mkdir()
    (outside / "keep").write_text("y")
    (root / "pvc-link").symlink_to(outside)
    remove_directory(str(root / "pvc-a"), str(root))
    assert not (root / "pvc-a").exists()
    remove_directory(str(root / "pvc-a"), str(root))  # already gone: done
    with pytest.raises(ValueError, match="outside the local-path root"):
        remove_directory(str(root / "pvc-link"), str(root))
    assert (outside / "keep").read_text() == "y"


def claim(name: str, storage_class: str) -> Any:
    return PERSISTENTVOLUMECLAIMS.model.model_validate({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
        "spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Mi"}}}})


def pod(name: str, claim_name: str) -> Any:
    return PODS.model.model_validate({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
        "spec": {"terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "app", "image": "kubelite/demo:latest",
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]}})


async def _volume_of(store: Store, claim_name: str) -> dict[str, Any] | None:
    for pv in (await store.list(PERSISTENTVOLUMES)).items:
        doc = pv.to_dict()
        if (doc["spec"].get("claimRef") or {}).get("name") == claim_name:
            return dict(doc)
    return None


async def _gone(store: Store, res: Any, name: str, namespace: str | None = None) -> bool:
    try:
        await store.get(res, name, namespace)
    except errors.ApiError as exc:
        if exc.code == 404:
            return True
        raise
    return False


async def test_released_delete_volume_loses_its_directory_and_retain_keeps_both(
    store: Store, start_agent: StartAgent, make_manager: MakeManager, node_name: str, tmp_path: Path,  # noqa: F811
) -> None:
    await make_manager(controllers=("scheduler", "localpath"))
    await store.create(STORAGECLASSES, STORAGECLASSES.model.model_validate(
        {**LOCAL_PATH, "metadata": {"name": "keep"}, "reclaimPolicy": "Retain"}))
    await start_agent(node_name, root_dir=str(tmp_path / "root"))  # sim runtime, real volume directories
    directories: dict[str, Path] = {}
    try:
        for name, storage_class in (("drop", "local-path"), ("keep", "keep")):
            await store.create(PERSISTENTVOLUMECLAIMS, claim(name, storage_class))
            await store.create(PODS, pod(f"use-{name}", name))

        async def running() -> bool:
            pods = [await store.get(PODS, f"use-{n}", "default") for n in ("drop", "keep")]
            return all(p.phase == "Running" for p in pods)
        await wait_for(running, 60, 0.2, message="both pods Running with their volumes")
        for name in ("drop", "keep"):
            doc = await _volume_of(store, name)
            assert doc is not None and doc["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == \
                LOCAL_PATH_PROVISIONER
            directories[name] = Path(doc["spec"]["hostPath"]["path"])
            assert directories[name].is_dir() and str(directories[name]).startswith(LOCAL_PATH_ROOT + "/")
            (directories[name] / "data").write_text(name)  # what the pod would have written
        for name in ("drop", "keep"):
            await store.delete(PODS, f"use-{name}", "default")
        for name in ("drop", "keep"):
            await wait_for(lambda n=name: _gone(store, PODS, f"use-{n}", "default"), 60, 0.2)
            await store.delete(PERSISTENTVOLUMECLAIMS, name, "default")

        async def dropped() -> bool:
            return await _volume_of(store, "drop") is None
        await wait_for(dropped, 60, 0.2, message="the Delete volume gone")
        assert not directories["drop"].exists()

        async def retained() -> dict[str, Any] | None:
            doc = await _volume_of(store, "keep")
            return doc if doc and (doc.get("status") or {}).get("phase") == "Released" else None
        kept = await wait_for(retained, 60, 0.2, message="the Retain volume Released")
        assert not kept["metadata"].get("finalizers") and not kept["metadata"].get("deletionTimestamp")
        assert (directories["keep"] / "data").read_text() == "keep"
    finally:
        for directory in directories.values():
            shutil.rmtree(directory, ignore_errors=True)
        assert all(not os.path.lexists(d) for d in directories.values())
