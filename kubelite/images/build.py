"""Build kubelite's images with the Docker Engine when they are missing or out of date.

The one implementation behind ``kl images build``, ``kl up`` (docker runtime:
missing images only) and deploy/images/build.sh. The Docker SDK's low-level
build call sends the in-memory context (:mod:`kubelite.images.context`) to
the Engine's legacy builder, which needs no registry for ``FROM scratch``.
An image carries the digest of its context in the label
``org.kubelite.inputs``; the image it replaces is removed when nothing uses it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubelite.images.busybox import BusyboxMissing, static_busybox
from kubelite.images.context import BuildContext, demo_context, etcd_context

DEMO_IMAGE = "kubelite/demo:latest"  # the demo's image and the agents' default pod sandbox (--pause-image)
DEFAULT_ETCD_IMAGE = "kubelite/etcd:3.5.1"
INPUTS_LABEL = "org.kubelite.inputs"
TARGETS = ("demo", "etcd")
BUILD_TIMEOUT = 300.0  # seconds for one build (the etcd context is ~40 MB)


class ImageBuildError(Exception):
    """A build could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """One of kubelite's images: its short name (``demo``), its tag and what it is for."""

    name: str
    image: str
    purpose: str


def target(name: str, *, image: str | None = None) -> Target:
    """The target ``demo`` or ``etcd`` (``$ETCD_IMAGE`` renames the etcd image); ``image`` overrides the tag."""
    if name == "demo":
        return Target("demo", image or DEMO_IMAGE, "the demo workload and the pod sandbox")
    if name == "etcd":
        return Target("etcd", image or os.environ.get("ETCD_IMAGE") or DEFAULT_ETCD_IMAGE,
                      "etcd members for multi-member clusters")
    raise ImageBuildError(f"unknown image {name!r}: one of {', '.join(TARGETS)}")


def docker_client(timeout: float = BUILD_TIMEOUT) -> Any:
    """A Docker SDK client, or ImageBuildError when no Docker Engine answers."""
    try:
        import docker

        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except Exception as exc:  # the SDK raises many unrelated types when no engine is there
        raise ImageBuildError(f"no Docker Engine answers ({type(exc).__name__}): start dockerd first") from None
    return client


def _inspect(client: Any, image: str) -> dict[str, Any] | None:
    import docker.errors

    try:
        info: dict[str, Any] = client.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return None
    return info


def image_present(client: Any, image: str) -> bool:
    return _inspect(client, image) is not None


def _context(t: Target, say: Callable[[str], None]) -> BuildContext:
    try:
        if t.name == "demo":
            return demo_context(static_busybox(say))
        return etcd_context()
    except (BusyboxMissing, FileNotFoundError) as exc:
        raise ImageBuildError(f"cannot build {t.image}: {exc}") from None


def build(client: Any, t: Target, *, force: bool = False, only_missing: bool = False,
          say: Callable[[str], None]) -> bool:
    """Build ``t`` unless it is present and current (``only_missing``: present is enough).
    True when it built. ImageBuildError with the builder's message on failure."""
    have = _inspect(client, t.image)
    if have is not None and only_missing and not force:
        return False
    ctx = _context(t, say)
    tar = ctx.tar()
    digest = BuildContext.digest_of(tar)
    labels = (have or {}).get("Config", {}).get("Labels") or {}
    if have is not None and not force and labels.get(INPUTS_LABEL) == digest:
        say(f"{t.image} present")
        return False
    say(f"building {t.image} ({t.purpose}; {ctx.description}) from kubelite's package files")
    try:
        stream = client.api.build(fileobj=io.BytesIO(tar), custom_context=True, tag=t.image, rm=True,
                                  forcerm=True, labels={INPUTS_LABEL: digest}, decode=True)
        for chunk in stream:
            if "error" in chunk:
                detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                raise ImageBuildError(f"building {t.image} failed: {str(detail).strip()}")
    except ImageBuildError:
        raise
    except Exception as exc:  # API errors, timeouts
        raise ImageBuildError(f"building {t.image} failed: {exc}") from None
    drop_replaced(client, t.image, have)
    say(f"built {t.image}")
    return True


def drop_replaced(client: Any, image: str, previous: dict[str, Any] | None) -> None:
    """After a build tagged ``image``: remove the image the tag named before (``previous``: its inspection,
    None when there was none), which would otherwise stay behind as a dangling ``<none>`` image. Never
    forced: the Engine keeps it while a container uses it or another tag names it (409, left alone)."""
    import docker.errors

    previous_id = (previous or {}).get("Id")
    if not previous_id or (_inspect(client, image) or {}).get("Id") == previous_id:
        return  # no image before, or the build made the same one (cached)
    try:
        client.api.remove_image(previous_id)
    except docker.errors.APIError:  # in use, named by another tag, or gone already
        pass


def build_all(names: Iterable[str], *, force: bool = False, only_missing: bool = False,
              say: Callable[[str], None]) -> list[str]:
    """Build the named targets (see :func:`build`); returns the tags it built."""
    targets = [target(n) for n in names]
    client = docker_client()
    try:
        return [t.image for t in targets if build(client, t, force=force, only_missing=only_missing, say=say)]
    finally:
        client.close()
