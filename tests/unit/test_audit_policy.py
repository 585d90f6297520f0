"""The audit policy's loading, validation and rule matching (kube's checker.go and validation.go),
and the audit log's rotation (lumberjack's names and pruning): pure, no server."""

from __future__ import annotations

import datetime
import json
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.gateway.audit_log import (
    AuditLog,
    AuditLogOptions,
    SizeRotatingFile,
    backup_name,
    backup_time,
    backups_to_remove,
)
from kubelite.gateway.audit_policy import (
    DEFAULT_POLICY,
    Level,
    Policy,
    PolicyError,
    Rule,
    evaluate,
    load_policy,
    rule_matches,
)
from kubelite.auth.rbac import Attributes

HEAD = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"


def attrs(**kw: object) -> Attributes:
    base: dict[str, object] = {"user": "alice", "groups": ("devs", "system:authenticated"), "verb": "get"}
    base.update(kw)
    return Attributes(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "message"), [
    ("rules:\n- verbs: [get]\n", "rules[0].level: Required value"),
    ("rules:\n- level: Everything\n", 'rules[0].level: Unsupported value: "Everything"'),
    ("rules: []\n", "loaded illegal policy with 0 rules"),
    ("omitStages: [Soon]\nrules:\n- level: None\n", 'omitStages[0]: Invalid value: "Soon": allowed stages are'),
    ("rules:\n- level: None\n  nonResourceURLs: [healthz]\n", "rules[0].nonResourceURLs[0]: Invalid value: "
                                                               "\"healthz\": non-resource URL rules must begin"),
    ("rules:\n- level: None\n  nonResourceURLs: ['/a*/b']\n", "wildcards '*' must be the final character"),
    ("rules:\n- level: None\n  nonResourceURLs: [/x]\n  namespaces: [a]\n",
     "rules cannot apply to both regular resources and non-resource URLs"),
    ("rules:\n- level: None\n  resources: [{group: rbac.authorization.k8s.io/v1}]\n",
     'rules[0].resources.group: Invalid value: "rbac.authorization.k8s.io/v1"'),
    ("rules:\n- level: None\n  resources: [{resourceNames: [x]}]\n",
     "using resourceNames requires at least one resource"),
    ("rules:\n- level: None\n  users: admin\n", "rules[0].users: Invalid value: must be a list of strings"),
    ("rules:\n- level: Metadata\n  omitStages: [Later]\n- {}\n",
     '[rules[0].omitStages[0]: Invalid value: "Later": allowed stages are RequestReceived,ResponseStarted,'
     'ResponseComplete,Panic, rules[1].level: Required value]'),
])
def test_bad_policies_name_the_field(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(HEAD + text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_header_and_decoding() -> None:
    for text in ("rules:\n- level: None\n", "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n",
                 "apiVersion: audit.k8s.io/v1\nkind: Pod\nrules:\n- level: None\n"):
        with pytest.raises(PolicyError, match="unknown group version"):
            load_policy(text)
    with pytest.raises(PolicyError, match="failed decoding"):
        load_policy("rules: [\n")
    policy, warnings = load_policy(HEAD + "extra: 1\nrules:\n- level: Metadata\n  colour: red\n")
    assert warnings == ['unknown field "extra"', 'unknown field "rules[0].colour"']  # kube: lenient, warned
    assert policy.rules[0].level is Level.METADATA
    as_json = json.dumps({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Request"}]})
    assert load_policy(as_json)[0].rules[0].level is Level.REQUEST


def test_rule_matching_as_kube() -> None:
    policy, _ = load_policy(HEAD + """
omitStages: [RequestReceived]
omitManagedFields: true
rules:
- level: None
  users: [system:kube-proxy]
  verbs: [watch]
- level: RequestResponse
  userGroups: [auditors]
  omitManagedFields: false
- level: Metadata
  resources: [{group: "", resources: [secrets, configmaps]}]
- level: Request
  resources: [{group: "", resources: [pods/log, "*/status"]}, {group: apps, resources: ["deployments/*"]}]
- level: Request
  resources: [{group: "*", resources: [leases], resourceNames: [mine]}]
- level: Metadata
  namespaces: [""]
  verbs: [delete]
- level: Metadata
  nonResourceURLs: [/healthz*, /version]
  omitStages: [ResponseComplete]
- level: None
""")
    def level(**kw: object) -> Level:
        return evaluate(policy, attrs(**kw)).level
    assert level(user="system:kube-proxy", verb="watch", resource="endpoints") is Level.NONE
    assert level(user="system:kube-proxy", verb="get", resource="secrets") is Level.METADATA
    audit = evaluate(policy, attrs(groups=("auditors",), resource="pods"))
    assert audit.level is Level.REQUEST_RESPONSE and audit.omit_managed_fields is False
    assert audit.omit_stages == frozenset({"RequestReceived"})
    assert evaluate(policy, attrs(resource="secrets")).omit_managed_fields is True
    assert level(resource="configmaps", namespace="x") is Level.METADATA
    assert level(resource="pods") is Level.NONE  # "pods/log" does not match the pods themselves
    assert level(resource="pods", subresource="log") is Level.REQUEST
    assert level(resource="nodes", subresource="status") is Level.REQUEST
    assert level(api_group="apps", resource="deployments", subresource="scale") is Level.REQUEST
    assert level(api_group="apps", resource="deployments") is Level.REQUEST  # kube: "x/*" matches x itself too
    assert level(api_group="batch", resource="jobs", subresource="scale") is Level.NONE
    assert level(api_group="coordination.k8s.io", resource="leases", name="mine") is Level.REQUEST
    assert level(api_group="coordination.k8s.io", resource="leases", name="other") is Level.NONE
    assert level(verb="delete", resource="nodes") is Level.METADATA  # cluster-scoped: namespace ""
    assert level(verb="delete", resource="pods", namespace="x") is Level.NONE
    health = evaluate(policy, attrs(resource_request=False, path="/healthz/ready"))
    assert health.level is Level.METADATA and health.omit_stages == frozenset({"RequestReceived", "ResponseComplete"})
    assert level(resource_request=False, path="/versions") is Level.NONE
    # no user (failed authentication): rules naming users or groups never match
    assert evaluate(policy, attrs(groups=("auditors",), resource="pods"), authenticated=False).level is Level.NONE


def test_default_policy_logs_writes_at_metadata_only() -> None:
    for verb in ("create", "update", "patch", "delete", "deletecollection"):
        assert evaluate(DEFAULT_POLICY, attrs(verb=verb, resource="secrets")).level is Level.METADATA
    for verb in ("get", "list", "watch"):
        assert evaluate(DEFAULT_POLICY, attrs(verb=verb, resource="secrets")).level is Level.NONE
    assert "RequestReceived" in DEFAULT_POLICY.omit_stages


texts = st.sampled_from(["", "a", "pods", "team", "get", "/x"])


@given(user=texts, verb=texts, resource=texts, namespace=texts, rest=st.lists(st.sampled_from(list(Level)), max_size=3))
def test_an_empty_rule_matches_everything_and_the_first_match_wins(user: str, verb: str, resource: str,
                                                                     namespace: str, rest: list[Level]) -> None:
    request = attrs(user=user, verb=verb, resource=resource, namespace=namespace)
    assert rule_matches(Rule(Level.METADATA), request)
    policy = Policy((Rule(Level.REQUEST), *(Rule(level) for level in rest)))
    assert evaluate(policy, request).level is Level.REQUEST


def test_backup_names_and_pruning() -> None:
    log = Path("/var/log/audit.log")
    when = datetime.datetime(2026, 12, 1, 2, 3, 4, 567000, tzinfo=datetime.UTC)
    assert backup_name(log, when).name == "audit-2026-12-01T02-03-04.567.log"
    assert backup_time(log, "audit-2026-12-01T02-03-04.567.log") == when
    assert backup_time(log, "audit.log") is None and backup_time(log, "other-2026-12-01T02-03-04.567.log") is None
    day = datetime.timedelta(days=1)
    backups = [(f"b{i}", when - i * day) for i in range(5)]
    assert backups_to_remove(backups, now=when, max_backups=0, max_age_days=0) == []
    assert backups_to_remove(backups, now=when, max_backups=2, max_age_days=0) == ["b2", "b3", "b4"]
    assert backups_to_remove(backups, now=when, max_backups=0, max_age_days=3) == ["b4"]
    assert sorted(backups_to_remove(backups, now=when, max_backups=4, max_age_days=2)) == ["b3", "b4"]


def test_rotation_by_size_keeps_whole_lines(tmp_path: Path) -> None:
    times = iter(datetime.datetime(2026, 12, 1, 0, 0, s, tzinfo=datetime.UTC) for s in range(60))
    path = tmp_path / "audit.log"
    handler = SizeRotatingFile(path, max_bytes=100, max_backups=2, max_age_days=0, clock=lambda: next(times))
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(12):
        handler.emit(logging.makeLogRecord({"msg": f"event-{i:02d}-" + "x" * 30}))  # 40 bytes with the newline
    handler.close()
    backups = sorted(p.name for p in tmp_path.iterdir() if p.name != "audit.log")
    assert backups == ["audit-2026-12-01T00-00-03.000.log", "audit-2026-12-01T00-00-04.000.log"]  # 5 rotations
    assert path.read_text().splitlines() == [f"event-{i:02d}-" + "x" * 30 for i in (10, 11)]
    assert all((tmp_path / b).read_text().count("\n") == 2 for b in backups)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in tmp_path.iterdir())


def test_dash_writes_json_lines_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    log = AuditLog(AuditLogOptions(path="-"))
    log.start()
    log.write({"kind": "Event", "verb": "create", "objectRef": {"name": "ünï %s"}})
    log.stop()  # drains the queue
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [{"kind": "Event", "verb": "create", "objectRef": {"name": "ünï %s"}}]
