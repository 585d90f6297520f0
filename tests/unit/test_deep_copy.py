"""``KubeModel.deep_copy`` (a dump of the set fields validated again) gives what pydantic's
``model_copy(deep=True)`` gives, the oracle here: equal values, the same set fields and extras at
every level, and nothing mutable shared with the original."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from kubelite.api.core import Pod

from tests.unit.test_bind_document import pods

def extra_fields(integers: st.SearchStrategy[int] = st.integers()) -> st.SearchStrategy[dict[str, Any]]:
    """Unknown fields: integers (``integers``) or lists of small objects."""
    return st.dictionaries(st.sampled_from(["xUnknown", "other"]),
                           st.one_of(integers, st.lists(st.dictionaries(st.just("k"), st.text(max_size=3)),
                                                        max_size=2)), max_size=2)


extras = extra_fields()


def with_extras(pod: Pod, top: dict[str, Any], spec_extra: dict[str, Any]) -> dict[str, Any]:
    """The pod's document with unknown fields added at the top and in the spec."""
    doc = pod.to_dict()
    doc.update(top)
    doc["spec"].update(spec_extra)
    return doc


def shape(value: Any) -> Any:
    """Everything a copy must keep: per model its class, set fields and extras, recursively."""
    if isinstance(value, BaseModel):
        return (type(value), sorted(value.model_fields_set), shape(value.__pydantic_extra__),
                {name: shape(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return value


def mutable_ids(value: Any) -> set[int]:
    if isinstance(value, BaseModel):
        inner = [getattr(value, name) for name in type(value).model_fields]
        inner += list((value.__pydantic_extra__ or {}).values())
        return {id(value)}.union(*(mutable_ids(item) for item in inner))
    if isinstance(value, dict):
        return {id(value)}.union(*(mutable_ids(item) for item in value.values()))
    if isinstance(value, list):
        return {id(value)}.union(*(mutable_ids(item) for item in value))
    return set()


@settings(max_examples=150, deadline=None)
@given(pods, extras, extras)
def test_deep_copy_is_model_copy_deep(pod: Pod, top: dict[str, Any], spec_extra: dict[str, Any]) -> None:
    original = Pod.model_validate(with_extras(pod, top, spec_extra))
    original.metadata.resource_version = "7"  # assigned after validation: set, as pydantic records it
    copied = original.deep_copy()
    assert shape(copied) == shape(original.model_copy(deep=True))
    assert copied.to_dict() == original.to_dict()
    assert not mutable_ids(copied) & mutable_ids(original)


def test_a_value_its_field_does_not_take_is_copied_as_it_is() -> None:
    pod = Pod.model_validate({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    pod.spec.node_name = {"not": "a string"}  # type: ignore[assignment]  # assignment is not validated
    copied = pod.deep_copy()
    assert copied.spec.node_name == {"not": "a string"} and copied.spec.node_name is not pod.spec.node_name
