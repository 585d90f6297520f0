"""Parsers of untrusted input are bounded (CVE-2019-11253 and its kind): YAML alias bombs,
self-referring aliases, deep nesting, JSON patch copy bombs, and huge values quoted back in
errors all end in a small 4xx, never a 5xx, a stall of other clients or a large response.

Pure tests drive kubelite.api.parse and the JSON patch directly (hypothesis over generated
YAML with anchors and aliases); the gateway tests run the real gateway process against a
real etcd (the fuzz suite's `Target`).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubelite.api import errors
from kubelite.api.errors import MAX_QUOTED_VALUE, quote_value
from kubelite.api.parse import MAX_DEPTH, load_documents
from kubelite.etcd_server import EmbeddedEtcd
from kubelite.gateway.bodies import check_and_parse
from kubelite.gateway.patch import MAX_JSON_PATCH_OPERATIONS, PatchError, json_patch
from tests.security.test_fuzz_gateway import Target, yaml_with_aliases


def alias_bomb(levels: int = 7, width: int = 10) -> str:
    """The 494-byte shape of case r06: ``width``**``levels`` strings from a few lines."""
    lines = ['a0: &a0 [' + ",".join(['"lol"'] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    anchors = "\n".join("  " + line for line in lines)
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: bomb\nanchors:\n{anchors}\n"
            f"spec:\n  containers: [{{name: a, image: i, args: *a{levels - 1}}}]\n")


def refused(text: str) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as caught:
        load_documents(text)
    return caught.value


# -- pure ------------------------------------------------------------------------------------

def test_alias_bomb_is_refused_before_expansion() -> None:
    err = refused(alias_bomb())
    assert (err.code, err.status.message) == (400, "yaml: document contains excessive aliasing")


def test_modest_aliases_of_a_real_manifest_still_load() -> None:
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: &l {app: web, tier: fe}}\n"
            "spec:\n  containers:\n  - {name: a, image: i, env: &env [{name: A, value: '1'}, {name: B, value: '2'}]}\n"
            "  - {name: b, image: i, env: *env}\n  nodeSelector: *l\n")
    [doc] = load_documents(text)
    assert doc["spec"]["containers"][1]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert doc["spec"]["nodeSelector"] == {"app": "web", "tier": "fe"}


def test_recursive_alias_is_refused() -> None:
    err = refused("a: &a [1, *a]\n")
    assert err.code == 400 and "recursive alias" in err.status.message


@pytest.mark.parametrize("text", [
    "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5),  # YAML flow
    "[" * 100_000 + "]" * 100_000,  # JSON, far past Python's recursion limit
    '{"a":' * (MAX_DEPTH + 5) + "1" + "}" * (MAX_DEPTH + 5),
    "".join("  " * i + "- \n" for i in range(MAX_DEPTH + 5)),  # YAML block
])
def test_deep_nesting_is_refused(text: str) -> None:
    err = refused(text)
    assert err.code == 400 and ("nest" in err.status.message or "depth" in err.status.message)


def test_nesting_within_the_bound_loads() -> None:
    depth = MAX_DEPTH - 5
    [doc] = load_documents('{"kind": "X", "a":' + "[" * depth + "1" + "]" * depth + "}")
    assert doc["kind"] == "X"


def test_a_huge_invalid_value_is_quoted_short() -> None:
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i", "args": [[str(i)] * 50 for i in range(20_000)]}]}}
    with pytest.raises(errors.ApiError) as caught:
        check_and_parse(doc, kind="Pod", validation="Ignore")
    assert caught.value.code == 422
    assert len(json.dumps(caught.value.status.to_dict())) < 64 * 1024
    assert len(quote_value(["x" * 10_000] * 10_000)) <= MAX_QUOTED_VALUE + len("...(truncated)")


def test_json_patch_copy_doubling_is_refused() -> None:
    ops: list[dict[str, Any]] = [{"op": "add", "path": "/a", "value": ["x" * 1000] * 100}]
    ops += [{"op": "copy", "from": "/a", "path": f"/a/{0}"} for _ in range(40)]
    with pytest.raises(PatchError) as caught:
        json_patch({"kind": "X"}, ops)
    assert "copied" in str(caught.value)


def test_json_patch_operation_count_is_bounded() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "X"}] * (MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(PatchError):
        json_patch({"kind": "X"}, ops)
    assert json_patch({"kind": "X"}, ops[:MAX_JSON_PATCH_OPERATIONS]) == {"kind": "X"}


@settings(max_examples=300, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=yaml_with_aliases())
def test_generated_yaml_loads_or_is_refused_with_400(text: str) -> None:
    try:
        docs = load_documents(text)
    except errors.ApiError as err:
        assert err.code == 400, err.status.message
        return
    # whatever loaded is plain JSON-able data of bounded size
    assert len(json.dumps(docs)) < 50 * 1024 * 1024


# -- the gateway process ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("bounds")
    etcd = EmbeddedEtcd(data_dir=tmp / "etcd")
    loop = asyncio.new_event_loop()
    loop.run_until_complete(etcd.start())
    target = Target(etcd, tmp)
    try:
        target.proc.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                if target.http.request("GET", f"{target.url}/readyz").status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            assert time.monotonic() < deadline, f"gateway not ready:\n{target.proc.log_tail()}"
            time.sleep(0.1)
        yield target
    finally:
        target.proc.stop()
        loop.run_until_complete(etcd.stop())
        loop.close()


def gateway_pid(gateway: Target) -> int:
    assert gateway.proc.popen is not None
    return gateway.proc.popen.pid


def rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


def post_yaml(gateway: Target, body: str | bytes, path: str = "/api/v1/namespaces/default/pods?dryRun=All"
              ) -> urllib3.BaseHTTPResponse:
    return gateway.http.request("POST", f"{gateway.url}{path}", body=body,
                                headers={"Content-Type": "application/yaml"},
                                timeout=urllib3.Timeout(total=120))


def test_gateway_refuses_the_alias_bomb_small_and_without_growing(gateway: Target) -> None:
    before_rev, before_rss = gateway.revision(), rss_mib(gateway_pid(gateway))
    response = post_yaml(gateway, alias_bomb())
    assert response.status == 400, response.data[:300]
    assert b"excessive aliasing" in response.data and len(response.data) < 4096
    assert gateway.revision() == before_rev
    assert rss_mib(gateway_pid(gateway)) - before_rss < 100


@pytest.mark.parametrize("body", [
    "a: &a [1, *a]\n",
    "a: " + "[" * 5000 + "]" * 5000,
    "[" * 200_000 + "]" * 200_000,
])
def test_gateway_answers_hostile_yaml_with_400(gateway: Target, body: str) -> None:
    before = gateway.revision()
    response = post_yaml(gateway, body)
    assert response.status == 400, response.data[:300]
    assert gateway.revision() == before and gateway.proc.alive


def test_gateway_answers_a_copy_bomb_patch_with_4xx(gateway: Target) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bounds"}}
    gateway.http.request("POST", f"{gateway.url}/api/v1/namespaces", body=json.dumps(ns),
                         headers={"Content-Type": "application/json"})
    ops: list[dict[str, Any]] = [{"op": "add", "path": "/metadata/annotations", "value": {"a": "x" * 1000}}]
    ops += [{"op": "copy", "from": "/metadata/annotations", "path": f"/metadata/labels{i}"} for i in range(5000)]
    before = gateway.revision()
    response = gateway.http.request("PATCH", f"{gateway.url}/api/v1/namespaces/bounds", body=json.dumps(ops),
                                    headers={"Content-Type": "application/json-patch+json"})
    assert 400 <= response.status < 500, response.data[:300]
    assert gateway.revision() == before


def test_a_large_yaml_body_does_not_stall_other_clients(gateway: Target) -> None:
    """A 1.2 MiB YAML body of small nodes takes seconds to parse: it is parsed off the event
    loop, so GETs sent after it started are answered before it is."""
    # args is an atomic list: one managedFields entry for all of it (a keyed list such as env
    # records every item there, as kube-apiserver does, and would double the object past etcd's limit)
    items = "".join(f"    - 'arg-{i:05d}-x'\n" for i in range(60_000))
    body = (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: big}}\nspec:\n  containers:\n  - name: c\n"
            f"    image: i\n    args:\n{items}").encode()
    assert 1_000_000 < len(body) < 1_500_000
    done: dict[str, float] = {}

    def big() -> None:
        response = post_yaml(gateway, body)
        done["big"] = time.monotonic()
        done["status"] = response.status

    thread = threading.Thread(target=big)
    thread.start()
    answered_first = 0
    try:
        while thread.is_alive():
            response = gateway.http.request("GET", f"{gateway.url}/api/v1/namespaces/default/pods")
            assert response.status == 200
            if "big" not in done:
                answered_first += 1
    finally:
        thread.join(timeout=120)
    assert done["status"] in (201, 200), done
    assert answered_first >= 3, f"only {answered_first} GETs were answered while the large body was parsed"
