"""kubectl's rollout messages, history and undo choices from plain dicts (no I/O)."""

from __future__ import annotations

import pytest

from kubelite.cli import rollout


def dep(*, generation: int = 2, observed: int = 2, replicas: int = 3, updated: int = 3, total: int = 3,
        available: int = 3, conditions: list | None = None) -> dict:
    return {"metadata": {"name": "web", "uid": "d1", "generation": generation},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "web"}}}},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
                       "availableReplicas": available, "conditions": conditions or []}}


@pytest.mark.parametrize(("kwargs", "message", "done"), [
    ({"observed": 1}, "Waiting for deployment spec update to be observed...", False),
    ({"updated": 1, "total": 4},
     'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...', False),
    ({"total": 5}, 'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...', False),
    ({"available": 1}, 'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...', False),
    ({}, 'deployment "web" successfully rolled out', True),
])
def test_status_messages(kwargs: dict, message: str, done: bool) -> None:
    state = rollout.rollout_status(dep(**kwargs))
    assert (state.message, state.done, state.error) == (message, done, False)


def test_progress_deadline_is_an_error() -> None:
    state = rollout.rollout_status(dep(available=1, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]))
    assert state.error and state.message == 'deployment "web" exceeded its progress deadline'


def rs(name: str, revision: str, image: str, owner: str = "d1", cause: str | None = None) -> dict:
    annotations = {"deployment.kubernetes.io/revision": revision}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return {"metadata": {"name": name, "annotations": annotations,
                         "ownerReferences": [{"uid": owner, "controller": True, "kind": "Deployment", "name": "web"}]},
            "spec": {"template": {"metadata": {"labels": {"app": "web", "pod-template-hash": name[-4:]}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


SETS = [rs("web-aaaa", "1", "v1"), rs("web-cccc", "3", "v3", cause="kl apply"), rs("web-bbbb", "2", "v2"),
        rs("other-dddd", "9", "v9", owner="someone-else")]


def test_history_is_owned_and_ordered() -> None:
    revisions = rollout.history(dep(), SETS)
    assert [rev for rev, _ in revisions] == [1, 2, 3]
    assert rollout.history_lines("deployment.apps/web", revisions) == [
        "deployment.apps/web", "REVISION   CHANGE-CAUSE", "1          <none>", "2          <none>",
        "3          kl apply"]


def test_undo_goes_to_previous_revision_without_hash_label() -> None:
    rev, chosen = rollout.undo_target(dep(), SETS)
    assert rev == 2
    template = rollout.template_for_undo(chosen)
    assert template["metadata"]["labels"] == {"app": "web"}
    assert template["spec"]["containers"][0]["image"] == "v2"
    assert rollout.same_template(chosen["spec"]["template"], template)


def test_undo_to_revision_and_errors() -> None:
    assert rollout.undo_target(dep(), SETS, to_revision=1)[0] == 1
    with pytest.raises(rollout.RolloutError, match="unable to find specified revision 7"):
        rollout.undo_target(dep(), SETS, to_revision=7)
    with pytest.raises(rollout.RolloutError, match='no rollout history found for deployment "web"'):
        rollout.undo_target(dep(), SETS[:1])


def test_undo_is_skipped_when_the_template_is_the_same_however_spelled() -> None:
    """kubectl marshals a template from Go structs: `resources: {}`, `creationTimestamp: null`, defaults."""
    _, chosen = rollout.undo_target(dep(), SETS)
    as_kubectl_writes = {"metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "v2", "resources": {},
                                                  "imagePullPolicy": "Always"}],  # untagged image: Always
                                  "restartPolicy": "Always", "terminationGracePeriodSeconds": 30}}
    assert rollout.same_template(as_kubectl_writes, chosen["spec"]["template"])
    as_kubectl_writes["spec"]["containers"][0]["image"] = "v3"
    assert not rollout.same_template(as_kubectl_writes, chosen["spec"]["template"])


def test_undo_annotations_as_kubectl_computes_them() -> None:
    deployment = dep()
    deployment["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "3", "owner": "me",
                                             "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    target = rs("web-aaaa", "1", "v1", cause="first")
    target["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] = "0"
    assert rollout.annotations_for_undo(deployment, target) == {
        "deployment.kubernetes.io/revision": "3", "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "kubernetes.io/change-cause": "first"}


def test_status_pinned_to_a_revision() -> None:
    deployment = dep()
    assert rollout.rollout_status(deployment, 2).message == \
        "desired revision (2) is different from the running revision (0)"
    deployment["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    assert rollout.rollout_status(deployment, 2).done
    state = rollout.rollout_status(deployment, 1)
    assert state.error and state.message == "desired revision (1) is different from the running revision (2)"


def test_revision_of_documents_is_the_shared_rule() -> None:
    from kubelite.api.rollout_annotations import revision_of
    assert revision_of(rs("a", "7", "demo:1")) == 7
    assert revision_of(rs("a", "seven", "demo:1")) == 0  # not a number: kubectl's Revision reads 0
    assert revision_of({"metadata": {}}) == revision_of(None) == 0


def test_describe_names_the_highest_revision_the_new_replicaset() -> None:
    from datetime import UTC, datetime

    from kubelite.cli import describe
    deployment = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"replicas": 1}, "status": {}}
    rss = [rs("web-a", "9", "demo:1"), rs("web-b", "10", "demo:2"), rs("web-c", "bad", "demo:3")]
    for r in rss:
        r["status"] = {"replicas": 1}
    text = "\n".join(describe.describe_deployment(deployment, datetime(2026, 1, 1, tzinfo=UTC), rss))
    new_line = next(line for line in text.splitlines() if line.startswith("NewReplicaSet"))
    assert "web-b" in new_line  # "10" > "9" as numbers; a bad revision counts as 0
