"""Pure DaemonSet and StatefulSet plans (no I/O): Kubernetes' table cases and hypothesis properties.

The simulations apply each plan at once (deleted pods vanish, created pods start not ready) and let
random pods become ready between passes, as a kubelet would.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api import nodeaffinity
from kubelite.api.core import Node, Pod, Taint
from kubelite.api.workloads import REVISION_HASH_LABEL, DaemonSet, StatefulSet

from controllers import daemonset_plan as dsp
from controllers import history
from controllers import statefulset_plan as ssp

NOW = datetime(2026, 1, 1, tzinfo=UTC)
_serial = itertools.count()


def node(name: str, *, labels: dict[str, str] | None = None, taints: list[Taint] | None = None) -> Node:
    return Node.model_validate({"metadata": {"name": name, "labels": labels or {}},
                                "spec": {"taints": [t.to_dict() for t in taints or []]}})


def pod(name: str, *, labels: dict[str, str], ready: bool = True, affinity: dict[str, Any] | None = None,
        phase: str = "Running", deleting: bool = False) -> Pod:
    n = next(_serial)
    doc: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default", "labels": labels,
                     "creationTimestamp": (NOW - timedelta(hours=1) + timedelta(seconds=n)).isoformat()},
        "spec": {"containers": [{"name": "c", "image": "i"}], "affinity": affinity},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                   "lastTransitionTime": (NOW - timedelta(minutes=5)).isoformat()}]},
    }
    if deleting:
        doc["metadata"]["deletionTimestamp"] = NOW.isoformat()
    return Pod.model_validate(doc)


def daemonset(*, selector: dict[str, str] | None = None, tolerations: list[dict[str, Any]] | None = None,
              max_unavailable: Any = 1, max_surge: Any = 0, strategy: str = "RollingUpdate",
              affinity: dict[str, Any] | None = None, host_network: bool = False) -> DaemonSet:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if selector:
        spec["nodeSelector"] = selector
    if tolerations:
        spec["tolerations"] = tolerations
    if affinity:
        spec["affinity"] = affinity
    if host_network:
        spec["hostNetwork"] = True
    update: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"maxUnavailable": max_unavailable, "maxSurge": max_surge}
    return DaemonSet.model_validate({
        "metadata": {"name": "ds", "namespace": "default", "uid": "u1", "generation": 1},
        "spec": {"selector": {"matchLabels": {"app": "ds"}}, "updateStrategy": update,
                 "template": {"metadata": {"labels": {"app": "ds"}}, "spec": spec}}})


def ds_pod(node_name: str, hash_: str, *, ready: bool = True, phase: str = "Running") -> Pod:
    return pod(f"ds-{next(_serial)}", labels={"app": "ds", REVISION_HASH_LABEL: hash_}, ready=ready, phase=phase,
               affinity=nodeaffinity.with_node_name(None, node_name))


# -- DaemonSet: tables ---------------------------------------------------------------------------

def test_should_run_follows_selector_affinity_and_taints() -> None:
    ds = daemonset(selector={"disk": "ssd"})
    assert dsp.should_run(ds, node("a", labels={"disk": "ssd"})) == (True, True)
    assert dsp.should_run(ds, node("b")) == (False, False)
    soft = node("c", labels={"disk": "ssd"}, taints=[Taint(key="k", effect="NoSchedule")])
    assert dsp.should_run(ds, soft) == (False, True)  # keeps running what is there
    hard = node("d", labels={"disk": "ssd"}, taints=[Taint(key="k", effect="NoExecute")])
    assert dsp.should_run(ds, hard) == (False, False)
    # the daemon defaults: node trouble and cordoning are tolerated
    for key, effect in (("node.kubernetes.io/unreachable", "NoExecute"), ("node.kubernetes.io/not-ready", "NoExecute"),
                        ("node.kubernetes.io/unschedulable", "NoSchedule"),
                        ("node.kubernetes.io/disk-pressure", "NoSchedule")):
        assert dsp.should_run(ds, node("e", labels={"disk": "ssd"}, taints=[Taint(key=key, effect=effect)]))[0]
    unavailable_net = node("f", labels={"disk": "ssd"},
                           taints=[Taint(key="node.kubernetes.io/network-unavailable", effect="NoSchedule")])
    assert not dsp.should_run(ds, unavailable_net)[0]
    assert dsp.should_run(daemonset(selector={"disk": "ssd"}, host_network=True), unavailable_net)[0]
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}}
    assert dsp.should_run(daemonset(affinity=affinity), node("g", labels={"zone": "b"}))[0]
    assert not dsp.should_run(daemonset(affinity=affinity), node("h", labels={"zone": "c"}))[0]


def test_daemon_pod_is_pinned_by_affinity_keeping_label_terms() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]}}}
    doc = dsp.daemon_pod(daemonset(affinity=affinity), "n7", "abc")
    terms = doc["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "zone", "operator": "Exists"}],
                      "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}]
    assert doc["metadata"]["labels"] == {"app": "ds", REVISION_HASH_LABEL: "abc", "pod-template-generation": "1"}
    assert nodeaffinity.target_node(None, doc["spec"]["affinity"]) == "n7"
    assert nodeaffinity.matches(None, doc["spec"]["affinity"], "n7", {"zone": "x"})
    assert not nodeaffinity.matches(None, doc["spec"]["affinity"], "n8", {"zone": "x"})


def test_manage_creates_missing_deletes_misplaced_failed_and_extra() -> None:
    ds = daemonset(selector={"run": "yes"})
    nodes = [node("a", labels={"run": "yes"}), node("b", labels={"run": "yes"}), node("c")]
    pods = [ds_pod("b", "h"), ds_pod("b", "h"), ds_pod("c", "h"), ds_pod("gone", "h")]
    plan = dsp.plan(ds, nodes, pods, "h", NOW)
    assert plan.create == ["a"]
    assert sorted(plan.delete) == sorted([pods[1].name, pods[2].name, pods[3].name])  # extra, misplaced, gone
    failed = ds_pod("a", "h", phase="Failed")
    plan = dsp.plan(ds, nodes[:1], [failed], "h", NOW)
    assert plan.delete == [failed.name] and plan.create == ["a"]
    status = dsp.plan(ds, nodes, pods, "h", NOW).status
    assert (status.desired_number_scheduled, status.current_number_scheduled, status.number_misscheduled) == (2, 1, 1)
    assert (status.number_ready, status.number_available, status.updated_number_scheduled) == (1, 1, 1)


def test_on_delete_creates_only_missing_pods() -> None:
    ds = daemonset(strategy="OnDelete")
    plan = dsp.plan(ds, [node("a"), node("b")], [ds_pod("a", "old")], "new", NOW)
    assert plan.create == ["b"] and plan.delete == []


def test_rolling_update_with_surge_starts_new_pods_beside_old_ones() -> None:
    ds = daemonset(max_unavailable=0, max_surge=1)
    nodes = [node("a"), node("b")]
    old = [ds_pod("a", "old"), ds_pod("b", "old")]
    plan = dsp.plan(ds, nodes, old, "new", NOW)
    assert plan.create == ["a"] and plan.delete == []
    new_a = ds_pod("a", "new", ready=False)
    assert dsp.plan(ds, nodes, [*old, new_a], "new", NOW).create == []  # waits for it
    ready_a = ds_pod("a", "new")
    plan = dsp.plan(ds, nodes, [*old, ready_a], "new", NOW)
    assert plan.delete == [old[0].name] and plan.create == ["b"]


# -- DaemonSet: properties ----------------------------------------------------------------------

node_sets = st.lists(st.tuples(st.booleans(), st.sampled_from([None, "NoSchedule", "NoExecute"])),
                     min_size=0, max_size=8)


@given(node_sets, st.lists(st.integers(0, 7), max_size=10), st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_eligible_nodes_get_exactly_one_pod(specs: list[tuple[bool, str | None]], stray: list[int],
                                            rnd: Any) -> None:
    ds = daemonset(selector={"run": "yes"})
    nodes = [node(f"n{i}", labels={"run": "yes"} if labelled else {},
                  taints=[Taint(key="t", effect=effect)] if effect else None)
             for i, (labelled, effect) in enumerate(specs)]
    pods = [ds_pod(f"n{i}", "h") for i in stray]  # pods left anywhere, some on nodes that do not exist
    for _ in range(4):
        plan = dsp.plan(ds, nodes, pods, "h", NOW)
        gone = set(plan.delete)
        pods = [p for p in pods if p.name not in gone] + [ds_pod(n, "h", ready=rnd.random() < 0.5)
                                                           for n in plan.create]
    by_node = dsp.pods_by_node(pods)
    eligible = {n.name for n in nodes if dsp.should_run(ds, n)[0]}
    keep = {n.name for n in nodes if dsp.should_run(ds, n)[1]}
    assert eligible <= set(by_node) <= keep
    assert all(len(by_node[n]) == 1 for n in eligible)
    assert dsp.plan(ds, nodes, pods, "h", NOW).create == []


@given(st.integers(1, 12), st.sampled_from([1, 2, 3, "25%", "50%"]), st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_rolling_update_never_exceeds_max_unavailable(count: int, max_unavailable: Any, rnd: Any) -> None:
    ds = daemonset(max_unavailable=max_unavailable)
    nodes = [node(f"n{i}") for i in range(count)]
    budget = dsp.resolve_budget(ds, count)[1]
    pods = [ds_pod(n.name, "old") for n in nodes]

    def unavailable(current: list[Pod]) -> int:
        by_node = dsp.pods_by_node(current)
        return sum(1 for n in nodes if not any(p.is_ready() for p in by_node.get(n.name, [])))

    for _ in range(8 * count + 8):
        before = unavailable(pods)
        plan = dsp.plan(ds, nodes, pods, "new", NOW)
        gone = set(plan.delete)
        pods = [p for p in pods if p.name not in gone]
        assert unavailable(pods) <= max(budget, before)
        pods += [ds_pod(n, "new", ready=False) for n in plan.create]
        # the kubelet: some new pods become ready
        pods = [ds_pod(dsp.target_node(p) or "", "new") if not p.is_ready() and rnd.random() < 0.6 else p
                for p in pods]
    assert {p.metadata.labels[REVISION_HASH_LABEL] for p in pods} == {"new"} and len(pods) == count


# -- ControllerRevision history -----------------------------------------------------------------

def test_history_matches_semantically_and_truncates_oldest_unused() -> None:
    from kubelite.api.workloads import ControllerRevision
    template = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    spelled = {"metadata": {"labels": {"a": "b"}},
               "spec": {"containers": [{"name": "c", "image": "i", "resources": {}}], "restartPolicy": "Always"}}
    revs = [ControllerRevision.model_validate({"metadata": {"name": f"r{i}"}, "revision": i,
                                               "data": history.revision_data(template if i == 2 else {"x": i})})
            for i in (1, 2, 3, 4)]
    assert revs[1].data["spec"]["template"]["$patch"] == "replace"
    assert [r.name for r in history.matching(revs, spelled)] == ["r2"]
    assert history.next_revision(revs) == 5
    assert history.to_delete(revs, {"r1", "r4"}, 1) == ["r2"]
    assert history.revision_name("x" * 300, "h") == "x" * 223 + "-h"


# -- StatefulSet ---------------------------------------------------------------------------------

def statefulset(replicas: int, *, partition: int = 0, parallel: bool = False, strategy: str = "RollingUpdate",
                max_unavailable: Any = None, start: int = 0) -> StatefulSet:
    update: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"partition": partition}
        if max_unavailable is not None:
            update["rollingUpdate"]["maxUnavailable"] = max_unavailable
    return StatefulSet.model_validate({
        "metadata": {"name": "web", "namespace": "default", "uid": "u2", "generation": 1},
        "spec": {"replicas": replicas, "serviceName": "web", "ordinals": {"start": start},
                 "podManagementPolicy": "Parallel" if parallel else "OrderedReady", "updateStrategy": update,
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}})


def sts_pod(ordinal: int, revision: str, *, ready: bool = True, deleting: bool = False) -> Pod:
    return pod(f"web-{ordinal}", labels={"app": "web", REVISION_HASH_LABEL: revision}, ready=ready, deleting=deleting)


REVS = ssp.Revisions(current="web-old", update="web-new")
SAME = ssp.Revisions(current="web-new", update="web-new")


def test_ordered_ready_creates_one_at_a_time_and_waits() -> None:
    sts = statefulset(3)
    assert ssp.plan(sts, [], SAME, NOW).create == [(0, "web-new")]
    assert ssp.plan(sts, [sts_pod(0, "web-new", ready=False)], SAME, NOW).create == []
    assert ssp.plan(sts, [sts_pod(0, "web-new")], SAME, NOW).create == [(1, "web-new")]
    assert ssp.plan(statefulset(3, parallel=True), [], SAME, NOW).create == [(0, "web-new"), (1, "web-new"),
                                                                              (2, "web-new")]
    assert ssp.plan(statefulset(2, start=5), [], SAME, NOW).create == [(5, "web-new")]


def test_scale_down_highest_first_one_at_a_time() -> None:
    pods = [sts_pod(i, "web-new") for i in range(4)]
    assert ssp.plan(statefulset(1), pods, SAME, NOW).delete == ["web-3"]
    assert ssp.plan(statefulset(1, parallel=True), pods, SAME, NOW).delete == ["web-3", "web-2", "web-1"]
    terminating = [*pods[:3], sts_pod(3, "web-new", deleting=True)]
    assert ssp.plan(statefulset(1), terminating, SAME, NOW).delete == []  # waits for web-3 to go


def test_identity_and_claims() -> None:
    sts = StatefulSet.model_validate({**statefulset(1).to_dict(), "spec": {
        **statefulset(1).to_dict()["spec"],
        "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "db"}},
                                  "spec": {"accessModes": ["ReadWriteOnce"]}}]}})
    doc = ssp.stateful_pod(sts, sts.spec.template.to_dict(), 4, "web-abc")
    assert doc["metadata"]["name"] == "web-4" and doc["spec"]["hostname"] == "web-4"
    assert doc["spec"]["subdomain"] == "web"
    assert doc["metadata"]["labels"] == {"app": "web", "statefulset.kubernetes.io/pod-name": "web-4",
                                         "apps.kubernetes.io/pod-index": "4", REVISION_HASH_LABEL: "web-abc"}
    assert doc["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-4"}}]
    claim = ssp.claims_of(sts, 4)[0]
    assert claim["metadata"]["name"] == "data-web-4"
    assert claim["metadata"]["labels"] == {"tier": "db", "app": "web"}


def test_status_and_rollout_completion() -> None:
    sts = statefulset(2)
    status, _ = ssp.compute_status(sts, [sts_pod(0, "web-new"), sts_pod(1, "web-old")], REVS, NOW)
    assert (status.replicas, status.ready_replicas, status.current_replicas, status.updated_replicas) == (2, 2, 1, 1)
    assert status.current_revision == "web-old"
    status, _ = ssp.compute_status(sts, [sts_pod(0, "web-new"), sts_pod(1, "web-new")], REVS, NOW)
    assert status.current_revision == "web-new" and status.current_replicas == 2


def test_on_delete_replaces_only_deleted_pods_with_the_update_revision() -> None:
    sts = statefulset(2, strategy="OnDelete")
    pods = [sts_pod(0, "web-old")]
    plan = ssp.plan(sts, pods, REVS, NOW)
    assert plan.create == [(1, "web-new")] and plan.delete == []


@given(st.integers(1, 7), st.integers(0, 8), st.booleans(), st.sampled_from([None, 1, 2, "50%"]),
       st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_ordered_creation_and_partitioned_update(replicas: int, partition: int, parallel: bool,
                                                 max_unavailable: Any, rnd: Any) -> None:
    # start: every pod at the old revision; then the template changes (update revision "web-new")
    sts = statefulset(replicas, partition=partition, parallel=parallel, max_unavailable=max_unavailable)
    pods = {i: sts_pod(i, "web-old") for i in range(replicas)}
    budget = max(1, {None: 1, 1: 1, 2: 2, "50%": -(-replicas // 2)}[max_unavailable])
    for _ in range(10 * replicas + 10):
        plan = ssp.plan(sts, list(pods.values()), REVS, NOW)
        created = [o for o, _ in plan.create]
        if not parallel:
            assert len(created) <= 1 and not (created and plan.delete)  # one step at a time
            for o in created:  # OrderedReady: every lower pod exists and is Ready
                assert all(i in pods and pods[i].is_ready() for i in range(o))
        for name in plan.delete:
            ordinal = int(name.rsplit("-", 1)[1])
            assert ordinal >= partition  # the partition is respected
            del pods[ordinal]
        unavailable = sum(1 for i in range(replicas) if i not in pods or not pods[i].is_ready())
        assert unavailable <= budget or not plan.delete
        for ordinal, revision in plan.create:
            assert revision == ("web-old" if ordinal < partition else "web-new")
            pods[ordinal] = sts_pod(ordinal, revision, ready=False)
        for i, p in list(pods.items()):  # the kubelet
            if not p.is_ready() and rnd.random() < 0.6:
                pods[i] = sts_pod(i, p.metadata.labels[REVISION_HASH_LABEL])
    assert sorted(pods) == list(range(replicas))
    assert {i: p.metadata.labels[REVISION_HASH_LABEL] for i, p in pods.items()} == {
        i: ("web-old" if i < partition else "web-new") for i in range(replicas)}


# -- local-path provisioner and storage classes -------------------------------------------------

def test_local_path_plan_binds_on_the_selected_node_and_reclaims() -> None:
    from controllers import localpath_plan as lp
    from kubelite.registry import storageclass
    classes = {"local-path": storageclass.LOCAL_PATH, "other": {"provisioner": "x"}}
    claim = {"metadata": {"name": "www-web-0", "namespace": "default", "uid": "abc"},
             "spec": {"storageClassName": "local-path", "accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "2Gi"}}}}
    assert lp.wants_volume(claim, classes) is None  # no pod placed yet (WaitForFirstConsumer)
    placed = {**claim, "metadata": {**claim["metadata"],
                                    "annotations": {storageclass.SELECTED_NODE_ANNOTATION: "n2"}}}
    assert lp.wants_volume(placed, classes) == "n2"
    assert lp.wants_volume({**placed, "spec": {**placed["spec"], "storageClassName": "other"}}, classes) is None
    volume = lp.volume_for(placed, storageclass.LOCAL_PATH, "n2")
    assert volume["metadata"]["name"] == "pvc-abc" and volume["spec"]["capacity"] == {"storage": "2Gi"}
    assert lp.node_terms(volume) == [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}]
    assert volume["spec"]["claimRef"]["uid"] == "abc"
    bound = lp.bound_claim(placed, volume)
    assert bound["spec"]["volumeName"] == "pvc-abc" and lp.wants_volume(bound, classes) is None
    assert lp.claimed_by(volume, bound)
    assert not lp.claimed_by(volume, {"metadata": {**bound["metadata"], "uid": "a claim of the same name, later"}})
    assert lp.released(volume, {"default/www-web-0": placed}) is None
    # its claim gone: Released first, then (Delete) deleted, once; the finalizer holds it for the node
    assert volume["metadata"]["finalizers"] == [storageclass.PROVISIONER_FINALIZER]
    assert lp.released(volume, {}) == "release"
    released = {**volume, "status": {"phase": "Released"}}
    assert lp.released(released, {}) == "delete"
    assert lp.released({**released, "metadata": {**volume["metadata"], "deletionTimestamp": "2026-12-01T00:00:00Z"}},
                       {}) is None
    kept = {**volume, "spec": {**volume["spec"], "persistentVolumeReclaimPolicy": "Retain"}}
    assert lp.released(kept, {"default/www-web-0": {"metadata": {"uid": "other"}}}) == "release"
    assert lp.released({**kept, "status": {"phase": "Released"}}, {}) is None  # Retain keeps it
    assert "finalizers" not in lp.volume_for(placed, {"reclaimPolicy": "Retain"}, "n2")["metadata"]


def test_local_path_finalizer_follows_the_reclaim_policy() -> None:
    from controllers import localpath_plan as lp
    from kubelite.registry import storageclass
    claim = {"metadata": {"name": "c", "namespace": "default", "uid": "u"}, "spec": {"storageClassName": "local-path"}}
    volume = lp.volume_for(claim, storageclass.LOCAL_PATH, "n1")
    assert lp.finalizers(volume) is None
    older = {**volume, "metadata": {**volume["metadata"], "finalizers": ["other"]}}  # made before the finalizer
    assert lp.finalizers(older) == ["other", storageclass.PROVISIONER_FINALIZER]
    retained = {**volume, "spec": {**volume["spec"], "persistentVolumeReclaimPolicy": "Retain"}}
    assert lp.finalizers(retained) == []
    foreign = {**older, "metadata": {**older["metadata"], "annotations": {}}}  # not ours: left alone
    assert lp.finalizers(foreign) is None
    assert lp.finalizers({**older, "metadata": {**older["metadata"], "deletionTimestamp": "x"}}) is None
    assert storageclass.volume_node(volume) == "n1"
    assert storageclass.volume_node({"spec": {}}) is None


def test_default_storage_class_admission() -> None:
    from kubelite.registry import storageclass
    marked = {"metadata": {"name": "fast", "creationTimestamp": "2026-01-02T00:00:00Z",
                           "annotations": {storageclass.DEFAULT_CLASS_ANNOTATION: "true"}}}
    older = {"metadata": {"name": "slow", "creationTimestamp": "2026-01-01T00:00:00Z",
                          "annotations": {storageclass.DEFAULT_CLASS_ANNOTATION: "true"}}}
    plain = {"metadata": {"name": "plain"}}
    claim = {"metadata": {"name": "c"}, "spec": {}}
    assert storageclass.with_default_class(claim, [plain]) is None
    assert storageclass.with_default_class(claim, [older, marked, plain])["spec"]["storageClassName"] == "fast"
    assert storageclass.with_default_class({"spec": {"storageClassName": ""}}, [marked]) is None  # "" = no class


def test_scheduler_keeps_pods_with_their_local_volumes() -> None:
    from controllers.scheduling import NodeInfo, schedule
    nodes = [NodeInfo(Node.model_validate({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}})) for name in ("a", "b", "c")]
    terms = ({"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["b"]}]},)
    bare = pod("p", labels={})
    assert {schedule(pod(f"p{i}", labels={}), nodes).node for i in range(12)} == {"a", "b", "c"}
    assert {schedule(pod(f"p{i}", labels={}), nodes, volume_terms=(terms,)).node for i in range(12)} == {"b"}
    nowhere = ({"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["z"]}]},)
    decision = schedule(bare, nodes, volume_terms=(nowhere,))
    assert decision.node is None and "3 node(s) had volume node affinity conflict" in decision.message


def test_failed_daemon_pods_are_deleted_with_back_off() -> None:
    from controllers.backoff import Backoff
    ds = daemonset()
    failed = ds_pod("a", "h", phase="Failed")
    held = dsp.plan(ds, [node("a")], [failed], "h", NOW, backoff={"a": 4.0})
    assert held.delete == [] and held.failed_nodes == [] and held.requeue_after == 4.0
    freed = dsp.plan(ds, [node("a")], [failed], "h", NOW, backoff={})
    assert freed.delete == [failed.name] and freed.failed_nodes == ["a"]
    now = [100.0]
    backoff = Backoff(initial=1, maximum=8, clock=lambda: now[0])
    assert [backoff.next("k") for _ in range(5)] == [1, 2, 4, 8, 8]
    assert backoff.remaining("k") == 8 and backoff.remaining("other") == 0
    now[0] += 5
    assert backoff.remaining("k") == 3
    now[0] += 100  # untouched for long: starts over
    assert backoff.next("k") == 1


@given(st.integers(1, 10), st.sampled_from([1, 2, "30%"]), st.randoms(use_true_random=False))
@settings(max_examples=50, deadline=None)
def test_surge_rolling_update_keeps_every_node_served(count: int, max_surge: Any, rnd: Any) -> None:
    ds = daemonset(max_unavailable=0, max_surge=max_surge)
    nodes = [node(f"n{i}") for i in range(count)]
    surge = dsp.resolve_budget(ds, count)[0]
    pods = [ds_pod(n.name, "old") for n in nodes]

    def served(current: list[Pod]) -> int:
        by_node = dsp.pods_by_node(current)
        return sum(1 for n in nodes if any(p.is_ready() for p in by_node.get(n.name, [])))

    for _ in range(6 * count + 8):
        plan = dsp.plan(ds, nodes, pods, "new", NOW)
        gone = set(plan.delete)
        pods = [p for p in pods if p.name not in gone]
        assert served(pods) == count  # an old pod goes only once its replacement is available
        pods += [ds_pod(n, "new", ready=False) for n in plan.create]
        doubled = sum(1 for ps in dsp.pods_by_node(pods).values() if len(ps) > 1)
        assert doubled <= surge  # never more than maxSurge nodes run two pods
        pods = [ds_pod(dsp.target_node(p) or "", "new") if not p.is_ready() and rnd.random() < 0.6 else p
                for p in pods]
    assert {p.metadata.labels[REVISION_HASH_LABEL] for p in pods} == {"new"} and len(pods) == count
