"""The serviceaccounts controller: the pure plan, and against real etcd a `default` ServiceAccount
in every namespace (existing and new), re-created when deleted."""

from __future__ import annotations

from datetime import UTC, datetime

from kubelite.api import errors
from kubelite.api.core import Namespace
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import NAMESPACES, SERVICEACCOUNTS
from kubelite.store import Store

from controllers.serviceaccount_plan import missing_accounts
from tests.controllers.conftest import MakeManager
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
