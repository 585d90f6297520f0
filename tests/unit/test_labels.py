import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.core import LabelSelector, LabelSelectorRequirement
from kubelite.api.labels import (
    EQUALS,
    EXISTS,
    IN,
    NOT_IN,
    FieldRequirement,
    Requirement,
    Selector,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    field_value,
    label_value_errors,
    matches_fields,
    parse_field_selector,
    parse_selector,
    qualified_name_errors,
    selector_from_label_selector,
    selector_from_labels,
)

WEB = {"app": "web", "tier": "frontend", "env": "prod"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app=web,tier!=db", True),
        ("app=web,tier!=frontend", False),
        (" app = web , tier != db ", True),
        ("env in (prod,staging)", True),
        ("env in (staging)", False),
        ("env notin (prod)", False),
        ("missing notin (x)", True),
        ("missing!=x", True),
        ("!foo", True),
        ("!app", False),
        ("app", True),
        ("foo", False),
        ("app=", False),
        ("example.com/role", False),
        ("app in (web, db),!foo,env", True),
    ],
)
def test_string_selectors(text: str, matches: bool) -> None:
    assert parse_selector(text).matches(WEB) is matches


def test_empty_value_and_numeric_comparisons() -> None:
    assert parse_selector("app=").matches({"app": ""})
    assert parse_selector("replicas>3").matches({"replicas": "4"})
    assert not parse_selector("replicas>3").matches({"replicas": "3"})
    assert not parse_selector("replicas<3").matches({"replicas": "x"})
    assert parse_selector("a in (x,)").requirements[0].values == ("", "x")


@pytest.mark.parametrize(
    "bad",
    ["app=web=x", "=web", "app in web", "app in (web", "app in (a b)", ",", "a,,b", "a,", "!", "!a=b",
     "a b", "app=we b", "a>b", "Bad Key=x", "app=-web", "a/b/c=x", "a in (-x)"],
)
def test_malformed_string_selectors(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_selector(bad)


def test_label_selector_objects() -> None:
    selector = LabelSelector(
        match_labels={"app": "web"},
        match_expressions=[
            LabelSelectorRequirement(key="env", operator="In", values=["prod", "staging"]),
            LabelSelectorRequirement(key="canary", operator="DoesNotExist"),
        ],
    )
    assert selector.matches(WEB)
    assert not selector.matches({**WEB, "canary": "yes"})
    assert not selector.matches({"app": "web"})
    assert LabelSelector().matches(WEB)
    assert LabelSelector().matches(None)
    assert not selector_from_label_selector(None).matches(WEB)
    assert str(selector_from_label_selector(selector)) == "app=web,env in (prod,staging),!canary"


@pytest.mark.parametrize(
    "expression",
    [
        LabelSelectorRequirement(key="a", operator="Equals", values=["x"]),
        LabelSelectorRequirement(key="a", operator="In", values=[]),
        LabelSelectorRequirement(key="a", operator="Exists", values=["x"]),
    ],
)
def test_malformed_label_selector_objects(expression: LabelSelectorRequirement) -> None:
    with pytest.raises(ValueError):
        LabelSelector(match_expressions=[expression]).matches(WEB)


def test_selector_of_labels_and_nothing() -> None:
    assert selector_from_labels(WEB).matches(WEB)
    assert not selector_from_labels(WEB).matches({"app": "web"})
    assert Selector().is_empty() and Selector().matches(None)
    assert not Selector(nothing=True).matches({})


@pytest.mark.parametrize(
    ("key", "ok"),
    [("app", True), ("app.kubernetes.io/name", True), ("A_b.c-D", True), ("example.com/", False), ("/x", False),
     ("-a", False), ("a" * 63, True), ("a" * 64, False), ("Example.com/x", False), ("a/b/c", False), ("", False)],
)
def test_qualified_names(key: str, ok: bool) -> None:
    assert (qualified_name_errors(key) == []) is ok


@pytest.mark.parametrize(("value", "ok"), [("", True), ("web", True), ("1.0_rc-2", True), ("-x", False),
                                           ("x" * 64, False), ("a b", False)])
def test_label_values(value: str, ok: bool) -> None:
    assert (label_value_errors(value) == []) is ok


def test_dns_names() -> None:
    assert dns1123_subdomain_errors("my-app.example.com") == []
    assert dns1123_subdomain_errors("My-App")
    assert dns1123_subdomain_errors("a" * 254)
    assert dns1123_label_errors("web-1") == []
    assert dns1123_label_errors("web.1")
    assert dns1123_label_errors("a" * 64)


label_names = st.from_regex(r"[a-z0-9]([-a-z0-9_.]{0,10}[a-z0-9])?", fullmatch=True)
label_values = st.one_of(st.just(""), label_names)
requirements = st.one_of(
    st.builds(lambda k, v: Requirement(k, EQUALS, (v,)), label_names, label_values),
    st.builds(lambda k, v: Requirement(k, "!=", (v,)), label_names, label_values),
    st.builds(lambda k, vs: Requirement(k, IN, tuple(sorted(vs))), label_names, st.sets(label_names, min_size=1)),
    st.builds(lambda k, vs: Requirement(k, NOT_IN, tuple(sorted(vs))), label_names, st.sets(label_names, min_size=1)),
    st.builds(lambda k: Requirement(k, EXISTS), label_names),
    st.builds(lambda k: Requirement(k, "!"), label_names),
)


@given(st.lists(requirements, max_size=5))
def test_selector_strings_round_trip(reqs: list[Requirement]) -> None:
    selector = Selector(tuple(reqs))
    assert parse_selector(str(selector)) == selector


@given(st.dictionaries(label_names, label_values, max_size=6), st.dictionaries(label_names, label_values, max_size=3))
def test_labels_selector_matches_supersets(labels: dict[str, str], extra: dict[str, str]) -> None:
    selector = selector_from_labels(labels)
    assert selector.matches(labels)
    assert selector.matches({**extra, **labels})
    assert parse_selector(str(selector)).matches(labels)


@given(st.lists(requirements, max_size=4), st.dictionaries(label_names, label_values, max_size=6))
def test_selector_is_a_conjunction(reqs: list[Requirement], labels: dict[str, str]) -> None:
    assert Selector(tuple(reqs)).matches(labels) == all(Selector((r,)).matches(labels) for r in reqs)


POD = {"metadata": {"name": "web-1", "namespace": "default"}, "spec": {"nodeName": "n1"},
       "status": {"phase": "Running"}, "unschedulable": True}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("metadata.name=web-1", True),
        ("metadata.name==web-1,status.phase=Running", True),
        ("metadata.name=web-2", False),
        ("spec.nodeName!=", True),
        ("spec.nodeName=", False),
        ("spec.missing=", True),
        ("status.phase!=Running", False),
        ("unschedulable=true", True),
        ("", True),
    ],
)
def test_field_selectors(text: str, matches: bool) -> None:
    assert matches_fields(parse_field_selector(text), POD) is matches


def test_field_selector_details() -> None:
    assert parse_field_selector("metadata.name=a\\,b") == [FieldRequirement("metadata.name", "a,b")]
    assert parse_field_selector("spec.nodeName!=") == [FieldRequirement("spec.nodeName", "", negated=True)]
    assert field_value({"spec": {"nodeName": None}}, "spec.nodeName") == ""
    assert field_value({"spec": "x"}, "spec.nodeName") == ""


@pytest.mark.parametrize("bad", ["metadata.name", "=x", "metadata.name in (a)", "a!x"])
def test_malformed_field_selectors(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_field_selector(bad)
