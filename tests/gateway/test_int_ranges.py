"""Integer fields through the real gateway and etcd: every write path range-checks them.

Hypothesis picks a served kind, one of its integer fields (from Kubernetes'
field table: int32, int64, int-or-string), a value and a way to write it:
create, update (PUT), the status subresource, merge / JSON / strategic-merge
patch, server-side apply, or the scale subresource. A value outside the field's format is refused with
422 naming the field path, and etcd's revision does not move; a value Kubernetes
accepts is created (201). The gateway runs as a process against its own etcd
(the fuzz suite's harness), so each case is a few cheap HTTP requests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubelite.etcd_server import EmbeddedEtcd
from tests.int_fields import INT_FIELDS, KINDS, base_object, format_range, valid_range, with_value
from tests.security.test_fuzz_gateway import Target

pytestmark = pytest.mark.timeout(240)

COLLECTIONS = {"Namespace": "/api/v1/namespaces", "Node": "/api/v1/nodes",
               "Pod": "/api/v1/namespaces/default/pods", "Event": "/api/v1/namespaces/default/events",
               "ReplicaSet": "/apis/apps/v1/namespaces/default/replicasets",
               "Deployment": "/apis/apps/v1/namespaces/default/deployments",
               "Lease": "/apis/coordination.k8s.io/v1/namespaces/default/leases"}
SEED = "seed"  # one object of each kind that updates and patches aim at
FIELDS = [(kind, path, fmt) for kind in KINDS for path, fmt in INT_FIELDS[kind]]
NAMES = (f"x{i}" for i in itertools.count())  # every created object a new name, whatever hypothesis replays
WRITES = ["create", "update", "status", "merge", "json-patch", "strategic", "apply", "scale"]
HAS_STATUS = ("Namespace", "Node", "Pod", "ReplicaSet", "Deployment")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("int-ranges")
    etcd = EmbeddedEtcd(data_dir=tmp / "etcd")
    loop = asyncio.new_event_loop()
    loop.run_until_complete(etcd.start())
    gateway = Target(etcd, tmp)
    try:
        gateway.proc.start()
        deadline = time.monotonic() + 30
        while True:  # a sync fixture's wait_for: poll /readyz with a deadline
            try:
                if gateway.http.request("GET", f"{gateway.url}/readyz").status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            assert time.monotonic() < deadline, f"gateway not ready:\n{gateway.proc.log_tail()}"
            time.sleep(0.1)
        for kind in KINDS:
            response = request(gateway, "POST", COLLECTIONS[kind], base_object(kind, SEED if kind != "Namespace"
                                                                                  else "seed-ns"))
            assert response.status == 201, response.data
        yield gateway
    finally:
        gateway.proc.stop()
        loop.run_until_complete(etcd.stop())
        loop.close()


def request(target: Target, method: str, path: str, body: Any, content_type: str = "application/json",
            query: str = "") -> urllib3.BaseHTTPResponse:
    data = body if isinstance(body, str) else json.dumps(body)
    return target.http.request(method, f"{target.url}{path}{query}", body=data,
                               headers={"Content-Type": content_type})


def object_path(kind: str) -> str:
    return f"{COLLECTIONS[kind]}/{'seed-ns' if kind == 'Namespace' else SEED}"


def send(target: Target, write: str, kind: str, path: str, value: Any, name: str) -> urllib3.BaseHTTPResponse:
    """One write of ``value`` at ``path``; the scale subresource only for spec.replicas."""
    if write == "create":
        return request(target, "POST", COLLECTIONS[kind], with_value(base_object(kind, name), path, value))
    seed_name = "seed-ns" if kind == "Namespace" else SEED
    current = json.loads(target.http.request("GET", f"{target.url}{object_path(kind)}").data)
    if write == "update":
        return request(target, "PUT", object_path(kind), with_value(current, path, value))
    if write == "status":
        return request(target, "PUT", f"{object_path(kind)}/status", with_value(current, path, value))
    if write == "apply":
        applied = with_value(base_object(kind, seed_name), path, value)
        return request(target, "PATCH", object_path(kind), applied, "application/apply-patch+yaml",
                       "?fieldManager=test&force=true")
    if write == "scale":
        return request(target, "PATCH", f"{object_path(kind)}/scale", {"spec": {"replicas": value}},
                       "application/merge-patch+json")
    if write == "json-patch":
        pointer = "/" + "/".join(path.replace("[", ".").replace("]", "").split("."))
        # replace the whole top-level field, so the patch applies whatever exists underneath
        top = pointer.split("/")[1]
        patched = with_value(current, path, value)
        return request(target, "PATCH", object_path(kind), [{"op": "add", "path": f"/{top}", "value": patched[top]}],
                       "application/json-patch+json")
    partial = with_value({}, path, value)
    content = "application/merge-patch+json" if write == "merge" else "application/strategic-merge-patch+json"
    if "[" in path:  # lists are replaced by merge patches: send the whole top-level field
        top = path.split(".")[0].split("[")[0]
        partial = {top: with_value(current, path, value)[top]}
    return request(target, "PATCH", object_path(kind), partial, content)


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, str, str, str, Any, bool]:
    kind, path, fmt = draw(st.sampled_from(FIELDS), label="field")
    scalable = kind in ("Deployment", "ReplicaSet") and path == "spec.replicas"
    writes = [w for w in WRITES if (w != "scale" or scalable) and (w != "status" or kind in HAS_STATUS)]
    write = draw(st.sampled_from(writes), label="write")
    low, high = format_range(fmt)
    wrong = draw(st.booleans(), label="out of range")
    if wrong:
        value = draw(st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1),
                               st.sampled_from([low - 1, high + 1, 2**63, 1.5])), label="value")
    else:
        valid_low, valid_high = valid_range(path, fmt)
        value = draw(st.integers(min_value=valid_low, max_value=valid_high), label="value")
    return kind, path, fmt, write, value, wrong


@settings(max_examples=150, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_integer_fields_are_range_checked_on_every_write_path(target: Target, case: tuple[Any, ...]) -> None:
    kind, path, _fmt, write, value, wrong = case
    before = target.revision()
    response = send(target, write, kind, path, value, next(NAMES))
    body = json.loads(response.data)
    if wrong:
        assert response.status == 422, (write, path, value, body)
        assert body["reason"] == "Invalid"
        if "details" not in body:  # a strategic patch of a list item without its merge key: kube refuses it too
            assert write in ("strategic", "apply") and (
                "does not contain declared merge key" in body["message"] or "omits key field" in body["message"]), body
        else:
            fields = [c.get("field") for c in body["details"]["causes"]]
            assert (path if write != "scale" else "spec.replicas") in fields, (write, body)
        assert target.revision() == before, f"{write} of {path}={value} was refused but etcd changed"
    elif write == "create":
        # accepted, unless the synthetic object breaks another rule (a probe with no handler): never for this value
        assert response.status in (201, 422), (path, value, body)
        if response.status == 422:
            assert path not in [c.get("field") for c in body["details"]["causes"]], (path, value, body)
        CREATED[response.status] += 1


CREATED: Counter[int] = Counter()


def test_most_in_range_creates_were_accepted() -> None:
    """Runs after the property test (file order): it must have created objects, not only been refused."""
    assert CREATED[201] > 2 * CREATED[422], CREATED


def test_replicas_past_int32_refused_by_every_path_and_scale_of_minus_one(target: Target) -> None:
    """The case of kubestellar/console#3831 and kubernetes#772 (cases/10), as plain assertions."""
    response = send(target, "merge", "Deployment", "spec.replicas", 1, "")  # the property test changed them
    assert response.status == 200
    before = target.revision()
    for write in [w for w in WRITES if w != "status"]:
        response = send(target, write, "Deployment", "spec.replicas", 2**31, "big")
        body = json.loads(response.data)
        assert response.status == 422, (write, body)
        assert "details" in body, (write, body["message"])
        cause = next(c for c in body["details"]["causes"] if c["field"] == "spec.replicas")
        assert "into Go struct field" in cause["message"] and "of type int32" in cause["message"], cause
    response = send(target, "scale", "Deployment", "spec.replicas", -1, "big")
    assert response.status == 422
    assert json.loads(response.data)["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "message": "Invalid value: -1: must be greater than or equal to 0",
        "field": "spec.replicas"}]
    assert target.revision() == before
    stored = json.loads(target.http.request("GET", f"{target.url}{object_path('Deployment')}").data)
    assert stored["spec"]["replicas"] == 1
