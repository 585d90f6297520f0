"""The serviceaccounts controller: the pure plan, and against real etcd a `default` ServiceAccount
in every namespace (existing and new), re-created when deleted. The root-ca-cert-publisher, and the
ServiceAccount admission on pods the controller-manager creates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from kubelite.api import errors
from kubelite.api.core import Namespace, Pod
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import CONFIGMAPS, NAMESPACES, PODS, SERVICEACCOUNTS
from kubelite.storage.store import Store

from controllers.rootcacert_plan import plan as root_ca_plan
from controllers.serviceaccount_plan import missing_accounts
from tests.controllers.conftest import FAST, MakeManager
from tests.helpers import wait_for


def test_plan() -> None:
    active = Namespace(metadata=ObjectMeta(name="a"))
    assert missing_accounts(active, []) == ["default"]
    assert missing_accounts(active, ["default", "ci"]) == []
    assert missing_accounts(None, []) == []
    going = Namespace(metadata=ObjectMeta(name="a", deletion_timestamp=datetime.now(UTC)))
    assert missing_accounts(going, []) == []


async def test_default_service_account_in_every_namespace(store: Store, make_manager: MakeManager) -> None:
    await store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="before")))
    await make_manager(controllers=("serviceaccount",))
    await store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="after")))

    async def has_default(namespace: str) -> bool:
        try:
            await store.get(SERVICEACCOUNTS, "default", namespace)
            return True
        except errors.ApiError as exc:
            if exc.code == 404:
                return False
            raise

    for namespace in ("before", "after", "default", "kube-system"):
        await wait_for(lambda ns=namespace: has_default(ns), 30, 0.05, message=f"default SA in {namespace}")
    first = await store.get(SERVICEACCOUNTS, "default", "after")
    await store.delete(SERVICEACCOUNTS, "default", "after")

    async def recreated() -> bool:
        try:
            return (await store.get(SERVICEACCOUNTS, "default", "after")).metadata.uid != first.metadata.uid
        except errors.ApiError:
            return False
    await wait_for(recreated, 30, 0.05, message="the deleted default SA is re-created")


def test_root_ca_plan() -> None:
    active = Namespace(metadata=ObjectMeta(name="a"))
    created = root_ca_plan(active, None, "PEM")
    assert created.action == "create" and created.doc is not None
    assert created.doc["data"] == {"ca.crt": "PEM"} and created.doc["metadata"]["name"] == "kube-root-ca.crt"
    assert root_ca_plan(active, created.doc, "PEM").action == "none"
    changed = root_ca_plan(active, {**created.doc, "data": {"ca.crt": "OLD", "extra": "x"}}, "PEM")
    assert changed.action == "update" and changed.doc is not None and changed.doc["data"] == {"ca.crt": "PEM"}
    going = Namespace(metadata=ObjectMeta(name="a", deletion_timestamp=datetime.now(UTC)))
    assert root_ca_plan(going, None, "PEM").action == "none"


async def test_root_ca_published_and_controller_pods_get_the_token_volume(
        store: Store, make_manager: MakeManager) -> None:
    """kube-root-ca.crt in every namespace (restored when edited or deleted); with the ServiceAccount
    admission on, a pod created through the controller-manager's store gets kube's token volume."""
    settings = replace(FAST, root_ca="-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n",
                       service_account_admission=True)
    manager = await make_manager(settings=settings, controllers=("serviceaccount", "root-ca-cert-publisher"))
    await store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="ca-ns")))

    async def ca_in(namespace: str) -> bool:
        try:
            doc = (await store.get(CONFIGMAPS, "kube-root-ca.crt", namespace)).to_dict()
        except errors.ApiError:
            return False
        return bool(doc.get("data") == {"ca.crt": settings.root_ca})

    for namespace in ("default", "ca-ns"):
        await wait_for(lambda ns=namespace: ca_in(ns), 30, 0.05, message=f"kube-root-ca.crt in {namespace}")
    edited = (await store.get(CONFIGMAPS, "kube-root-ca.crt", "ca-ns")).to_dict()
    edited["data"] = {"ca.crt": "tampered"}
    await store.update(CONFIGMAPS, CONFIGMAPS.model.model_validate(edited))
    await wait_for(lambda: ca_in("ca-ns"), 30, 0.05, message="the edited ConfigMap is restored")
    await store.delete(CONFIGMAPS, "kube-root-ca.crt", "ca-ns")
    await wait_for(lambda: ca_in("ca-ns"), 30, 0.05, message="the deleted ConfigMap is re-created")

    pod = Pod.model_validate({"metadata": {"name": "p", "namespace": "ca-ns"},
                              "spec": {"containers": [{"name": "a", "image": "i"}]}})
    created = (await manager.ctx.store.create(PODS, pod)).to_dict()  # type: ignore[union-attr]
    assert created["spec"]["serviceAccountName"] == "default"
    assert created["spec"]["volumes"][0]["name"].startswith("kube-api-access-")
    assert created["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == (
        "/var/run/secrets/kubernetes.io/serviceaccount")
    with pytest.raises(errors.ApiError) as refused:
        await manager.ctx.store.create(PODS, pod.model_copy(update={  # type: ignore[union-attr]
            "spec": pod.spec.model_copy(update={"service_account_name": "nobody"})}))
    assert refused.value.code == 403
