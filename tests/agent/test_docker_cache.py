"""InspectCache's rules (pure, no engine): an inspection is kept only while nothing could have
changed it unseen — an event stream is subscribed (exited ones always), no invalidation came after
the read began, and no re-subscription happened since."""

from __future__ import annotations


from agent.runtime.base import ContainerInfo, ContainerState
from agent.runtime.docker_cache import InspectCache


def info(container_id: str, state: ContainerState = "running") -> ContainerInfo:
    return ContainerInfo(id=container_id, name=container_id, image="i", image_id="sha", labels={}, state=state)


def read(cache: InspectCache, found: ContainerInfo) -> None:
    cache.finish(cache.begin(), found.id, found)


def test_running_containers_are_kept_only_while_subscribed_exited_ones_always() -> None:
    cache = InspectCache()
    read(cache, info("a"))
    read(cache, info("b", "exited"))
    assert cache.get("a") is None and cache.get("b") is not None
    cache.subscribed()
    read(cache, info("a"))
    assert cache.get("a") is not None


def test_an_event_drops_the_entry() -> None:
    cache = InspectCache()
    cache.subscribed()
    read(cache, info("a"))
    cache.invalidate("a")
    assert cache.get("a") is None


def test_a_read_that_began_before_an_invalidation_is_not_stored() -> None:
    cache = InspectCache()
    cache.subscribed()
    ticket = cache.begin()  # the inspect is sent...
    cache.invalidate("a")  # ...the container starts meanwhile (its event)...
    cache.finish(ticket, "a", info("a", "created"))  # ...the answer from before arrives
    assert cache.get("a") is None
    read(cache, info("a"))  # a read begun after the event is good
    assert cache.get("a") is not None


def test_an_invalidation_of_another_container_does_not_spoil_a_read() -> None:
    cache = InspectCache()
    cache.subscribed()
    ticket = cache.begin()
    cache.invalidate("b")
    cache.finish(ticket, "a", info("a"))
    assert cache.get("a") is not None


def test_a_lost_or_renewed_subscription_drops_everything_and_reads_in_flight() -> None:
    cache = InspectCache()
    cache.subscribed()
    read(cache, info("a"))
    read(cache, info("b", "exited"))
    ticket = cache.begin()
    cache.unsubscribed()  # events may be missed from here
    assert cache.get("a") is None and cache.get("b") is None
    cache.subscribed()
    cache.finish(ticket, "c", info("c"))  # begun in the old subscription
    assert cache.get("c") is None


def test_invalidation_stamps_are_forgotten_when_no_read_is_in_flight() -> None:
    cache = InspectCache()
    cache.subscribed()
    ticket = cache.begin()
    for n in range(100):
        cache.invalidate(f"c{n}")
    cache.finish(ticket, "x", None)
    assert cache._stamps == {}  # bounded by the reads in flight, not by every container ever seen


def test_an_inspection_is_used_for_max_age_seconds_only() -> None:
    """Changes without a container event (a network disconnect) are seen by the next resync."""
    cache = InspectCache(max_age=-1.0)  # every inspection already too old
    cache.subscribed()
    read(cache, info("a"))
    assert cache.get("a") is None
    cache = InspectCache(max_age=60.0)
    cache.subscribed()
    read(cache, info("a"))
    assert cache.get("a") is not None


def test_the_event_of_the_agents_own_start_does_not_drop_the_read_after_it() -> None:
    """The agent starts a container (its call drops what was read before), reads it, and the start's
    event arrives afterwards: no second inspect. The next event of the same kind does drop it."""
    cache = InspectCache()
    cache.subscribed()
    cache.expect("a", "start")
    cache.invalidate("a")  # the call returned
    read(cache, info("a"))
    cache.event("a", "start")  # the awaited event: already seen by the read
    assert cache.get("a") is not None
    cache.event("a", "start")  # nobody awaited this one
    assert cache.get("a") is None


def test_other_events_still_drop_the_read_while_one_is_awaited() -> None:
    cache = InspectCache()
    cache.subscribed()
    cache.expect("a", "start")
    read(cache, info("a"))
    cache.event("a", "die")
    assert cache.get("a") is None


def test_a_failed_call_awaits_no_event_and_destroy_forgets_what_was_awaited() -> None:
    cache = InspectCache()
    cache.subscribed()
    cache.expect("a", "start")
    cache.unexpect("a", "start")
    read(cache, info("a"))
    cache.event("a", "start")
    assert cache.get("a") is None
    cache.expect("b", "create")  # its event came before the create's answer: never consumed
    cache.event("b", "destroy")
    assert cache._expected == {}


def test_an_oom_event_after_the_exit_makes_the_exited_container_oom_killed_until_destroyed() -> None:
    cache = InspectCache()
    cache.event("a", "die")
    assert cache.with_oom_events(info("a", "exited")).oom_killed is False
    cache.event("a", "oom")  # containerd's TaskOOM after its TaskExit: the engine's flag stayed false
    assert cache.with_oom_events(info("a", "exited")).oom_killed is True
    assert cache.with_oom_events(info("a", "running")).oom_killed is False  # a child killed, the container runs on
    assert cache.with_oom_events(info("b", "exited")).oom_killed is False
    cache.event("a", "destroy")
    assert cache.with_oom_events(info("a", "exited")).oom_killed is False
