"""The gateway compacts etcd by default (as kube-apiserver), and old Exact lists and continue tokens get 410."""

from __future__ import annotations

import aiohttp
import pytest

from controllers.__main__ import config_from_args as manager_config_from_args
from controllers.__main__ import parse_args as manager_args
from kubelite.api.resources import PODS
from kubelite.etcd.compaction import DEFAULT_INTERVAL
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.gateway.__main__ import config_from_args, parse_args
from tests.factories import make_pod
from tests.gateway.conftest import gateway_config, stop_or_explain
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(90)
PODS_PATH = "/api/v1/namespaces/default/pods"


def test_the_gateway_and_the_manager_compact_every_five_minutes_by_default() -> None:
    assert config_from_args(parse_args([])).compaction_interval == DEFAULT_INTERVAL == 300.0
    assert manager_config_from_args(manager_args([])).compaction_interval == DEFAULT_INTERVAL
    assert config_from_args(parse_args(["--etcd-compaction-interval", "0"])).compaction_interval == 0
    assert manager_config_from_args(manager_args(["--etcd-compaction-interval", "1m"])).compaction_interval == 60
    with pytest.raises(SystemExit):
        parse_args(["--etcd-compaction-interval", "soon"])


async def test_after_compaction_exact_lists_and_continue_tokens_of_old_revisions_are_410(etcd: EmbeddedEtcd) -> None:
    gateway = Gateway(gateway_config(etcd, compaction_interval=0.3))
    await gateway.start()
    try:
        assert gateway.state is not None and gateway.compactor is not None
        for i in range(3):
            await gateway.state.store.create(PODS, make_pod(f"p{i}"))
        async with aiohttp.ClientSession(base_url=gateway.url) as api:
            async with api.get(PODS_PATH, params={"limit": "1"}) as r:
                page = await r.json()
            rv, token = page["metadata"]["resourceVersion"], page["metadata"]["continue"]
            exact = {"resourceVersion": rv, "resourceVersionMatch": "Exact"}
            async with api.get(PODS_PATH, params=exact) as r:
                assert r.status == 200  # not compacted yet: readable at that revision
            await gateway.state.store.create(PODS, make_pod("newer"))
            await wait_for(lambda: gateway.compactor.last_compacted > int(rv), 15,  # type: ignore[union-attr]
                           message="the gateway's compactor compacting past the list's revision")
            async with api.get(PODS_PATH, params=exact) as r:
                status = await r.json()
                assert r.status == 410, status
            assert (status["reason"], status["message"]) == (
                "Expired", "The resourceVersion for the provided list is too old.")
            async with api.get(PODS_PATH, params={"limit": "1", "continue": token}) as r:
                status = await r.json()
                assert r.status == 410, status
            assert status["message"].startswith("The provided continue parameter is too old")
            async with api.get(PODS_PATH) as r:  # what the client does then: a fresh list
                assert r.status == 200 and len((await r.json())["items"]) == 4
            async with api.get("/metrics") as r:
                metrics = await r.text()
            values = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line.startswith("kubelite_etcd_"))
            assert float(values["kubelite_etcd_compactions_total"]) >= 1
            assert int(rv) < float(values["kubelite_etcd_compacted_revision"]) <= gateway.compactor.last_compacted
    finally:
        await stop_or_explain(gateway)
    assert gateway.compactor.compactions >= 1
