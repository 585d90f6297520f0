"""Events: recorded on an expiring lease, repeats aggregated into one Event with a count."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelite.api.resources import EVENTS, PODS
from kubelite.etcd.ops import range_
from kubelite.client.events import EVENT_TTL_SECONDS, EventRecorder
from kubelite.storage.store import Store
from tests.factories import make_pod


async def test_repeated_events_are_aggregated_and_leased(store: Store) -> None:
    pod = await store.create(PODS, make_pod("web"))
    recorder = EventRecorder(store, "test-component", host="node-1")
    for _ in range(3):
        recorder.record(pod, "Warning", "BackOff", "Back-off restarting failed container")
    recorder.record(pod, "Normal", "Pulled", "Container image already present")
    await recorder.flush()
    events = (await store.list(EVENTS, "default")).items
    by_reason = {e.reason: e for e in events}
    assert set(by_reason) == {"BackOff", "Pulled"}
    backoff = by_reason["BackOff"]
    assert backoff.count == 3 and backoff.type == "Warning"
    assert backoff.involved_object.uid == pod.metadata.uid and backoff.involved_object.kind == "Pod"
    assert backoff.source.component == "test-component"
    assert backoff.last_timestamp >= backoff.first_timestamp
    raw = await range_(store.client, EVENTS.key_of(backoff), what="test")
    info = await store.client.get_lease_info(raw.kvs[0].lease)
    assert EVENT_TTL_SECONDS - 5 <= info.TTL <= EVENT_TTL_SECONDS + 600


async def test_background_writer_records_queued_events(store: Store) -> None:
    from tests.helpers import wait_for

    pod = await store.create(PODS, make_pod("web"))
    recorder = EventRecorder(store, "test")
    await recorder.start()
    try:
        recorder.record(pod, "Normal", "Scheduled", "Successfully assigned default/web to node-1")

        async def recorded() -> bool:
            return any(e.reason == "Scheduled" for e in (await store.list(EVENTS, "default")).items)

        await wait_for(recorded, message="event written by the background task")
    finally:
        await recorder.stop()


async def test_flush_waits_for_the_batch_the_background_writer_has_taken(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # an agent's stop flushes its recorder: an Event the writer task took just before is written too
    pod = await store.create(PODS, make_pod("web"))
    taken, release = asyncio.Event(), asyncio.Event()
    create = store.create

    async def held(res: Any, obj: Any, **kwargs: Any) -> Any:
        if res is EVENTS:
            taken.set()
            await release.wait()
        return await create(res, obj, **kwargs)

    monkeypatch.setattr(store, "create", held)
    recorder = EventRecorder(store, "test")
    await recorder.start()
    try:
        recorder.record(pod, "Normal", "Scheduled", "Successfully assigned default/web to node-1")
        await asyncio.wait_for(taken.wait(), 10)  # the writer task has the Event, its queue is empty
        flushing = asyncio.ensure_future(recorder.flush())
        done, _ = await asyncio.wait({flushing}, timeout=0.3)
        assert not done, "flush returned while the taken Event was still being written"
        release.set()
        await asyncio.wait_for(flushing, 10)
        assert [e.reason for e in (await store.list(EVENTS, "default")).items] == ["Scheduled"]
    finally:
        release.set()
        await recorder.stop()


async def _scheduled_events(store: Store, count: int) -> tuple[EventRecorder, list, list]:
    """``count`` pods, a Scheduled Event queued for each and flushed: (the recorder, the pods, the Events)."""
    pods = [await store.create(PODS, make_pod(f"web-{i}")) for i in range(count)]
    recorder = EventRecorder(store, "test-component")
    for pod in pods:
        recorder.record(pod, "Normal", "Scheduled", f"Successfully assigned default/{pod.name} to node-1")
    await recorder.flush()
    events = (await store.list(EVENTS, "default")).items
    assert sorted(e.involved_object.name for e in events) == [p.name for p in pods]
    return recorder, pods, events


async def test_the_events_of_one_moment_share_a_write_and_a_repeat_among_them_is_counted(store: Store) -> None:
    recorder, pods, events = await _scheduled_events(store, 5)
    assert len({e.metadata.resource_version for e in events}) == 1  # one txn
    leases = {(await range_(store.client, EVENTS.key_of(e), what="test")).kvs[0].lease for e in events}
    assert len(leases) == 1 and 0 not in leases
    # a batch holding an Event that exists already: the shared txn writes nothing, each is written alone
    # (the repeat bumps its count, the new one is created)
    recorder.record(pods[0], "Normal", "Scheduled", f"Successfully assigned default/{pods[0].name} to node-1")
    recorder.record(pods[0], "Normal", "Pulled", "Container image already present")
    await recorder.flush()
    by_key = {(e.involved_object.name, e.reason): e for e in (await store.list(EVENTS, "default")).items}
    assert by_key[(pods[0].name, "Scheduled")].count == 2 and by_key[(pods[1].name, "Scheduled")].count == 1
    assert by_key[(pods[0].name, "Pulled")].count == 1 and len(by_key) == 6


async def test_a_batch_with_an_invalid_event_writes_none_of_it(store: Store) -> None:
    import pytest

    from kubelite.api import errors
    from kubelite.api.core import Event, ObjectReference
    from kubelite.api.meta import ObjectMeta

    def event(name: str, **extra: object) -> Event:
        return Event.model_validate({
            "metadata": ObjectMeta(name=name, namespace="default").to_dict(),
            "involvedObject": ObjectReference(kind="Pod", namespace="default", name="web").to_dict(),
            "reason": "Scheduled", "message": "m", "type": "Normal", **extra})

    with pytest.raises(errors.ApiError) as info:
        await store.create_events([event("good.1"), event("bad.1", type="Sideways")])
    assert info.value.code == 422
    assert (await store.list(EVENTS, "default")).items == []
    assert await store.create_events([event("good.1"), event("good.2")]) == [True, True]
    handed = [event("good.2"), event("good.3")]
    assert await store.create_events(handed) == [False, False]  # good.2 exists
    assert sorted(e.name for e in (await store.list(EVENTS, "default")).items) == ["good.1", "good.2"]
    # the Events were handed over (identity set in place); one not created is created alone afterwards,
    # as the recorder does, with an identity of its own
    created = await store.create(EVENTS, handed[1])
    assert created.metadata.uid and created.metadata.uid != handed[1].metadata.uid
    assert (await store.get(EVENTS, "good.3", "default")).metadata.uid == created.metadata.uid


async def test_events_past_the_txn_size_are_written_alone(store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A shared txn over TXN_BYTES would be refused by etcd (--max-request-bytes): none of it is sent,
    and the recorder writes each Event alone."""
    from kubelite.storage import store as store_module

    monkeypatch.setattr(store_module, "TXN_BYTES", 600)  # less than two Events
    await _scheduled_events(store, 3)
    events = (await store.list(EVENTS, "default")).items
    assert len({e.metadata.resource_version for e in events}) == 3  # three writes


async def test_recorders_of_one_store_share_its_writer_and_its_txns(store: Store) -> None:
    """Simulated nodes in one process each have a recorder on the process's one store: their Events of
    one moment go in one txn, and one node's stop leaves the writer running for the others."""
    from tests.helpers import wait_for

    pods = [await store.create(PODS, make_pod(f"web-{i}")) for i in range(4)]
    nodes = [EventRecorder(store, "kubelite-agent", host=f"node-{i}") for i in range(2)]
    assert nodes[0].writer is nodes[1].writer
    for i, pod in enumerate(pods):
        nodes[i % 2].record(pod, "Normal", "Started", "Started container web")
    await nodes[0].flush()
    events = (await store.list(EVENTS, "default")).items
    assert sorted(e.source.host for e in events) == ["node-0", "node-0", "node-1", "node-1"]
    assert len({e.metadata.resource_version for e in events}) == 1  # one txn

    for recorder in nodes:
        await recorder.start()
    try:
        await nodes[0].stop()
        nodes[1].record(pods[1], "Normal", "Killing", "Stopping container web")

        async def written() -> bool:
            return any(e.reason == "Killing" for e in (await store.list(EVENTS, "default")).items)

        await wait_for(written, message="the other node's Event written after one node stopped")
    finally:
        await nodes[1].stop()
    assert nodes[1].writer._task is None  # the last recorder's stop stops the writer

