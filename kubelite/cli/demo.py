"""``kl up --demo``: apply the demo manifest (``kubelite/examples/web.yaml``, package
data; the repository's examples/web.yaml links to it), wait for its rollout, and
say how to reach it (the host ports the agent reports for the pods)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from kubelite.util import packaged
from kubelite.cli.client import ApiClient
from kubelite.cli.cmd_write import apply_object
from kubelite.cli.errors import CliError
from kubelite.cli.hostports import pod_urls
from kubelite.cli.rollout import rollout_status
from kubelite.cli.session import Session, load_manifests
from kubelite.cli.waiting import watch_object
from kubelite.images.build import DEMO_IMAGE, ImageBuildError, docker_client, image_present

ROLLOUT_TIMEOUT = 90.0


def demo_manifest(name: str = "web.yaml") -> Path:
    """The path of a packaged demo manifest: ``web.yaml``, or ``web-v2.yaml`` (its rolling update)."""
    return packaged.path("kubelite", "examples", name)


def image_missing(image: str) -> bool:
    """Whether the Docker Engine lacks ``image`` (or does not answer)."""
    try:
        client = docker_client(timeout=10)
    except ImageBuildError:
        return True
    try:
        return not image_present(client, image)
    finally:
        client.close()


def apply_demo(client: ApiClient, runtime: str, manifest: Path, say: Callable[[str], None]) -> None:
    if runtime == "docker" and image_missing(DEMO_IMAGE):
        say(f"demo: the image {DEMO_IMAGE} is missing: build it with `kl images build demo`")
    s = Session(client.conn, client)
    deployments: list[tuple[str, str]] = []
    for _source, doc in load_manifests([str(manifest)]):
        res = s.resource_of(doc)
        ns = s.namespace_of(res, doc, None)
        config = copy.deepcopy(doc)
        if ns:
            config.setdefault("metadata", {})["namespace"] = ns
        name = config["metadata"]["name"]
        say(f"demo: {res.type_name}/{name} {apply_object(s, res, ns, config)} (from {manifest})")
        if res.kind == "Deployment":
            deployments.append((name, ns or "default"))
    dep_res = s.resource("deployments")
    for name, ns in deployments:
        try:
            watch_object(s, dep_res, name, ns, timeout=ROLLOUT_TIMEOUT,
                         on_change=lambda d: d is None or rollout_status(d).done)
        except CliError:
            say(f"demo: deployment {name} has not rolled out after {ROLLOUT_TIMEOUT:g} s; "
                f"see `kl get pods -o wide` and `kl describe deployment {name}`")
            continue
        selector = ",".join(f"{k}={v}" for k, v in sorted(
            (s.client.get(dep_res.object_path(name, ns)).get("spec") or {}).get("selector", {})
            .get("matchLabels", {}).items()))
        pods = s.client.get(s.resource("pods").collection_path(ns), {"labelSelector": selector}).get("items") or []
        if runtime == "sim":
            say(f"demo: deployment {name} is rolled out ({len(pods)} pods); the sim runtime runs no real "
                "containers, so nothing serves HTTP: run `kl up --runtime docker --demo` for that")
            continue
        for pod in pods:
            urls = pod_urls(pod)
            where = ", ".join(urls) if urls else "no host port reported (see `kl describe pod`)"
            say(f"demo: pod {pod['metadata']['name']} → {where}   (try: curl {urls[0] if urls else '...'})")
