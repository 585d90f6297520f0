"""The Deployment plan without I/O: one plan per reconcile, applied to in-memory objects by a
model of the executor and of an instantaneous ReplicaSet controller (pods appear at once and
become available when the test says so; scale-down removes unavailable pods first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.apps import Deployment, DeploymentStatus, ReplicaSet, ReplicaSetStatus
from kubelite.api.core import Container, Pod, PodSpec, PodStatus
from kubelite.api.meta import ObjectMeta
from kubelite.api.rollout_annotations import DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY, ROLLBACK_TO

from controllers import deployment_plan, rollout
from controllers.deployment_plan import CreateReplicaSet, DeleteReplicaSet, Plan, SetRevision, UpdateReplicaSet
from tests.controllers.objects import deployment, template

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Cluster:
    """The Deployment and its ReplicaSets as the cache would show them after each reconcile."""

    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.d.metadata.uid = "d-uid"
        self.rs: dict[str, ReplicaSet] = {}
        self.now = T0
        self.created = 0

    def reconcile(self, pods: dict[str, list[Pod]] | None = None) -> Plan:
        decided = deployment_plan.plan(self.d, list(self.rs.values()), pods or {}, self.now)
        self.apply(decided)
        return decided

    def apply(self, decided: Plan) -> None:
        for action in decided.actions:
            if isinstance(action, CreateReplicaSet):
                assert action.replicaset.name not in self.rs
                rs = action.replicaset.deep_copy()
                self.created += 1
                rs.metadata.uid = f"uid-{self.created}"
                rs.metadata.creation_timestamp = T0 + timedelta(seconds=self.created)
                self.rs[rs.name] = rs
            elif isinstance(action, UpdateReplicaSet):
                rs = self.rs[action.name]
                if action.replicas is not None:
                    rs.spec.replicas = action.replicas
                rs.metadata.annotations = dict(action.annotations)
                rs.spec.min_ready_seconds = action.min_ready_seconds
            elif isinstance(action, SetRevision):
                self.d.metadata.annotations = {**(self.d.metadata.annotations or {}), REVISION: action.revision}
            else:
                del self.rs[action.name]
        if decided.status is not None:
            self.d.status = decided.status

    def settle(self, newly_available: int = 0) -> None:
        """The ReplicaSet controller: status follows spec; ``newly_available`` more pods of each
        ReplicaSet become available; a smaller ReplicaSet keeps its available pods."""
        for rs in self.rs.values():
            before = (rs.status.available_replicas or 0) if rs.status else 0
            available = min(rs.replicas, before + newly_available)
            rs.status = ReplicaSetStatus(replicas=rs.replicas, ready_replicas=available, available_replicas=available)

    def total(self) -> int:
        return sum(rs.replicas for rs in self.rs.values())

    def available(self) -> int:
        return sum((rs.status.available_replicas or 0) if rs.status else 0 for rs in self.rs.values())

    def new_rs(self) -> ReplicaSet:
        return next(rs for rs in self.rs.values() if rollout.same_template(rs.spec.template, self.d.spec.template))

    def change_image(self, image: str) -> None:
        self.d.spec.template = template(self.d.name, image=image)


def rolled_out(replicas: int, image: str = "demo:1", **kwargs: object) -> Cluster:
    c = Cluster(deployment("web", replicas, image=image, **kwargs))  # type: ignore[arg-type]
    c.reconcile()
    c.settle(replicas)
    c.reconcile()
    return c


def running_pod(name: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace="default"),
               spec=PodSpec(containers=[Container(name="app", image="demo:1")]), status=PodStatus(phase="Running"))


# -- the new ReplicaSet ---------------------------------------------------------------------


def test_first_plan_creates_the_hashed_replicaset_at_revision_1() -> None:
    c = Cluster(deployment("web", 3))
    decided = c.reconcile()
    create = decided.actions[0]
    assert isinstance(create, CreateReplicaSet)
    rs = create.replicaset
    pod_hash = rollout.template_hash(c.d.spec.template)
    assert rs.name == f"web-{pod_hash}"
    assert (rs.metadata.labels or {})[rollout.HASH_LABEL] == pod_hash
    assert rs.spec.template is not None and rs.spec.template.metadata is not None
    assert (rs.spec.template.metadata.labels or {})[rollout.HASH_LABEL] == pod_hash
    assert rs.spec.selector is not None and (rs.spec.selector.match_labels or {})[rollout.HASH_LABEL] == pod_hash
    assert (rs.metadata.annotations or {})[REVISION] == "1"
    assert (rs.metadata.annotations or {})[DESIRED_REPLICAS] == "3"
    assert (rs.metadata.annotations or {})[MAX_REPLICAS] == "4"  # 3 + 25% surge rounded up
    assert rs.spec.replicas == 3
    assert rs.metadata.owner_references and rs.metadata.owner_references[0].uid == "d-uid"
    assert decided.actions[1:] == [SetRevision("1")]
    assert create.event.reason == "ScalingReplicaSet"
    assert decided.status is not None and decided.status.condition("Progressing") is not None
    assert decided.status.condition("Progressing").reason == "NewReplicaSetCreated"  # type: ignore[union-attr]


def test_template_change_makes_revision_2_within_the_surge() -> None:
    c = rolled_out(4, max_surge=1, max_unavailable=0)
    c.change_image("demo:2")
    decided = c.reconcile()
    create = decided.actions[0]
    assert isinstance(create, CreateReplicaSet)
    assert (create.replicaset.metadata.annotations or {})[REVISION] == "2"
    assert create.replicaset.spec.replicas == 1  # 4 old + 1 = replicas + maxSurge
    assert SetRevision("2") in decided.actions
    assert not any(isinstance(a, UpdateReplicaSet) for a in decided.actions)  # a created RS waits a round


def test_going_back_to_an_old_template_reuses_its_replicaset() -> None:
    c = rolled_out(2)
    first = c.new_rs().name
    c.change_image("demo:2")
    for _ in range(6):
        c.reconcile()
        c.settle(2)
    c.change_image("demo:1")
    decided = c.reconcile()
    sync = decided.actions[0]
    assert isinstance(sync, UpdateReplicaSet) and sync.name == first
    assert sync.annotations[REVISION] == "3" and sync.annotations[REVISION_HISTORY] == "1"
    assert sync.event is not None and sync.event.reason == "DeploymentRollback"
    assert SetRevision("3") in decided.actions
    assert len(c.rs) == 2


def test_paused_deployment_creates_nothing() -> None:
    c = rolled_out(2)
    c.d.spec.paused = True
    c.change_image("demo:2")
    decided = c.reconcile()
    assert decided.actions == []
    assert decided.status is not None
    progressing = decided.status.condition("Progressing")
    assert progressing is not None and progressing.reason == "DeploymentPaused"


def test_a_resize_while_paused_is_proportional() -> None:
    c = rolled_out(4, max_surge=1, max_unavailable=0)
    c.change_image("demo:2")
    c.reconcile()
    c.settle()
    c.d.spec.paused = True
    c.d.spec.replicas = 8
    c.reconcile()
    assert c.total() <= 8 + 2  # surge of 8 is 2
    assert all(rs.replicas > 1 for rs in c.rs.values())


# -- Recreate -------------------------------------------------------------------------------


def test_recreate_scales_old_to_zero_and_waits_for_their_pods() -> None:
    c = rolled_out(3, strategy="Recreate")
    old = c.new_rs().name
    c.change_image("demo:2")
    # no new ReplicaSet while old ones are up or their pods run (kube's rolloutRecreate)
    down = c.reconcile({old: [running_pod("p")]})
    assert not any(isinstance(a, CreateReplicaSet) for a in down.actions)
    assert [(a.name, a.replicas) for a in down.actions if isinstance(a, UpdateReplicaSet)] == [(old, 0)]
    still = c.reconcile({old: [running_pod("p")]})
    assert not any(isinstance(a, (CreateReplicaSet, UpdateReplicaSet)) for a in still.actions)  # old pods still running
    up = c.reconcile({})
    [create] = [a for a in up.actions if isinstance(a, CreateReplicaSet)]
    assert create.replicaset.spec.replicas == 3 and c.new_rs().name == create.replicaset.name


# -- history ----------------------------------------------------------------------------------


def test_history_beyond_the_limit_is_deleted_oldest_first_sparing_replicasets_with_pods() -> None:
    c = rolled_out(1, history=1, max_surge=1, max_unavailable=0)
    names = [c.new_rs().name]
    for image in ("demo:2", "demo:3", "demo:4"):
        c.change_image(image)
        for _ in range(4):
            c.reconcile({names[0]: [running_pod("left")]})
            c.settle(1)
        names.append(c.new_rs().name)
    # revisions 1..4; 1 has a pod left so it stays; of the empty 2 and 3, only 3 fits the limit
    assert set(c.rs) == {names[0], names[2], names[3]}


# -- progress ---------------------------------------------------------------------------------


def test_progress_deadline_exceeded_is_reported_once_with_a_requeue_before() -> None:
    c = Cluster(deployment("web", 2, progress_deadline=30))
    c.reconcile()
    c.settle()  # pods created, never available
    first = c.reconcile()
    assert first.requeue_after is not None and 29 < first.requeue_after <= 31
    c.now = T0 + timedelta(seconds=31)
    late = c.reconcile()
    assert late.status_event is not None and late.status_event.reason == "ProgressDeadlineExceeded"
    again = c.reconcile()
    assert again.status_event is None and again.status is None


def test_invalid_deployment_is_refused() -> None:
    d = deployment("web", 1)
    d.spec.selector = None
    try:
        deployment_plan.plan(d, [], {}, T0)
    except deployment_plan.InvalidDeployment as exc:
        assert "selector" in str(exc)
    else:
        raise AssertionError("no InvalidDeployment")


# -- the rollback-to annotation -----------------------------------------------------------------


def test_rollback_to_annotation() -> None:
    c = rolled_out(1)
    c.change_image("demo:2")
    for _ in range(4):
        c.reconcile()
        c.settle(1)
    rss = list(c.rs.values())
    c.d.metadata.annotations = {**(c.d.metadata.annotations or {}), ROLLBACK_TO: "0"}
    back = deployment_plan.rollback(c.d, rss)
    assert back.event.reason == "DeploymentRollback" and "revision 1" in back.event.message
    assert ROLLBACK_TO not in (back.deployment.metadata.annotations or {})
    assert rollout.same_template(back.deployment.spec.template, template("web", image="demo:1"))
    assert back.deployment.spec.template is not None and back.deployment.spec.template.metadata is not None
    assert rollout.HASH_LABEL not in (back.deployment.spec.template.metadata.labels or {})
    c.d.metadata.annotations = {**(c.d.metadata.annotations or {}), ROLLBACK_TO: "7"}
    assert deployment_plan.rollback(c.d, rss).event.reason == "DeploymentRollbackRevisionNotFound"
    c.d.metadata.annotations = {**(c.d.metadata.annotations or {}), ROLLBACK_TO: "2"}
    assert deployment_plan.rollback(c.d, rss).event.reason == "DeploymentRollbackTemplateUnchanged"


# -- invariants -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(replicas=st.integers(1, 12), surge=st.integers(0, 4), unavailable=st.integers(0, 4),
       progress=st.lists(st.integers(0, 3), min_size=1, max_size=60), second_change=st.integers(0, 10))
def test_rolling_update_stays_within_surge_and_availability(
        replicas: int, surge: int, unavailable: int, progress: list[int], second_change: int) -> None:
    if surge == 0 and unavailable == 0:
        unavailable = 1  # Kubernetes refuses both 0
    c = rolled_out(replicas, max_surge=surge, max_unavailable=unavailable)
    assert c.available() == replicas
    c.change_image("demo:2")
    for step, newly in enumerate([*progress, *[replicas] * (3 * replicas + 6)]):
        if step == second_change and step < len(progress):
            c.change_image("demo:3")  # a second rollout on top of an unfinished one
        c.reconcile()
        assert all(rs.replicas >= 0 for rs in c.rs.values())
        assert c.total() <= replicas + surge
        c.settle(newly)
        assert c.available() >= replicas - unavailable
        hashes = [(rs.metadata.labels or {})[rollout.HASH_LABEL] for rs in c.rs.values()]
        assert len(hashes) == len(set(hashes))
    new = c.new_rs()
    assert new.replicas == replicas and c.total() == replicas  # converged
    assert c.d.status is not None and c.d.status.updated_replicas == replicas
    assert (c.d.metadata.annotations or {})[REVISION] == (new.metadata.annotations or {})[REVISION]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["scale", "image", "pause", "settle"]), st.integers(0, 8)),
                min_size=1, max_size=40),
       st.sampled_from(["RollingUpdate", "Recreate"]))
def test_random_operations_keep_one_replicaset_per_template_and_no_negative_sizes(
        ops: list[tuple[str, int]], strategy: str) -> None:
    c = Cluster(deployment("web", 2, strategy=strategy))
    for op, n in ops:
        if op == "scale":
            c.d.spec.replicas = n
        elif op == "image":
            c.change_image(f"demo:{n % 3}")
        elif op == "pause":
            c.d.spec.paused = not c.d.spec.paused
        else:
            c.settle(n)
        c.reconcile()
        assert all(rs.replicas >= 0 for rs in c.rs.values())
        templates = [rs.spec.template for rs in c.rs.values()]
        for i, a in enumerate(templates):
            assert not any(rollout.same_template(a, b) for b in templates[i + 1:])
        revisions = [deployment_plan.revision_of(rs) for rs in c.rs.values()]
        assert len(revisions) == len(set(revisions))


def test_status_unchanged_is_not_written() -> None:
    c = rolled_out(2)
    decided = c.reconcile()
    assert decided.actions == [] and decided.status is None
    assert isinstance(c.d.status, DeploymentStatus)


def test_deleting_history_plans_deletes() -> None:
    c = rolled_out(1, history=0, max_surge=1, max_unavailable=0)
    old = c.new_rs().name
    c.change_image("demo:2")
    deletes: list[DeleteReplicaSet] = []
    for _ in range(5):
        deletes += [a for a in c.reconcile().actions if isinstance(a, DeleteReplicaSet)]
        c.settle(1)
    assert deletes == [DeleteReplicaSet(old)]
