"""Hypothesis-driven requests against every operation of the gateway's own OpenAPI documents
(300 cases, well under a minute): random names, query parameters, content types and bodies —
arbitrary JSON, YAML with dense anchors and aliases, broken bytes, and valid objects with one field replaced by anything. The
gateway never answers 5xx (nor drops the connection), and a refused request writes nothing:
etcd's revision is the same after it (so is it after any dry run).

The gateway runs as a process against its own etcd; etcd's revision is read through etcd's
HTTP/JSON gateway, so each check is one cheap request.
"""

from __future__ import annotations

import asyncio
import contextlib
import base64
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubelite.api.resources import STORED_ONLY
from kubelite.etcd.server import EmbeddedEtcd, free_port
from kubelite.testing import Proc, deployment_doc

REPO = Path(__file__).resolve().parents[2]

CASES = 300
DURATION_LIMIT = 60.0

SEEDS: dict[str, dict[str, Any]] = {
    "Deployment": deployment_doc("web", 2),
    "Pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "demo", "ports": [{"containerPort": 80}],
                                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}},
    "ReplicaSet": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
                   "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "template": {
                       "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}},
    "Namespace": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns1"}},
    "Node": {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
             "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}},
    "Lease": {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
              "spec": {"holderIdentity": "h", "leaseDurationSeconds": 10}},
    "Event": {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "reason": "R", "message": "m",
              "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}},
    # the stored-only kinds: a bare object of each, a few with the fields their rules read
    **{res.kind: {"apiVersion": res.api_version, "kind": res.kind, "metadata": {"name": res.singular}}
       for res in STORED_ONLY},
    "ConfigMap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}},
    "Secret": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA=="},
               "stringData": {"b": "y"}},
    "Service": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
                "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"a": "b"}}},
    "Job": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}},
}
CONTENT_TYPES = ["application/json", "application/merge-patch+json", "application/json-patch+json",
                 "application/strategic-merge-patch+json", "application/apply-patch+yaml", "application/yaml",
                 "text/plain", "application/vnd.kubernetes.protobuf", ""]

names = st.one_of(
    st.sampled_from(["default", "kube-system", "web", "x", "n1", "p", "no-such", "UPPER", "a" * 300, "..", "%2e%2e",
                     "a%2Fb", "-", "ns1", "node-1", "ünï", "a b"]),
    st.text(alphabet=st.characters(codec="ascii", exclude_characters="/?#"), min_size=1, max_size=20),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
query_values = st.one_of(st.sampled_from(["All", "Strict", "Warn", "Ignore", "0", "-1", "1", "true", "Orphan",
                                          "Foreground", "x=", "a in (b", "metadata.name=x", "9" * 30, ""]),
                         st.text(max_size=20))
query_keys = st.sampled_from(["dryRun", "fieldManager", "fieldValidation", "labelSelector", "fieldSelector", "limit",
                              "continue", "resourceVersion", "resourceVersionMatch", "propagationPolicy",
                              "gracePeriodSeconds", "pretty", "force", "orphanDependents", "timeoutSeconds"])


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _paths(value, (*prefix, index))


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(doc))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


# Random YAML with anchors and aliases: nodes refer to earlier anchors, so sharing is dense.
@st.composite
def yaml_with_aliases(draw: st.DrawFn) -> str:
    lines, anchors = [], []
    for i in range(draw(st.integers(1, 12))):
        width = draw(st.integers(1, 12))
        items = []
        for _ in range(width):
            if anchors and draw(st.booleans()):
                items.append(f"*{draw(st.sampled_from(anchors))}")
            else:
                items.append(draw(st.sampled_from(['"s"', "1", "null", "{k: v}", "[]", "true", "-2.5"])))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{", "}")]))
        if opener == "{":
            items = [f"k{j}: {item}" for j, item in enumerate(items)]
        lines.append(f"n{i}: &x{i} {opener}{', '.join(items)}{closer}")
        anchors.append(f"x{i}")
    head = draw(st.sampled_from(["apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "", "kind: List\nitems:\n"]))
    return head + "\n".join(lines) + "\n"


@st.composite
def bodies(draw: st.DrawFn, kind: str | None, name: str) -> bytes | None:
    choice = draw(st.sampled_from(["mutated", "mutated", "mutated", "valid", "json", "yaml", "bytes", "none"]))
    if choice == "none":
        return None
    if choice == "yaml":
        return draw(yaml_with_aliases()).encode()
    if choice == "bytes":
        return draw(st.binary(max_size=200))
    if choice == "json":
        return json.dumps(draw(json_values)).encode()
    seed = json.loads(json.dumps(SEEDS.get(kind or "", {"apiVersion": "v1", "kind": kind or "Thing"})))
    metadata = seed.setdefault("metadata", {})
    metadata["name"] = name if draw(st.booleans()) else metadata.get("name", "x")
    if choice == "mutated":
        path = draw(st.sampled_from(list(_paths(seed))))
        seed = _replaced(seed, path, draw(json_values))
    return json.dumps(seed).encode()


class Target:
    """The gateway process, its etcd, and plain HTTP to both (no watches: every answer ends)."""

    def __init__(self, etcd: EmbeddedEtcd, tmp: Path, extra_args: tuple[str, ...] = (),
                 headers: dict[str, str] | None = None) -> None:
        self.etcd = etcd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.headers = headers or {}  # sent with the set-up requests (the OpenAPI documents, seeds)
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=20))
        self.proc = Proc("gateway", [str(REPO / ".venv/bin/python"), "-m", "kubelite.gateway", "--etcd-endpoints",
                                     etcd.endpoint, "--listen", f"127.0.0.1:{self.port}", *extra_args],
                         tmp / "gateway.log")

    def revision(self) -> int:
        key = base64.b64encode(b"/registry/").decode()
        response = self.http.request("POST", f"http://{self.etcd.endpoint}/v3/kv/range",
                                     body=json.dumps({"key": key, "count_only": True}))
        return int(json.loads(response.data)["header"]["revision"])

    def operations(self) -> list[tuple[str, str, str | None]]:
        """(method, path template, kind) of every operation in the OpenAPI documents."""
        root = json.loads(self.http.request("GET", f"{self.url}/openapi/v3", headers=self.headers).data)
        found = []
        for gv in root["paths"]:
            doc = json.loads(self.http.request("GET", f"{self.url}/openapi/v3/{gv}", headers=self.headers).data)
            for template, ops in doc["paths"].items():
                for method, op in ops.items():
                    found.append((method.upper(), template, op.get("x-kubernetes-group-version-kind", {}).get("kind")))
        return found


@contextlib.contextmanager
def running_gateway(tmp: Path, extra_args: tuple[str, ...] = (),
                    headers: dict[str, str] | None = None) -> Iterator[Target]:
    """A gateway process on its own embedded etcd, ready (``/readyz``) within 30 s; both stopped after."""
    etcd = EmbeddedEtcd(data_dir=tmp / "etcd")
    loop = asyncio.new_event_loop()
    loop.run_until_complete(etcd.start())
    gateway = Target(etcd, tmp, extra_args, headers)
    try:
        gateway.proc.start()
        deadline = time.monotonic() + 30
        while True:  # the wait_for of a sync fixture: poll /readyz with a deadline
            try:
                if gateway.http.request("GET", f"{gateway.url}/readyz").status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            assert time.monotonic() < deadline, f"gateway not ready:\n{gateway.proc.log_tail()}"
            time.sleep(0.1)
        yield gateway
    finally:
        gateway.proc.stop()
        loop.run_until_complete(etcd.stop())
        loop.close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with running_gateway(tmp_path_factory.mktemp("fuzz")) as gateway:
        yield gateway


def seed(target: Target, ops: list[tuple[str, str, str | None]], namespace: str = "default") -> None:
    """Something to find, update and delete: one seed of each kind (namespaced ones in ``namespace``)."""
    for kind, doc in SEEDS.items():
        for method, template, op_kind in ops:
            if op_kind == kind and method == "POST":
                path = template.replace("{namespace}", namespace)
                target.http.request("POST", f"{target.url}{path}", body=json.dumps(doc),
                                    headers={"Content-Type": "application/json", **target.headers})
                break


@pytest.fixture(scope="module")
def operations(target: Target) -> list[tuple[str, str, str | None]]:
    ops = target.operations()
    assert len(ops) > 30
    seed(target, ops)
    return ops


STATUSES: Counter[int] = Counter()
STARTED: list[float] = []  # when the first case ran


@pytest.fixture(scope="module", autouse=True)
def print_statuses() -> Iterator[None]:
    yield
    elapsed = time.monotonic() - STARTED[0] if STARTED else 0.0
    print(f"\n[fuzz] {sum(STATUSES.values())} requests in {elapsed:.1f} s, statuses: "
          + " ".join(f"{code}×{n}" for code, n in sorted(STATUSES.items())), flush=True)


# The same 300 cases in every CI run; KUBELITE_FUZZ_RANDOM=1 explores new ones (and KUBELITE_FUZZ_CASES=N more).
@settings(max_examples=int(os.environ.get("KUBELITE_FUZZ_CASES", CASES)), deadline=None, database=None,
          derandomize=not os.environ.get("KUBELITE_FUZZ_RANDOM"),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_random_requests_never_5xx_and_refused_ones_write_nothing(
    target: Target, operations: list[tuple[str, str, str | None]], data: st.DataObject,
) -> None:
    STARTED[:] = STARTED or [time.monotonic()]
    assert time.monotonic() - STARTED[0] < DURATION_LIMIT, "fuzzing is meant to stay well under a minute"
    method, template, kind = data.draw(st.sampled_from(operations), label="operation")
    name = data.draw(names, label="name")
    path = template.replace("{namespace}", data.draw(names, label="namespace")).replace("{name}", name)
    query = data.draw(st.dictionaries(query_keys, query_values, max_size=3), label="query")
    url = f"{target.url}{quote(path, safe='/%:@')}" + (f"?{urlencode(query)}" if query else "")
    headers = {}
    body = None
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        body = data.draw(bodies(kind, name), label="body")
        headers["Content-Type"] = data.draw(st.sampled_from(CONTENT_TYPES), label="content type")
    before = target.revision()
    try:
        response = target.http.request(method, url, body=body, headers=headers)
    except urllib3.exceptions.HTTPError as exc:
        raise AssertionError(f"{method} {path} {query}: no answer ({exc}); gateway log:\n{target.proc.log_tail()}")
    STATUSES[response.status] += 1
    assert response.status < 500, f"{method} {path} {query} {body!r:.300}: {response.status} {response.data[:300]!r}"
    after = target.revision()
    if response.status >= 400 or query.get("dryRun") == "All" and response.status < 300:
        assert after == before, f"{method} {path} {query} answered {response.status} but wrote (rev {before}→{after})"
    assert target.proc.alive
