"""Events: recorded on an expiring lease, repeats aggregated into one Event with a count."""

from __future__ import annotations

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
