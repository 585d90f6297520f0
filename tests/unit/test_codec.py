"""The JSON codec: Go's escapes, compact output, and no error on integers orjson refuses."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kubelite.storage import codec
from kubelite.api.resources import PODS
from kubelite.storage.store import decode_document, document_bytes, document_renderer

documents = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(documents)
def test_round_trip_and_the_standard_encoders_bytes(doc: object) -> None:
    data = codec.dumps(doc)
    assert codec.loads(data) == doc
    assert data == json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def test_go_escapes_html_and_line_separators() -> None:
    assert codec.dumps_go({"a": "<b>&\u2028\u2029é"}) == b'{"a":"\\u003cb\\u003e\\u0026\\u2028\\u2029\xc3\xa9"}'


def test_integers_beyond_64_bits_fall_back_to_the_standard_encoder() -> None:
    assert codec.dumps({"n": 2**64}) == b'{"n":18446744073709551616}'


stored_documents = st.fixed_dictionaries(
    {"apiVersion": st.sampled_from(["v1", "apps/v1"]), "kind": st.sampled_from(["Pod", "ConfigMap"]),
     "metadata": st.dictionaries(st.sampled_from(["name", "namespace", "labels", "uid"]),
                                 st.text(max_size=6) | st.dictionaries(st.text(max_size=4), st.text(max_size=4)),
                                 max_size=3)},
    optional={"spec": documents, "data": st.dictionaries(st.text(max_size=5), st.text(max_size=5))},
)


@given(stored_documents, st.integers(1, 2**62))
def test_a_stored_objects_bytes_with_its_resource_version_spliced_equal_the_parsed_and_encoded_ones(
    doc: dict[str, object], revision: int,
) -> None:
    value = codec.dumps(doc)  # how the store writes it
    spliced = document_bytes(PODS, value, revision)
    assert document_renderer(PODS, None)(b"/registry/pods/default/p", value, revision) == spliced  # a LIST's items
    assert codec.loads(spliced) == decode_document(PODS, value, revision)  # valid JSON, same document
    assert len(spliced) == len(codec.dumps(decode_document(PODS, value, revision)))  # nothing else added


def test_a_value_of_another_shape_is_parsed_not_spliced() -> None:
    value = b'{"kind":"Pod","apiVersion":"v1","spec":{"template":{"metadata":{}}},"metadata":{"name":"x"}}'
    assert codec.loads(document_bytes(PODS, value, 7))["metadata"] == {"name": "x", "resourceVersion": "7"}
