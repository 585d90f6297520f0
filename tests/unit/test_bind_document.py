"""The bind writes on the stored document (kubelite.storage.binding) exactly what the model path
wrote: decode → copy the model's changed parts → ``model_dump`` → orjson. That path is kept here
as the oracle; the two must give the same bytes for any pod, from the stored bytes (a bind that
read the pod) and from a model (the scheduler's informer copy)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.core import Pod, PodCondition, PodStatus
from kubelite.api.resources import NAMESPACES, PODS
from kubelite.storage import codec
from kubelite.storage.binding import bound_document
from kubelite.storage.memstore import MemStore
from kubelite.storage.store import decode, encode


def assigned_by_model(pod: Pod, node: str, annotations: dict[str, str], now: datetime) -> Pod:
    """The bind's former model path (store.py before issue 12's bind change), the oracle."""
    status = pod.status or PodStatus()
    before = status.condition("PodScheduled")
    if before is None or before.status != "True":
        others = [c for c in status.conditions or [] if c.type != "PodScheduled"]
        status = status.model_copy(update={"conditions": [
            *others, PodCondition(type="PodScheduled", status="True", last_transition_time=now)]})
    metadata = pod.metadata.model_copy(update={
        "generation": (pod.metadata.generation or 1) + 1,
        **({"annotations": {**(pod.metadata.annotations or {}), **annotations}} if annotations else {}),
    })
    return pod.model_copy(update={"metadata": metadata, "spec": pod.spec.model_copy(update={"node_name": node}),
                                  "status": status})


names = st.from_regex(r"[a-z]([a-z0-9.-]{0,4}[a-z0-9])?", fullmatch=True)
maps = st.dictionaries(names, st.one_of(st.just(""), names), max_size=3)
times = st.sampled_from(["2026-12-01T10:00:00Z", "2026-12-01T10:00:00.5Z"])


def optional(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


def merged(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(*parts).map(lambda ds: {k: v for d in ds for k, v in d.items()})


conditions = st.lists(st.fixed_dictionaries(
    {"type": st.sampled_from(["PodScheduled", "Ready", "Initialized"]), "status": st.sampled_from(["True", "False"])},
    optional={"lastTransitionTime": times, "reason": st.just("Unschedulable"), "message": st.text(max_size=5)},
), max_size=3)

metadata = merged(
    st.just({"name": "p", "namespace": "default", "uid": "u-1"}),
    optional("generation", st.integers(0, 5)), optional("labels", maps), optional("annotations", maps),
    optional("ownerReferences", st.just([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                          "uid": "u-2", "controller": True}])),
    optional("managedFields", st.just([{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                                        "time": "2026-12-01T10:00:00Z", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:spec": {}}}])),
    optional("creationTimestamp", times),
)
spec = merged(
    st.just({"containers": [{"name": "c", "image": "i"}]}),
    optional("nodeName", st.just("")), optional("nodeSelector", maps), optional("priority", st.integers(0, 9)),
    optional("schedulerName", st.just("default-scheduler")),
    optional("tolerations", st.just([{"key": "k", "operator": "Exists"}])),
)
status = merged(optional("phase", st.just("Pending")), optional("conditions", conditions),
                optional("startTime", times), optional("message", st.text(max_size=4)))
pods = st.tuples(metadata, spec, st.one_of(st.none(), status)).map(
    lambda parts: Pod.model_validate({"metadata": parts[0], "spec": parts[1],
                                      **({"status": parts[2]} if parts[2] is not None else {})}))
nows = st.sampled_from([datetime(2026, 12, 1, 11, tzinfo=timezone.utc),
                        datetime(2026, 12, 1, 11, 0, 0, 250000, tzinfo=timezone.utc),
                        datetime(2026, 12, 1, 12, tzinfo=timezone(timedelta(hours=1)))])  # the first, elsewhere


@settings(max_examples=300, deadline=None)
@given(pods, st.sampled_from(["n1", "node-b"]), maps, nows)
def test_the_document_path_writes_the_model_paths_bytes(pod: Pod, node: str, annotations: dict[str, str],
                                                        now: datetime) -> None:
    stored = encode(pod)  # what etcd holds for it
    current = decode(PODS, stored, 7)
    expected = encode(assigned_by_model(current, node, annotations, now), validate=False)
    from_stored = codec.dumps(bound_document(codec.loads(stored), node, annotations, now))
    read = current.to_dict()
    read["metadata"].pop("resourceVersion")
    from_model = codec.dumps(bound_document(read, node, annotations, now))
    assert from_stored == expected
    assert from_model == expected


async def test_store_bind_writes_the_model_paths_bytes_read_or_given() -> None:
    now = datetime(2026, 12, 1, 11, tzinfo=timezone.utc)
    store = MemStore(clock=lambda: now)
    await store.create(NAMESPACES, decode(NAMESPACES, b'{"metadata":{"name":"default"}}', 1))
    for name, use_read in (("a", False), ("b", True)):
        created = await store.create(PODS, Pod.model_validate(
            {"metadata": {"name": name, "namespace": "default", "annotations": {"x": "1"}},
             "spec": {"containers": [{"name": "c", "image": "i"}]}}))
        current = await store.get(PODS, name, "default")
        expected = encode(assigned_by_model(current, "n1", {"y": "2"}, now), validate=False)
        revision = await store.bind("default", name, "n1", uid=created.metadata.uid, annotations={"y": "2"},
                                    read=current if use_read else None)
        entry = store._data[PODS.key(name, "default")]
        assert entry.value == expected
        assert revision == str(entry.mod_revision)
