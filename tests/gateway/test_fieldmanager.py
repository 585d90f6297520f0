"""Field ownership and server-side apply as pure functions (kubelite.gateway.fieldmanager).

Expected shapes are kube-apiserver's: FieldsV1 with ``f:``/``k:``/``v:`` and
``".": {}``, conflicts worded as its 409 message, removal of what the applier
dropped only when nobody else owns it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api import errors
from kubelite.gateway import fieldmanager as fm
from kubelite.gateway.fieldpath import from_fields_v1, to_fields_v1, to_string
from kubelite.gateway.fieldschema import root
from tests.gateway.service_schema import with_service  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(120)

DEPLOYMENT = root("Deployment")
T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"


def writer(manager: str = "kubectl", now: str = T0, subresource: str = "") -> fm.Write:
    return fm.Write(manager, "apps/v1", now, subresource)


def config(*, replicas: int | None = 2, labels: dict[str, str] | None = None,
           containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": containers if containers is not None else [{"name": "web", "image": "nginx"}]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    metadata: dict[str, Any] = {"name": "web", "namespace": "default"}
    if labels is not None:
        metadata["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def stored(doc: dict[str, Any]) -> dict[str, Any]:
    """What the store adds on create: identity and server-set metadata, a status."""
    doc = copy.deepcopy(doc)
    doc["metadata"].update({"uid": "u-1", "creationTimestamp": T0, "generation": 1, "resourceVersion": "5"})
    doc["status"] = {"replicas": 0}
    return doc


def managed(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in doc["metadata"].get("managedFields", [])}


def test_apply_records_kube_shaped_fields_v1() -> None:
    cfg = config(labels={"team": "a"}, containers=[
        {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]}])
    obj = fm.apply(None, cfg, DEPLOYMENT, writer(), force=False)
    (entry,) = obj["metadata"]["managedFields"]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType")} == {
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0, "fieldsType": "FieldsV1"}
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:team": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},  # LabelSelector is an atomic map
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"web"}': {
                    ".": {}, "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
                    "f:image": {}, "f:name": {},
                    # protocol is a key with a default, as kube keys container ports
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                }}},
            },
        },
    }


def test_removed_from_config_is_removed_when_solely_owned_and_kept_when_shared() -> None:
    cfg = config(labels={"team": "a", "tier": "web"},
                 containers=[{"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}]},
                             {"name": "side", "image": "busybox"}])
    live = stored(fm.apply(None, cfg, DEPLOYMENT, writer(), force=False))
    # another manager (an Update) sets the same tier label value and a label of its own
    edited = copy.deepcopy(live)
    edited["metadata"]["labels"]["owner"] = "ops"
    live = fm.update(live, edited, DEPLOYMENT, writer("kubectl-label", T1))
    assert managed(live)[("kubectl-label", "Update")]["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:owner": {}}}}
    smaller = config(replicas=None, labels={"team": "a"}, containers=[{"name": "web", "image": "nginx"}])
    after = fm.apply(live, smaller, DEPLOYMENT, writer(now=T2), force=False)
    assert after["metadata"]["labels"] == {"team": "a", "owner": "ops"}
    assert "replicas" not in after["spec"]
    assert after["spec"]["template"]["spec"]["containers"] == [{"name": "web", "image": "nginx"}]
    assert after["status"] == {"replicas": 0} and after["metadata"]["uid"] == "u-1"
    assert managed(after)[("kubectl", "Apply")]["time"] == T2


def test_a_field_another_manager_also_set_is_not_removed() -> None:
    live = stored(fm.apply(None, config(labels={"a": "1"}), DEPLOYMENT, writer(), force=False))
    # a second applier sets the same value: shared ownership, no conflict
    live = fm.apply(live, {**config(labels={"a": "1"}), "spec": {}}, DEPLOYMENT, writer("other"), force=False)
    assert "f:a" in json.dumps(managed(live)[("other", "Apply")]["fieldsV1"])
    after = fm.apply(live, config(labels={}), DEPLOYMENT, writer(now=T1), force=False)
    assert after["metadata"]["labels"] == {"a": "1"}


def test_conflict_is_409_naming_fields_and_managers_and_force_moves_ownership() -> None:
    live = stored(fm.apply(None, config(), DEPLOYMENT, writer(), force=False))
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    scaled["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    live = fm.update(live, scaled, DEPLOYMENT, writer("kubectl-edit", T1))
    # the Update took the fields it changed from the applier
    applier = from_fields_v1(managed(live)[("kubectl", "Apply")]["fieldsV1"])
    assert ("f:spec", "f:replicas") not in applier
    with pytest.raises(errors.ApiError) as caught:
        fm.apply(live, config(), DEPLOYMENT, writer(now=T2), force=False)
    status = caught.value.status
    assert status.code == 409 and status.reason == "Conflict"
    assert status.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-edit" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="web"].image'
    )
    assert status.details is not None and status.details.causes is not None
    assert [(c.reason, c.message, c.field) for c in status.details.causes] == [
        ("FieldManagerConflict", 'conflict with "kubectl-edit" using apps/v1', ".spec.replicas"),
        ("FieldManagerConflict", 'conflict with "kubectl-edit" using apps/v1',
         '.spec.template.spec.containers[name="web"].image'),
    ]
    forced = fm.apply(live, config(), DEPLOYMENT, writer(now=T2), force=True)
    assert forced["spec"]["replicas"] == 2
    assert ("kubectl-edit", "Update") not in managed(forced)  # nothing left: the entry goes


def test_single_conflict_message() -> None:
    live = stored(fm.apply(None, config(), DEPLOYMENT, writer(), force=False))
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    live = fm.update(live, scaled, DEPLOYMENT, writer("kubectl-scale", T1))
    with pytest.raises(errors.ApiError) as caught:
        fm.apply(live, config(), DEPLOYMENT, writer(), force=False)
    assert caught.value.status.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas')


def test_first_apply_to_an_object_without_managed_fields_conflicts_with_before_first_apply() -> None:
    live = stored(config(replicas=3))
    with pytest.raises(errors.ApiError) as caught:
        fm.apply(live, config(replicas=2), DEPLOYMENT, writer(), force=False)
    assert '"before-first-apply" using apps/v1: .spec.replicas' in (caught.value.status.message or "")
    same = fm.apply(live, config(replicas=3), DEPLOYMENT, writer(), force=False)
    assert set(managed(same)) == {("kubectl", "Apply"), ("before-first-apply", "Update")}


def test_update_entry_on_create_marks_new_maps_and_items() -> None:
    obj = fm.update(None, config(labels={"a": "1"}), DEPLOYMENT, writer("kubectl-create"))
    (entry,) = obj["metadata"]["managedFields"]
    assert entry["operation"] == "Update" and entry["manager"] == "kubectl-create"
    fields = entry["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:a": {}}}
    assert fields["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
        ".": {}, 'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}


def test_status_writes_are_owned_with_subresource_status_and_spec_writes_never_own_status() -> None:
    live = stored(fm.update(None, config(), DEPLOYMENT, writer("kubectl-create")))
    with_status = copy.deepcopy(live)
    with_status["status"] = {"replicas": 2, "readyReplicas": 2}
    after = fm.update(live, with_status, DEPLOYMENT, writer("kube-controller-manager", T1, "status"))
    entry = managed(after)[("kube-controller-manager", "Update")]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:readyReplicas": {}, "f:replicas": {}}}
    spec_write = copy.deepcopy(after)
    spec_write["status"] = {"replicas": 9}
    spec_write["spec"]["replicas"] = 4
    again = fm.update(after, spec_write, DEPLOYMENT, writer("kubectl-edit", T2))
    assert managed(again)[("kubectl-edit", "Update")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}


def test_update_managers_are_capped_at_ten() -> None:
    live = stored(config(labels={}))
    for i in range(12):
        changed = copy.deepcopy(live)
        changed["metadata"]["labels"][f"l{i}"] = "x"
        live = fm.update(live, changed, DEPLOYMENT, writer(f"m{i}", f"2026-01-01T00:00:{i + 10}Z"))
    entries = live["metadata"]["managedFields"]
    assert len(entries) == fm.MAX_UPDATE_MANAGERS
    (ancient,) = [e for e in entries if e["manager"] == "ancient-changes"]
    assert set(ancient["fieldsV1"]["f:metadata"]["f:labels"]) == {"f:l0", "f:l1", "f:l2"}


def test_user_sent_managed_fields_reset_with_an_empty_list() -> None:
    live = stored(fm.update(None, config(), DEPLOYMENT, writer("kubectl-create")))
    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = []
    after = fm.update(live, reset, DEPLOYMENT, writer("kubectl-edit", T1))
    assert "managedFields" not in after["metadata"]  # nothing changed, so nobody is recorded
    with pytest.raises(fm.InvalidField) as bad:
        fm.update(live, {**reset, "metadata": {**reset["metadata"], "managedFields": [{"operation": "Own"}]}},
                  DEPLOYMENT, writer())
    assert bad.value.field == "metadata.managedFields[0].operation"


def test_manager_name_from_query_or_user_agent() -> None:
    assert fm.manager_name("kubectl-client-side-apply", "kubectl/v1.32.0 (linux/amd64)") == "kubectl-client-side-apply"
    assert fm.manager_name(None, "kube-controller-manager/v1.32.0 (linux/amd64) kubernetes/abc") == \
        "kube-controller-manager"
    assert fm.manager_name(None, "OpenAPI-Generator/31.0.0/python") == "OpenAPI-Generator"
    with pytest.raises(fm.InvalidField):
        fm.validate_manager("x" * 129)


def test_path_strings_as_kube_prints_them() -> None:
    assert to_string(("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:targetPort")) == \
        '.spec.ports[port=80,protocol="TCP"].targetPort'
    assert to_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'


def test_associative_list_item_without_its_key_is_a_422() -> None:
    with pytest.raises(errors.ApiError) as caught:
        fm.apply(None, config(containers=[{"image": "x"}]), DEPLOYMENT, writer(), force=False)
    assert caught.value.code == 422 and 'omits key field "name"' in (caught.value.status.message or "")


# -- properties ------------------------------------------------------------------------------

elements = st.sampled_from(["f:a", "f:b", "f:c", 'k:{"name":"x"}', 'k:{"name":"y"}', 'v:"s"', "i:0"])
field_sets = st.frozensets(st.lists(elements, min_size=1, max_size=4).map(tuple), max_size=8)


@given(field_sets)
def test_fields_v1_round_trips(paths: frozenset[tuple[str, ...]]) -> None:
    assert from_fields_v1(to_fields_v1(paths)) == paths


names = st.sampled_from(["a", "b", "c", "d"])
containers = st.lists(
    st.fixed_dictionaries({"name": names, "image": st.sampled_from(["i1", "i2"])},
                          optional={"env": st.lists(st.fixed_dictionaries(
                              {"name": names, "value": st.sampled_from(["1", "2"])}), min_size=1, max_size=3, unique_by=lambda e: e["name"])}),
    min_size=1, max_size=3, unique_by=lambda c: c["name"])
configs = st.builds(
    lambda replicas, labels, cs: config(replicas=replicas, labels=labels, containers=cs),
    st.none() | st.integers(0, 5), st.none() | st.dictionaries(names, st.sampled_from(["x", "y"]), max_size=3),
    containers,
)


@settings(max_examples=150, deadline=None)
@given(configs)
def test_applying_the_same_config_twice_is_a_no_op(cfg: dict[str, Any]) -> None:
    once = stored(fm.apply(None, cfg, DEPLOYMENT, writer(), force=False))
    twice = fm.apply(once, cfg, DEPLOYMENT, writer(now=T1), force=False)
    assert twice == once


@settings(max_examples=150, deadline=None)
@given(configs, configs)
def test_the_sole_applier_ends_with_exactly_its_config(first: dict[str, Any], second: dict[str, Any]) -> None:
    """A sole manager's object is what it last applied, whatever it applied before (removals included).

    (An empty list is owned by nobody, as in structured-merge-diff, so the configs have none.)
    """
    live = stored(fm.apply(None, first, DEPLOYMENT, writer(), force=False))
    after = fm.apply(live, second, DEPLOYMENT, writer(now=T1), force=False)
    fresh = stored(fm.apply(None, second, DEPLOYMENT, writer(now=T1), force=False))
    without_managed = [{**d, "metadata": {k: v for k, v in d["metadata"].items() if k != "managedFields"}}
                       for d in (after, fresh)]
    assert without_managed[0] == without_managed[1]
    assert managed(after)[("kubectl", "Apply")]["fieldsV1"] == managed(fresh)[("kubectl", "Apply")]["fieldsV1"]


json_leaf = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["a", "b", "name"])
json_any = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["name", "image", "containers", "env", "ports", "containerPort", "value", "spec", "x"]),
    inner, max_size=3), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(json_any, json_any, json_any)
def test_hostile_configs_give_api_errors_never_crashes(spec: Any, template_spec: Any, managed_fields: Any) -> None:
    """Whatever the body, apply and update answer a result or a 4xx/409 error, never an exception of another kind."""
    live = stored(config())
    live["metadata"]["managedFields"] = managed_fields
    cfg = config()
    cfg["spec"]["template"]["spec"] = template_spec
    cfg["spec"]["x"] = spec
    for call in (
        lambda: fm.apply(live, cfg, DEPLOYMENT, writer(), force=False),
        lambda: fm.apply(None, cfg, DEPLOYMENT, writer(), force=True),
        lambda: fm.update(live, cfg, DEPLOYMENT, writer()),
    ):
        try:
            call()
        except errors.ApiError as exc:
            assert exc.code in (400, 409, 422)
        except fm.InvalidField:
            pass


@pytest.mark.usefixtures("with_service")
def test_service_ports_are_keyed_by_port_and_protocol_from_the_schema_alone() -> None:
    """Service is not served yet; apply keys its ports by (port, protocol) from the schema tables."""
    service = root("Service")
    base = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080},
                                                           {"port": 53, "protocol": "UDP", "name": "dns"}]}}
    live = stored(fm.apply(None, base, service, writer(), force=False))
    fields = live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
    assert set(fields["f:ports"]) == {'k:{"port":80,"protocol":"TCP"}', 'k:{"port":53,"protocol":"UDP"}'}
    assert fields["f:selector"] == {}  # an atomic map
    smaller = copy.deepcopy(base)
    smaller["spec"]["ports"] = [{"port": 80, "targetPort": 9090}]
    after = fm.apply(live, smaller, service, writer(now=T1), force=False)
    assert after["spec"]["ports"] == [{"port": 80, "targetPort": 9090}]


def test_a_change_of_spelling_is_no_change_of_ownership() -> None:
    """kube compares decoded, defaulted objects: ``resources: {}``, ``paused: false`` or ``cpu: "0.1"``
    for ``100m`` take no field from anyone (and so leave managedFields, and the object, as they were)."""
    typed = fm.Write("kubectl-patch", "apps/v1", T1, kind="Deployment")
    live = stored(fm.update(None, config(containers=[
        {"name": "web", "image": "nginx", "resources": {"requests": {"cpu": "100m"}}}]), DEPLOYMENT,
        fm.Write("kubectl-create", "apps/v1", T0, kind="Deployment")))
    respelled = copy.deepcopy(live)
    respelled["spec"]["paused"] = False
    container = respelled["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": "0.1"}, "limits": {}}
    container["command"] = []
    after = fm.update(live, respelled, DEPLOYMENT, typed)
    assert after["metadata"]["managedFields"] == live["metadata"]["managedFields"]
    untyped = fm.update(live, respelled, DEPLOYMENT, writer("kubectl-patch", T1))
    assert ("kubectl-patch", "Update") in managed(untyped)  # raw JSON would see changes
