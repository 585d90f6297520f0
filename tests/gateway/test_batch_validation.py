"""Bad Jobs, CronJobs, ConfigMaps and Secrets: 422 Invalid naming the field, etcd untouched (issue 14);
and the real kubectl 1.32 building a Job from a CronJob (``kubectl create job --from=cronjob/x``)."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from kubelite.api import resources as r
from kubelite.gateway import Gateway
from tests.gateway.conftest import Kubectl, etcd_revision
from tests.gateway.test_kubectl import store_of

pytestmark = pytest.mark.timeout(180)

JOBS = "/apis/batch/v1/namespaces/default/jobs"
CRONJOBS = "/apis/batch/v1/namespaces/default/cronjobs"
POD = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}


def job(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bad"}, "spec": {"template": POD, **spec}}


def cronjob(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "bad"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": POD}}, **spec}}


BIG = "x" * ((1 << 20) + 1)  # one byte over kube's MaxSecretSize
CASES: list[tuple[str, dict[str, Any], str]] = [
    (CRONJOBS, cronjob(schedule="not a schedule"), "spec.schedule"),
    (CRONJOBS, cronjob(schedule="61 * * * *"), "spec.schedule"),
    (CRONJOBS, cronjob(schedule="0 0 * * * *"), "spec.schedule"),  # six fields: kube's parser takes five
    (CRONJOBS, cronjob(schedule="TZ=UTC 0 * * * *"), "spec.schedule"),
    (CRONJOBS, cronjob(timeZone="Mars/Olympus"), "spec.timeZone"),
    (CRONJOBS, cronjob(concurrencyPolicy="Sometimes"), "spec.concurrencyPolicy"),
    (JOBS, job(completionMode="Indexed"), "spec.completions"),
    (JOBS, job(completionMode="Indexed", completions=100_001), "spec.completions"),
    (JOBS, job(completionMode="Indexed", completions=10, parallelism=100_001), "spec.parallelism"),
    (JOBS, job(parallelism=-1), "spec.parallelism"),
    (JOBS, job(backoffLimitPerIndex=1), "spec.backoffLimitPerIndex"),  # Indexed only
    (JOBS, job(activeDeadlineSeconds=0), "spec.activeDeadlineSeconds"),
    (JOBS, job(template={"spec": {"containers": [{"name": "c", "image": "x"}]}}), "spec.template.spec.restartPolicy"),
    (JOBS, job(manualSelector=True, selector={"matchLabels": {"a": "b"}}), "spec.template.metadata.labels"),
    (JOBS, job(selector={"matchLabels": {"a": "b"}}), "spec.selector"),
    (JOBS, job(managedBy="queue-controller"), "spec.managedBy"),  # not domain-prefixed
    (JOBS, job(managedBy="example.com/" + "q" * 60), "spec.managedBy"),  # over 63
    (CRONJOBS, cronjob(jobTemplate={"spec": {"template": POD, "managedBy": "Example.com/q"}}),
     "spec.jobTemplate.spec.managedBy"),
    (JOBS, job(podFailurePolicy={"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [1]}}]}),
     "spec.podFailurePolicy.rules[0].action"),
    ("/api/v1/namespaces/default/configmaps",
     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"big": BIG}}, "data"),
    ("/api/v1/namespaces/default/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"},
                                            "data": {"big": base64.b64encode(BIG.encode()).decode()}}, "data"),
    ("/api/v1/namespaces/default/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"},
                                            "data": {"pw": "not*base64"}}, "data[pw]"),
]


async def test_bad_input_is_422_naming_the_field(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    for url, body, field in CASES:
        before = await etcd_revision(gateway)
        async with api.post(url, json=body) as response:
            status = await response.json()
        assert response.status == 422, (field, status)
        assert field in [c.get("field") for c in status["details"]["causes"]], (field, status)
        assert await etcd_revision(gateway) == before, field


async def test_completions_change_only_in_tandem_for_indexed_jobs(api: aiohttp.ClientSession,
                                                                  gateway: Gateway) -> None:
    indexed = {**job(completionMode="Indexed", completions=3, parallelism=3), "metadata": {"name": "elastic"}}
    async with api.post(JOBS, json=indexed) as response:
        assert response.status == 201
    headers = {"Content-Type": "application/merge-patch+json"}
    before = await etcd_revision(gateway)
    async with api.patch(f"{JOBS}/elastic", data=json.dumps({"spec": {"completions": 5}}), headers=headers) as response:
        status = await response.json()
        assert response.status == 422 and status["details"]["causes"][0]["field"] == "spec.completions", status
    assert await etcd_revision(gateway) == before
    async with api.patch(f"{JOBS}/elastic", data=json.dumps({"spec": {"completions": 5, "parallelism": 5}}),
                         headers=headers) as response:
        assert response.status == 200, await response.text()


async def test_managed_by_is_immutable(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    async with api.post(JOBS, json={**job(managedBy="example.com/queue", suspend=True),
                                    "metadata": {"name": "managed"}}) as response:
        assert response.status == 201, await response.text()
    headers = {"Content-Type": "application/merge-patch+json"}
    for change in ("example.com/other", None):
        before = await etcd_revision(gateway)
        async with api.patch(f"{JOBS}/managed", data=json.dumps({"spec": {"managedBy": change}}),
                             headers=headers) as response:
            status = await response.json()
        assert response.status == 422, status
        assert status["details"]["causes"][0]["field"] == "spec.managedBy", status
        assert await etcd_revision(gateway) == before


async def test_job_defaults_and_generated_selector(api: aiohttp.ClientSession) -> None:
    async with api.post(JOBS, json={**job(), "metadata": {"name": "plain"}}) as response:
        created = await response.json()
    uid, spec = created["metadata"]["uid"], created["spec"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert spec["template"]["metadata"]["labels"] == {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                                                      "batch.kubernetes.io/job-name": "plain", "job-name": "plain"}
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"], spec["completionMode"]) == (
        1, 1, 6, "NonIndexed")
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed" and spec["suspend"] is False


async def test_kubectl_creates_a_job_from_a_cronjob(kubectl: Kubectl, gateway: Gateway) -> None:
    await kubectl("create", "cronjob", "nightly", "--image=busybox", "--schedule=0 3 * * *", "--", "true")
    await kubectl("create", "job", "manual", "--from=cronjob/nightly")
    store = store_of(gateway)
    made = await store.get(r.JOBS, "manual", "default")
    cron = await store.get(r.CRONJOBS, "nightly", "default")
    ref = made.metadata.owner_references[0]
    assert (ref.kind, ref.uid, ref.controller) == ("CronJob", cron.metadata.uid, True)
    assert (made.metadata.annotations or {}).get("cronjob.kubernetes.io/instantiate") == "manual"
    assert made.to_dict()["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
    shown = await kubectl("get", "cronjob", "nightly")
    assert "0 3 * * *" in shown.stdout
