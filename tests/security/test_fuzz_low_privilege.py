"""The fuzz suite's random requests (tests/security/test_fuzz_gateway.py) made by a low-privilege
user: ``low`` holds only ``view`` in the namespace ``team`` (a RoleBinding), on a gateway with token
authentication and RBAC. Kubernetes' answers, checked per request:

- never 5xx, and nothing written: etcd's revision is the same after every request (``view`` grants
  no write, whatever the method, path, body or query);
- outside ``team`` reads, always 403 (kube authorizes before it looks anything up); Secrets'
  contents never, since ``view`` excludes them;
- a denial does not tell whether the object exists: the same request for an existing object and
  for a missing one gets the same 403 and the same message (but for the name).

200 cases, derandomized, in a few seconds (``KUBELITE_FUZZ_RANDOM=1`` explores new ones).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.test_fuzz_gateway import (
    CONTENT_TYPES,
    SEEDS,
    Target,
    bodies,
    names,
    query_keys,
    query_values,
    running_gateway,
    seed,
)

CASES = 200
DURATION_LIMIT = 45.0
NAMESPACE = "team"
MISSING = "no-such-object"
ADMIN = {"Authorization": "Bearer admin-token"}
LOW = {"Authorization": "Bearer low-token"}
Operation = tuple[str, str, str | None]


@pytest.fixture(scope="module")
def low_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Target, list[Operation]]]:
    tmp = tmp_path_factory.mktemp("fuzz-low")
    tokens = tmp / "tokens.csv"
    tokens.write_text('admin-token,admin,1,"system:masters"\nlow-token,low,2\n')
    with running_gateway(tmp, ("--token-file", str(tokens), "--authorization-mode", "RBAC"), ADMIN) as target:
        ops = target.operations()
        assert len(ops) > 30
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "low"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "low"}]}
        for path, doc in (("/api/v1/namespaces", namespace),
                          (f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings", binding)):
            response = target.http.request("POST", f"{target.url}{path}", body=json.dumps(doc),
                                           headers={"Content-Type": "application/json", **ADMIN})
            assert response.status == 201, response.data
        seed(target, ops, "default")
        seed(target, ops, NAMESPACE)
        deadline = time.monotonic() + 30
        while target.http.request("GET", f"{target.url}/api/v1/namespaces/{NAMESPACE}/pods",
                                  headers=LOW).status != 200:  # the gateway's RBAC informer saw the binding
            assert time.monotonic() < deadline, "low never got view in team"
            time.sleep(0.1)
        yield target, ops


# what system:basic-user grants every authenticated user (kube's bootstrap policy): the self reviews
SELF_REVIEWS = ("/selfsubjectreviews", "/selfsubjectaccessreviews", "/selfsubjectrulesreviews")


def _read_in_team(method: str, path: str) -> bool:
    """What ``view`` in team may be granted: reads of team's objects, and of the Namespace itself."""
    prefix = f"/namespaces/{NAMESPACE}"
    return method == "GET" and (f"{prefix}/" in path or path.endswith(prefix) or path.endswith(f"{prefix}/status"))


STATUSES: Counter[int] = Counter()
STARTED: list[float] = []


@pytest.fixture(scope="module", autouse=True)
def print_statuses() -> Iterator[None]:
    yield
    elapsed = time.monotonic() - STARTED[0] if STARTED else 0.0
    print(f"\n[fuzz low-privilege] {sum(STATUSES.values())} requests in {elapsed:.1f} s, statuses: "
          + " ".join(f"{code}×{n}" for code, n in sorted(STATUSES.items())), flush=True)


def _request(target: Target, method: str, template: str, namespace: str, name: str, query: dict[str, str],
             body: bytes | None, headers: dict[str, str]) -> tuple[str, urllib3.BaseHTTPResponse]:
    path = template.replace("{namespace}", namespace).replace("{name}", name)
    url = f"{target.url}{quote(path, safe='/%:@')}" + (f"?{urlencode(query)}" if query else "")
    try:
        response = target.http.request(method, url, body=body, headers={**headers, **LOW})
    except urllib3.exceptions.HTTPError as exc:
        raise AssertionError(f"{method} {path}: no answer ({exc}); gateway log:\n{target.proc.log_tail()}")
    STATUSES[response.status] += 1
    return path, response


@settings(max_examples=int(os.environ.get("KUBELITE_FUZZ_CASES", CASES)), deadline=None, database=None,
          derandomize=not os.environ.get("KUBELITE_FUZZ_RANDOM"),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_low_privilege_user_reads_only_its_namespace_and_denials_do_not_leak(
    low_target: tuple[Target, list[Operation]], data: st.DataObject,
) -> None:
    STARTED[:] = STARTED or [time.monotonic()]
    assert time.monotonic() - STARTED[0] < DURATION_LIMIT, "this fuzzing is meant to take seconds"
    target, operations = low_target
    reads = [op for op in operations if op[0] == "GET" and "{namespace}" in op[1]]  # half the cases: may be allowed
    method, template, kind = data.draw(st.sampled_from(reads) | st.sampled_from(operations), label="operation")
    existing = str(SEEDS.get(kind or "", {}).get("metadata", {}).get("name", "x"))
    name = data.draw(st.sampled_from([existing, MISSING]) | names, label="name")
    namespace = data.draw(st.sampled_from([NAMESPACE, NAMESPACE, NAMESPACE, "default", "kube-system"]) | names,
                          label="namespace")
    query = data.draw(st.dictionaries(query_keys, query_values, max_size=3), label="query")
    headers: dict[str, str] = {}
    body = None
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        body = data.draw(bodies(kind, name), label="body")
        headers["Content-Type"] = data.draw(st.sampled_from(CONTENT_TYPES), label="content type")
    before = target.revision()
    path, response = _request(target, method, template, namespace, name, query, body, headers)
    what = f"{method} {path} {query} {body!r:.200}: {response.status} {response.data[:300]!r}"
    assert response.status < 500, what
    assert target.revision() == before, f"{what}: a low-privilege request wrote to etcd"
    dot_segments = any(part in (".", "..") for part in path.split("/"))  # the client resolves them first
    everyone = method == "POST" and template.endswith(SELF_REVIEWS)
    if (not _read_in_team(method, path) or "/secrets" in template) and not dot_segments and not everyone:
        assert response.status == 403, what
        status = json.loads(response.data)
        assert status["kind"] == "Status" and status["reason"] == "Forbidden", what
    if response.status == 403 and "{name}" in template and name in (existing, MISSING) and existing != MISSING:
        other = MISSING if name == existing else existing
        _, again = _request(target, method, template, namespace, other, query, body, headers)
        assert again.status == 403, f"{what}; with {other!r}: {again.status} {again.data[:300]!r}"
        # the same words; only quoted values (the name, and a namespace's own name) may differ
        first, second = (re.sub(r'"[^"]*"', '""', json.loads(r.data)["message"]) for r in (response, again))
        assert first == second, f"the denial differs for an existing and a missing object: {first!r} / {second!r}"
    assert target.proc.alive
