"""The byte pre-filter of selected LISTs (kubelite.gateway.options.stored_patterns): it never drops an
object the selectors match, in either JSON spelling etcd may hold, and it does drop the others."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.labels import parse_field_selector, parse_selector
from kubelite.gateway.options import ListOptions

KEYS = st.sampled_from(["app", "tier", "app.kubernetes.io/name", "x"])
VALUES = st.sampled_from(["web", "db", "", "v1.2", "a_b-c"])
LABELS = st.dictionaries(KEYS, VALUES, max_size=3)
SELECTORS = st.sampled_from([
    "app=web", "app==web", "app!=web", "tier in (web,db)", "tier notin (db)", "app", "!app",
    "app=web,tier=db", "app.kubernetes.io/name=web", "x=", "app in (web),!tier",
])
FIELDS = st.sampled_from(["", "spec.nodeName=n1", "status.phase=Running", "metadata.name=p",
                          "spec.nodeName!=n1", "spec.nodeName="])


def pod(labels: dict[str, str], node: str, phase: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d", "labels": labels},
            "spec": spec, "status": {"phase": phase}}


@given(LABELS, st.sampled_from(["", "n1", "n2"]), st.sampled_from(["Running", "Pending"]), SELECTORS, FIELDS)
def test_the_prefilter_keeps_every_object_the_selectors_match(
    labels: dict[str, str], node: str, phase: str, selector: str, fields: str,
) -> None:
    options = ListOptions(label_selector=parse_selector(selector), field_selector=tuple(parse_field_selector(fields)))
    doc = pod(labels, node, phase)
    keep = options.raw_filter()
    if options.matches(doc) and keep is not None:
        assert keep(orjson.dumps(doc))
        assert keep(json.dumps(doc).encode())  # the spaced spelling


def test_the_prefilter_drops_what_cannot_match_and_keeps_what_it_cannot_read() -> None:
    options = ListOptions(label_selector=parse_selector("app=web"),
                          field_selector=tuple(parse_field_selector("spec.nodeName=n1")))
    keep = options.raw_filter()
    assert keep is not None
    assert keep(orjson.dumps(pod({"app": "web"}, "n1", "Running")))
    assert not keep(orjson.dumps(pod({"app": "db"}, "n1", "Running")))
    assert not keep(orjson.dumps(pod({"app": "web"}, "n2", "Running")))
    assert keep(b"k8s:enc:aescbc:v1:key1:\x00\x01")  # encrypted: decoded and judged later
    assert ListOptions(label_selector=parse_selector("!app")).raw_filter() is None
    converted = ListOptions(field_selector=tuple(parse_field_selector("metadata.name=p"))).raw_filter(converted=True)
    assert converted is None  # a converted kind's fields are not stored as served
