"""Pure: kl rollout's messages, history and undo target for DaemonSets and StatefulSets (kubectl's words)."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.cli import set_rollout
from kubelite.cli.rollout import RolloutError


def ds(generation: int = 2, observed: int = 2, desired: int = 3, updated: int = 3, available: int = 3,
       strategy: str = "RollingUpdate") -> dict[str, Any]:
    return {"metadata": {"name": "agent", "generation": generation}, "spec": {"updateStrategy": {"type": strategy}},
            "status": {"observedGeneration": observed, "desiredNumberScheduled": desired,
                       "updatedNumberScheduled": updated, "numberAvailable": available}}


def sts(ready: int = 3, updated: int = 3, partition: int | None = None, current: str = "a",
        update: str = "a") -> dict[str, Any]:
    rolling = {"partition": partition} if partition is not None else None
    strategy: dict[str, Any] = {"type": "RollingUpdate", **({"rollingUpdate": rolling} if rolling else {})}
    return {"metadata": {"name": "web", "generation": 1}, "spec": {"replicas": 3, "updateStrategy": strategy},
            "status": {"observedGeneration": 1, "readyReplicas": ready, "updatedReplicas": updated,
                       "currentReplicas": 3, "currentRevision": current, "updateRevision": update}}


@pytest.mark.parametrize(("obj", "message", "done"), [
    (ds(generation=3), "Waiting for daemon set spec update to be observed...", False),
    (ds(updated=1), 'Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...', False),
    (ds(available=2), 'Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...', False),
    (ds(), 'daemon set "agent" successfully rolled out', True),
])
def test_daemonset_status(obj: dict[str, Any], message: str, done: bool) -> None:
    state = set_rollout.status("DaemonSet", obj)
    assert (state.message, state.done, state.error) == (message, done, False)


def test_on_delete_has_no_rollout_status() -> None:
    assert set_rollout.status("DaemonSet", ds(strategy="OnDelete")).error


@pytest.mark.parametrize(("obj", "message", "done"), [
    (sts(ready=1), "Waiting for 2 pods to be ready...", False),
    (sts(updated=1, partition=0), "Waiting for partitioned roll out to finish: 1 out of 3 new pods have been updated...",
     False),
    (sts(partition=0), "partitioned roll out complete: 3 new pods have been updated...", True),
    (sts(update="b"), "waiting for statefulset rolling update to complete 3 pods at revision b...", False),
    (sts(), "statefulset rolling update complete 3 pods at revision a...", True),
])
def test_statefulset_status(obj: dict[str, Any], message: str, done: bool) -> None:
    state = set_rollout.status("StatefulSet", obj)
    assert (state.message, state.done) == (message, done)


def revision(number: int, image: str, owner: str = "u1") -> dict[str, Any]:
    return {"metadata": {"name": f"r{number}", "ownerReferences": [{"uid": owner, "controller": True}]},
            "revision": number, "data": {"spec": {"template": {
                "$patch": "replace", "spec": {"containers": [{"name": "c", "image": image}]}}}}}


def test_history_and_undo_target() -> None:
    owner = {"metadata": {"uid": "u1"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "v3"}]}}}}
    revisions = [revision(3, "v3"), revision(1, "v1"), revision(2, "v2"), revision(9, "x", owner="other")]
    assert [n for n, _ in set_rollout.history(owner, revisions)] == [1, 2, 3]
    assert set_rollout.undo_target(owner, revisions, 0)[0] == 2
    assert set_rollout.undo_target(owner, revisions, 1)[0] == 1
    with pytest.raises(RolloutError):
        set_rollout.undo_target(owner, revisions, 7)
    assert set_rollout.template_of(revisions[0]) == {"spec": {"containers": [{"name": "c", "image": "v3"}]}}
    assert set_rollout.already_current(owner, revisions[0]) and not set_rollout.already_current(owner, revisions[1])
