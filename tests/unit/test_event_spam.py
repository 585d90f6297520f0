"""The recorder's spam filter, client-go's EventCorrelator default: 25 events about one object in a
burst, then one per 5 minutes; other objects keep their own budget."""

from __future__ import annotations

from kubelite.client.events import SPAM_BURST, EventRecorder
from kubelite.storage.memstore import MemStore
from tests.factories import make_pod


async def test_events_about_one_object_are_limited_to_a_burst_then_one_per_five_minutes() -> None:
    now = [1000.0]
    recorder = EventRecorder(MemStore(), "test", monotonic=lambda: now[0])
    rs, other = make_pod("rs-like"), make_pod("other")
    rs.metadata.uid, other.metadata.uid = "uid-1", "uid-2"
    for i in range(SPAM_BURST + 10):
        recorder.record(rs, "Normal", "SuccessfulCreate", f"Created pod: web-{i}")
    assert recorder.writer.queued() == SPAM_BURST == 25
    recorder.record(other, "Normal", "Scheduled", "Successfully assigned default/other to node-1")
    assert recorder.writer.queued() == SPAM_BURST + 1
    now[0] += 299.0
    recorder.record(rs, "Normal", "SuccessfulCreate", "Created pod: web-late")
    assert recorder.writer.queued() == SPAM_BURST + 1  # not yet a whole token back
    now[0] += 2.0
    recorder.record(rs, "Normal", "SuccessfulCreate", "Created pod: web-later")
    recorder.record(rs, "Normal", "SuccessfulCreate", "Created pod: web-too-soon")
    assert recorder.writer.queued() == SPAM_BURST + 2
