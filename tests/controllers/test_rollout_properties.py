"""Rolling-update arithmetic: Kubernetes' table cases and hypothesis properties over random
sequences of scale / template change / pod readiness / pod failure (no I/O).

The model mirrors DeploymentController.reconcile (same pure functions) and an
instantaneous ReplicaSet controller that removes not-ready pods first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.apps import Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment

from controllers import rollout
from controllers.rollout import RSView, new_rs_replicas, proportional_sizes, rolling_step, scale_down_old


def fenceposts(replicas: int, surge: object, unavailable: object) -> tuple[int, int]:
    d = Deployment(spec=DeploymentSpec(replicas=replicas, strategy=DeploymentStrategy(
        rolling_update=RollingUpdateDeployment(max_surge=surge, max_unavailable=unavailable))))
    return d.max_surge_and_unavailable()


def test_rounding_surge_up_unavailable_down() -> None:
    assert fenceposts(10, "25%", "25%") == (3, 2)
    assert fenceposts(1, "25%", "25%") == (1, 0)
    assert fenceposts(4, "0%", "0%") == (0, 1)  # never both zero
    assert fenceposts(3, 2, "50%") == (2, 1)


def test_new_rs_replicas_table() -> None:
    # replicas, surge, old sizes, new size -> new size
    cases = [(10, 3, [10], 0, 3), (10, 3, [10], 3, 3), (10, 3, [7], 3, 6), (10, 0, [10], 0, 0), (3, 1, [], 0, 3)]
    for replicas, surge, olds, new, expected in cases:
        views = [RSView(f"old{i}", size) for i, size in enumerate(olds)]
        assert new_rs_replicas(replicas, surge, [*views, RSView("new", new)], RSView("new", new)) == expected


def test_scale_down_old_prefers_unhealthy_and_keeps_min_available() -> None:
    # 10 replicas, maxUnavailable 2: old has 10 (8 available), new 3 (0 available)
    sizes = scale_down_old(10, 2, [RSView("old", 10, available=8)], RSView("new", 3, available=0))
    assert sizes == {"old": 8}  # only the 2 unhealthy ones; 8 available must stay
    sizes = scale_down_old(10, 2, [RSView("old", 8, available=8)], RSView("new", 3, available=3))
    assert sizes == {"old": 5}


def test_hash_is_stable_and_ignores_the_hash_label() -> None:
    from tests.controllers.objects import template
    a, b = template("web"), template("web")
    assert rollout.template_hash(a) == rollout.template_hash(b)
    assert rollout.template_hash(a) != rollout.template_hash(template("web", image="demo:2"))
    assert rollout.template_hash(a) != rollout.template_hash(a, 1)
    b.metadata.labels = {**(b.metadata.labels or {}), rollout.HASH_LABEL: "x"}
    assert rollout.same_template(a, b)


@given(st.integers(1, 50), st.integers(0, 10), st.lists(st.integers(0, 30), min_size=2, max_size=4))
def test_proportional_scaling_hits_the_allowed_total(replicas: int, surge: int, sizes: list[int]) -> None:
    active = [RSView(f"rs{i}", s) for i, s in enumerate(sizes) if s > 0]
    if len(active) < 2:
        return
    changes = proportional_sizes(replicas, surge, active, active[-1].name)
    new_sizes = [changes.get(rs.name, rs.replicas) for rs in active]
    assert sum(new_sizes) == replicas + surge
    assert all(s >= 0 for s in new_sizes)


# -- the model ------------------------------------------------------------------


@dataclass
class RS:
    name: str
    template: int
    spec: int
    created: int
    desired: int
    pods: list[bool] = field(default_factory=list)  # ready flags

    def view(self) -> RSView:
        return RSView(self.name, self.spec, sum(self.pods), 0, float(self.created))


@dataclass
class Model:
    replicas: int
    surge_spec: object
    unavailable_spec: object
    template: int = 0
    rss: list[RS] = field(default_factory=list)
    clock: int = 0

    def fenceposts(self) -> tuple[int, int]:
        return fenceposts(self.replicas, self.surge_spec, self.unavailable_spec)

    def controller_step(self) -> bool:
        """Returns True if this step was a scaling event (proportional scaling)."""
        surge, unavailable = self.fenceposts()
        new = next((rs for rs in self.rss if rs.template == self.template), None)
        old = [rs for rs in self.rss if rs is not new]
        if new is None:
            self.clock += 1
            size = new_rs_replicas(self.replicas, surge, [rs.view() for rs in old], RSView("new", 0))
            self.rss.append(RS(f"rs{self.clock}", self.template, size, self.clock, self.replicas))
            return False
        active = [rs for rs in self.rss if rs.spec > 0]
        if active and any(rs.desired != self.replicas for rs in active):
            if len(active) == 1:
                active[0].spec = self.replicas
            else:
                sizes = proportional_sizes(self.replicas, surge, [rs.view() for rs in active], new.name)
                for rs in active:
                    rs.spec = sizes.get(rs.name, rs.spec)
            for rs in active:
                rs.desired = self.replicas
            return True
        changes = rolling_step(self.replicas, surge, unavailable, new.view(), [rs.view() for rs in old])
        for rs in self.rss:
            if rs.name in changes:
                rs.spec = changes[rs.name]
                rs.desired = self.replicas
        return False

    def rs_sync(self) -> None:
        for rs in self.rss:
            while len(rs.pods) < rs.spec:
                rs.pods.append(False)
            while len(rs.pods) > rs.spec:
                rs.pods.remove(False) if False in rs.pods else rs.pods.pop()

    def total(self) -> int:
        return sum(len(rs.pods) for rs in self.rss)

    def available(self) -> int:
        return sum(sum(rs.pods) for rs in self.rss)


events = st.lists(
    st.one_of(
        st.tuples(st.just("ready"), st.integers(0, 1000)),
        st.tuples(st.just("fail"), st.integers(0, 1000)),
        st.tuples(st.just("scale"), st.integers(0, 12)),
        st.tuples(st.just("template"), st.just(0)),
        st.tuples(st.just("step"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12), st.sampled_from([0, 1, 2, "25%", "50%"]), st.sampled_from([0, 1, 2, "25%", "50%"]),
       events)
def test_rolling_update_invariants_and_convergence(replicas: int, surge: object, unavailable: object,
                                                   script: list[tuple[str, int]]) -> None:
    model = Model(replicas, surge, unavailable)
    model.controller_step()
    model.rs_sync()
    model.rss[0].pods = [True] * len(model.rss[0].pods)
    for kind, arg in script:
        pods = [(rs, i) for rs in model.rss for i in range(len(rs.pods))]
        if kind == "ready" and pods:
            rs, i = pods[arg % len(pods)]
            rs.pods[i] = True
        elif kind == "fail" and pods:
            rs, i = pods[arg % len(pods)]
            del rs.pods[i]
        elif kind == "scale":
            model.replicas = arg
        elif kind == "template":
            model.template += 1
        before = model.available()
        scaled = model.controller_step()
        model.rs_sync()
        max_surge, max_unavailable = model.fenceposts()
        if not scaled:
            assert model.total() <= model.replicas + max_surge
            assert model.available() >= min(before, model.replicas - max_unavailable)
    for _ in range(100):
        model.controller_step()
        model.rs_sync()
        for rs in model.rss:
            rs.pods = [True] * len(rs.pods)
    newest = next(rs for rs in model.rss if rs.template == model.template)
    assert len(newest.pods) == model.replicas
    assert all(len(rs.pods) == 0 for rs in model.rss if rs is not newest)


def test_new_rs_annotations_like_set_new_replica_set_annotations() -> None:
    deployment_annotations = {"kubernetes.io/change-cause": "v2", rollout.REVISION: "7",
                              "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    created = rollout.new_rs_annotations(deployment_annotations, None, 3, replicas=4, max_surge=1)
    assert created == {"kubernetes.io/change-cause": "v2", rollout.REVISION: "3",
                       rollout.DESIRED_REPLICAS: "4", rollout.MAX_REPLICAS: "5"}
    # a rollback to the ReplicaSet of revision 1 (now 3): the old number goes to revision-history
    reused = rollout.new_rs_annotations({}, {rollout.REVISION: "1", rollout.DESIRED_REPLICAS: "2",
                                             rollout.MAX_REPLICAS: "3"}, 3, replicas=4, max_surge=1)
    assert reused == {rollout.REVISION: "3", rollout.REVISION_HISTORY: "1", rollout.DESIRED_REPLICAS: "2",
                      rollout.MAX_REPLICAS: "3"}
    again = rollout.new_rs_annotations({}, reused, 5, replicas=4, max_surge=1)
    assert again[rollout.REVISION] == "5" and again[rollout.REVISION_HISTORY] == "1,3"
    # already the newest: nothing changes
    assert rollout.new_rs_annotations({}, again, 5, replicas=9, max_surge=1) == again
    assert rollout.new_rs_annotations({}, again, 2, replicas=9, max_surge=1) == again
    # a revision that is not a number is left alone, as Kubernetes does
    odd = {rollout.REVISION: "x"}
    assert rollout.new_rs_annotations({}, odd, 2, replicas=1, max_surge=0) == odd


def test_revision_history_is_capped_oldest_first() -> None:
    history = ",".join(str(n) for n in range(1, 600))
    annotations = {rollout.REVISION: "600", rollout.REVISION_HISTORY: history,
                   rollout.DESIRED_REPLICAS: "1", rollout.MAX_REPLICAS: "1"}
    result = rollout.new_rs_annotations({}, annotations, 601, replicas=1, max_surge=0)
    kept = result[rollout.REVISION_HISTORY]
    assert len(kept) <= rollout.MAX_REVISION_HISTORY_CHARS and kept.endswith(",599,600")
    assert not kept.startswith("1,")
