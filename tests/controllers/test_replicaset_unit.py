"""Pure ReplicaSet decisions and expectations: claims, deletion order, status, leader-change seeding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.core import PodCondition, PodStatus
from kubelite.api.meta import OwnerReference

from controllers.expectations import Expectations
from controllers.replicaset_plan import claim_pods, pods_to_delete, rs_status, slow_start_batches
from tests.controllers.objects import bare_pod, replicaset

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def owned_rs():  # noqa: ANN201
    rs = replicaset("web", 3)
    rs.metadata.uid = "rs-uid"
    rs.metadata.generation = 4
    return rs


def pod(name: str, *, node: str | None = None, phase: str | None = None, ready_at: datetime | None = None,
        created: int = 0, owner: str | None = "rs-uid", labels: dict[str, str] | None = None):  # noqa: ANN201
    p = bare_pod(name, labels=labels if labels is not None else {"app": "web"})
    p.metadata.creation_timestamp = NOW + timedelta(seconds=created)
    p.spec.node_name = node
    if owner:
        p.metadata.owner_references = [OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="web",
                                                      uid=owner, controller=True)]
    conditions = [PodCondition(type="Ready", status="True", last_transition_time=ready_at)] if ready_at else None
    if phase or conditions:
        p.status = PodStatus(phase=phase, conditions=conditions)
    return p


def test_claims_adopt_release_and_ignore_others() -> None:
    rs = owned_rs()
    mine, orphan = pod("mine"), pod("orphan", owner=None)
    relabelled = pod("relabelled", labels={"app": "other"})
    foreign = pod("foreign", owner="other-uid")
    finished_orphan = pod("done", owner=None, phase="Succeeded")
    claims = claim_pods(rs, [mine, orphan, relabelled, foreign, finished_orphan])
    assert [p.name for p in claims.owned] == ["mine"]
    assert [p.name for p in claims.adopt] == ["orphan"]
    assert [p.name for p in claims.release] == ["relabelled"]


def test_deletion_order_unscheduled_then_not_ready_then_newest() -> None:
    pods = [
        pod("old-ready", node="n", phase="Running", ready_at=NOW, created=0),
        pod("new-ready", node="n", phase="Running", ready_at=NOW + timedelta(seconds=5), created=5),
        pod("not-ready", node="n", phase="Running", created=1),
        pod("pending-bound", node="n", phase="Pending", created=2),
        pod("unscheduled", created=3),
    ]
    order = [p.name for p in pods_to_delete(pods, 5)]
    assert order == ["unscheduled", "pending-bound", "not-ready", "new-ready", "old-ready"]
    assert pods_to_delete(pods, 0) == []


def test_status_counts_ready_and_available_with_min_ready_seconds() -> None:
    rs = owned_rs()
    rs.spec.min_ready_seconds = 10
    pods = [pod("a", phase="Running", ready_at=NOW - timedelta(seconds=30)),
            pod("b", phase="Running", ready_at=NOW - timedelta(seconds=4)),
            pod("c", phase="Pending"), pod("d", phase="Failed")]
    status, wait = rs_status(rs, pods, NOW)
    assert (status.replicas, status.ready_replicas, status.available_replicas) == (3, 2, 1)
    assert status.fully_labeled_replicas == 3 and status.observed_generation == 4
    assert wait is not None and 5.9 < wait <= 6.0


@given(st.integers(min_value=0, max_value=2000))
def test_slow_start_batches_sum_and_double(count: int) -> None:
    batches = slow_start_batches(count)
    assert sum(batches) == count
    assert all(b <= 2 ** i for i, b in enumerate(batches))


def test_expectations_by_name() -> None:
    exp = Expectations(clock=lambda: 0.0)
    exp.expect_create("ns/rs", "ns/p1")
    exp.expect_delete("ns/rs", "ns/p2")
    assert not exp.satisfied("ns/rs") and exp.pending("ns/rs") == (1, 1)
    exp.observed_create("ns/rs", "ns/p1")
    assert not exp.satisfied("ns/rs")
    exp.observed_delete("ns/rs", "ns/p2")
    assert exp.satisfied("ns/rs")


def test_expectations_expire() -> None:
    now = [0.0]
    exp = Expectations(ttl=300, clock=lambda: now[0])
    exp.expect_create("ns/rs", "ns/lost")
    now[0] = 301
    assert exp.satisfied("ns/rs")


def test_seed_from_diff_counts_what_the_previous_leader_wrote() -> None:
    exp = Expectations(clock=lambda: 0.0)
    etcd = [("ns/rs", "ns/a", True), ("ns/rs", "ns/new", True), ("ns/rs", "ns/b", False)]
    cache = [("ns/rs", "ns/a", True), ("ns/rs", "ns/b", True), ("ns/rs", "ns/gone", True)]
    assert exp.seed_from_diff(etcd, cache) == 3  # new: create; b now terminating, gone deleted: deletes
    assert exp.pending("ns/rs") == (1, 2)
    exp.observed_create("ns/rs", "ns/new")
    exp.observed_delete("ns/rs", "ns/b")
    exp.observed_delete("ns/rs", "ns/gone")
    assert exp.satisfied("ns/rs")
