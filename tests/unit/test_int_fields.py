"""Every integer field of every served kind decodes and range-checks as kube-apiserver's does.

The fields come from Kubernetes' field table (their OpenAPI formats int32 /
int64 / int-or-string), not from a hand list, so a field the table gains is
tested too. Out of the format's range (or not an integer at all) → 422 naming
the field path with the decoder's words; in range (and within Kubernetes'
own limits for the field) → never refused for that field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api import parse_object
from kubelite.api.errors import ApiError, quote_value
from kubelite.api.schema import type_causes
from tests.helpers import refusal_causes as refusals
from tests.int_fields import INT_FIELDS, KINDS, base_object, format_range, scalar_fields, valid_range, with_value

FIELDS = [(kind, path, fmt) for kind in KINDS for path, fmt in INT_FIELDS[kind]]


@st.composite
def out_of_format(draw: st.DrawFn, fmt: str) -> Any:
    low, high = format_range(fmt)
    wrong = [st.integers(max_value=low - 1), st.integers(min_value=high + 1),
             st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
             st.booleans(), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                   max_size=1)]
    if fmt != "int-or-string":
        wrong.append(st.text(max_size=5))
    return draw(st.one_of(wrong))


def test_every_served_kind_has_its_integer_fields_in_the_table() -> None:
    paths = {kind: dict(INT_FIELDS[kind]) for kind in KINDS}
    assert paths["Deployment"]["spec.replicas"] == "int32"
    assert paths["Deployment"]["spec.strategy.rollingUpdate.maxSurge"] == "int-or-string"
    assert paths["Pod"]["spec.terminationGracePeriodSeconds"] == "int64"
    assert paths["Pod"]["spec.containers[0].ports[0].containerPort"] == "int32"
    assert paths["Node"]["status.daemonEndpoints.kubeletEndpoint.Port"] == "int32"
    assert paths["Lease"]["spec.leaseDurationSeconds"] == "int32"
    assert paths["Event"]["count"] == "int32"
    assert paths["Namespace"]["metadata.generation"] == "int64"
    assert sum(len(v) for v in paths.values()) > 300


@settings(max_examples=400, deadline=None)
@given(data=st.data(), field=st.sampled_from(FIELDS))
def test_out_of_range_or_ill_typed_integers_are_invalid_naming_the_field(data: st.DataObject,
                                                                        field: tuple[str, str, str]) -> None:
    kind, path, fmt = field
    value = data.draw(out_of_format(fmt))
    causes = {c.field: c.message or "" for c in refusals(with_value(base_object(kind, "x"), path, value))}
    assert path in causes, (value, causes)
    assert "json: cannot unmarshal" in causes[path]
    assert causes[path].startswith(f"Invalid value: {quote_value(value)}: ")


@settings(max_examples=400, deadline=None)
@given(data=st.data(), field=st.sampled_from(FIELDS))
def test_in_range_integers_are_not_refused(data: st.DataObject, field: tuple[str, str, str]) -> None:
    kind, path, fmt = field
    low, high = valid_range(path, fmt)
    value = data.draw(st.one_of(st.integers(min_value=low, max_value=high), st.sampled_from([low, high])))
    doc = with_value(base_object(kind, "x"), path, value)
    assert type_causes(doc, kind) == []
    assert [c for c in refusals(doc) if c.field == path] == []


@pytest.mark.parametrize(("value", "words"), [
    (2**31, "json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (-(2**31) - 1, "cannot unmarshal number -2147483649 into Go struct field DeploymentSpec.spec.replicas"),
    ("3", "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (1.5, "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"),
])
def test_replicas_past_int32_gets_kube_apiservers_words(value: Any, words: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_object(with_value(base_object("Deployment", "big"), "spec.replicas", value))
    status = info.value.status
    assert status.code == 422 and status.reason == "Invalid"
    assert (status.message or "").startswith(
        f'Deployment.apps "big" is invalid: spec.replicas: Invalid value: {json.dumps(value)}: json: cannot unmarshal')
    assert words in (status.message or "")
    assert [c.field for c in status.details.causes or []] == ["spec.replicas"]  # type: ignore[union-attr]


def test_edges_of_int32_and_int64() -> None:
    deployment, pod = base_object("Deployment", "d"), base_object("Pod", "p")
    assert type_causes(with_value(deployment, "spec.replicas", 2**31 - 1), "Deployment") == []
    assert type_causes(with_value(pod, "spec.terminationGracePeriodSeconds", 2**63 - 1), "Pod") == []
    assert type_causes(with_value(pod, "spec.terminationGracePeriodSeconds", 2**31), "Pod") == []  # int64 field
    (cause,) = type_causes(with_value(pod, "spec.terminationGracePeriodSeconds", 2**63), "Pod")
    assert cause.field == "spec.terminationGracePeriodSeconds" and cause.message is not None
    assert cause.message.endswith("into Go struct field PodSpec.spec.terminationGracePeriodSeconds of type int64")


OTHER_SCALARS = [(kind, path, t) for kind in KINDS
                 for path, t in scalar_fields(kind, ("string", "boolean", "date-time", "number", "quantity"))]
WRONG_FOR = {"string": st.one_of(st.integers(), st.booleans(), st.lists(st.text(), max_size=1)),
             "date-time": st.one_of(st.integers(), st.booleans()),
             "boolean": st.one_of(st.integers(), st.text(max_size=3), st.just("true")),
             "number": st.one_of(st.text(max_size=3), st.booleans()),
             "quantity": st.one_of(st.booleans(), st.lists(st.integers(), max_size=1))}


@settings(max_examples=300, deadline=None)
@given(data=st.data(), field=st.sampled_from(OTHER_SCALARS))
def test_every_other_scalar_field_is_decoded_like_kube_apiserver(data: st.DataObject,
                                                                 field: tuple[str, str, str]) -> None:
    """Not only integers: a value of the wrong JSON type anywhere is refused, naming the field (kept fields too)."""
    kind, path, scalar = field
    value = data.draw(WRONG_FOR[scalar])
    causes = {c.field: c.message or "" for c in type_causes(with_value(base_object(kind, "x"), path, value), kind)}
    assert "json: cannot unmarshal" in causes.get(path, ""), (value, causes)
