"""Objects for tests, built the way users write them."""

from __future__ import annotations

from kubelite.api.core import Container, Pod, PodSpec
from kubelite.api.meta import ObjectMeta


def make_pod(name: str = "web", *, namespace: str = "default", node: str | None = None, **labels: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels or None),
        spec=PodSpec(containers=[Container(name="c", image="kubelite/demo:latest")], node_name=node),
    )
