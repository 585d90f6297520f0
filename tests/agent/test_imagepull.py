"""ImageManager's pull-policy decisions with the create as the presence check: the kubelet's Events
and failure reasons per policy, and no image look-up before a create that finds its image (sim
runtime: its create refuses a missing image as every runtime's does)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kubelite.api.core import Container, Pod, PodSpec
from kubelite.api.meta import ObjectMeta
from kubelite.client.events import EventRecorder

from agent.imagepull import ImageManager
from agent.runtime.base import ContainerRuntimeError, ContainerSpec, ImagePullError
from agent.runtime.sim import SimRuntime

PRESENT = "kubelite/demo:latest"
MISSING = "nosuch/image:1"


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def record(self, obj: Any, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


class CountingSim(SimRuntime):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.looked_up: list[str] = []
        self.creates = 0

    async def image_present(self, image: str) -> bool:
        self.looked_up.append(image)
        return await super().image_present(image)

    async def create_container(self, spec: ContainerSpec) -> str:
        self.creates += 1
        return await super().create_container(spec)


def setup(image: str, policy: str) -> tuple[CountingSim, Recorded, ImageManager, Pod, Container]:
    runtime = CountingSim(missing_images=frozenset({MISSING}))
    recorded = Recorded()
    container = Container(name="app", image=image, image_pull_policy=policy)
    pod = Pod(metadata=ObjectMeta(name="p", namespace="default", uid="u1"), spec=PodSpec(containers=[container]))
    return runtime, recorded, ImageManager(runtime, cast(EventRecorder, recorded)), pod, container


def spec(image: str) -> ContainerSpec:
    return ContainerSpec(name="c", image=image, labels={}, command=["sleep"], args=["1"])


async def test_present_image_if_not_present_is_one_create_and_the_already_present_event() -> None:
    runtime, recorded, images, pod, container = setup(PRESENT, "IfNotPresent")
    container_id = await images.create_container(pod, container, lambda: runtime.create_container(spec(PRESENT)))
    assert container_id in runtime.containers
    assert runtime.looked_up == [] and runtime.creates == 1 and runtime.pulls == []
    assert recorded.events == [("Normal", "Pulled", f'Container image "{PRESENT}" already present on machine')]


async def test_present_image_never_is_one_create_and_no_event() -> None:
    runtime, recorded, images, pod, container = setup(PRESENT, "Never")
    await images.create_container(pod, container, lambda: runtime.create_container(spec(PRESENT)))
    assert runtime.creates == 1 and runtime.pulls == [] and recorded.events == []


async def test_missing_image_never_is_err_image_never_pull_without_a_pull() -> None:
    runtime, recorded, images, pod, container = setup(MISSING, "Never")
    with pytest.raises(ImagePullError) as raised:
        await images.create_container(pod, container, lambda: runtime.create_container(spec(MISSING)))
    assert raised.value.reason == "ErrImageNeverPull"
    assert runtime.pulls == [] and runtime.containers == {}
    assert [e[1] for e in recorded.events] == ["Failed"]
    assert "not present with pull policy of Never" in recorded.events[0][2]


async def test_missing_image_if_not_present_is_pulled_then_err_image_pull_when_the_pull_fails() -> None:
    runtime, recorded, images, pod, container = setup(MISSING, "IfNotPresent")
    with pytest.raises(ImagePullError) as raised:
        await images.create_container(pod, container, lambda: runtime.create_container(spec(MISSING)))
    assert raised.value.reason == "ErrImagePull"
    assert runtime.pulls == [MISSING] and runtime.containers == {}
    assert [e[1] for e in recorded.events] == ["Pulling", "Failed"]


async def test_missing_image_that_appears_by_the_pull_is_created_after_it() -> None:
    runtime, recorded, images, pod, container = setup(MISSING, "IfNotPresent")

    async def pull(image: str) -> None:  # a registry had it
        runtime.pulls.append(image)
        runtime.missing_images.discard(image)

    runtime.pull_image = pull  # type: ignore[method-assign]
    container_id = await images.create_container(pod, container, lambda: runtime.create_container(spec(MISSING)))
    assert container_id in runtime.containers and runtime.creates == 2
    assert [e[1] for e in recorded.events] == ["Pulling", "Pulled"]  # one Pulled: not "already present" as well


async def test_always_pulls_before_the_create() -> None:
    runtime, recorded, images, pod, container = setup(PRESENT, "Always")
    await images.create_container(pod, container, lambda: runtime.create_container(spec(PRESENT)))
    assert runtime.pulls == [PRESENT] and runtime.creates == 1
    assert [e[1] for e in recorded.events] == ["Pulling", "Pulled"]


async def test_an_engine_refusal_other_than_the_image_still_says_the_image_was_present() -> None:
    runtime, recorded, images, pod, container = setup(PRESENT, "IfNotPresent")

    async def refuse() -> str:
        raise ContainerRuntimeError("Minimum memory limit allowed is 6MB")

    with pytest.raises(ContainerRuntimeError):
        await images.create_container(pod, container, refuse)
    assert [e[1] for e in recorded.events] == ["Pulled"]


async def test_sandbox_image_is_pulled_only_when_the_create_finds_it_missing() -> None:
    runtime, _, images, _, _ = setup(PRESENT, "IfNotPresent")
    await images.create_sandbox(spec(PRESENT))
    assert runtime.looked_up == [] and runtime.pulls == [] and runtime.creates == 1
    with pytest.raises(ImagePullError):
        await images.create_sandbox(spec(MISSING))
    assert runtime.pulls == [MISSING]
