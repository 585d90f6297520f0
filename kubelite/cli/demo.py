"""``kl up --demo``: apply examples/web.yaml, wait for its rollout, and say how
to reach it (the host ports the agent reports for the pods)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubelite.cli.client import ApiClient
from kubelite.cli.cmd_write import apply_object
from kubelite.cli.errors import CliError
from kubelite.cli.rollout import rollout_status
from kubelite.cli.session import Session, load_manifests
from kubelite.cli.waiting import watch_object

DEMO_IMAGE = "kubelite/demo:latest"
HOST_PORTS_ANNOTATION = "kubelite.io/host-ports"
ROLLOUT_TIMEOUT = 90.0


def pod_urls(pod: dict[str, Any]) -> list[str]:
    """``http://HOST:PORT/`` for each container port the agent published on the host.

    The agent records the ports the runtime assigned in the pod annotation
    ``kubelite.io/host-ports`` (JSON: container, containerPort, hostIP,
    hostPort); a ``hostPort`` fixed in the spec counts too.
    """
    default_host = (pod.get("status") or {}).get("hostIP") or "127.0.0.1"
    urls = []
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(HOST_PORTS_ANNOTATION)
    try:
        published = json.loads(raw) if raw else []
    except ValueError:
        published = []
    for entry in published if isinstance(published, list) else []:
        if isinstance(entry, dict) and entry.get("hostPort") and entry.get("protocol", "TCP") == "TCP":
            host = entry.get("hostIP") or default_host
            urls.append(f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{entry['hostPort']}/")
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                urls.append(f"http://{port.get('hostIP') or default_host}:{port['hostPort']}/")
    return sorted(set(urls))


def image_missing(image: str) -> bool:
    try:
        import docker

        client = docker.from_env(timeout=10)
        try:
            client.images.get(image)
        finally:
            client.close()
    except Exception:
        return True
    return False


def apply_demo(client: ApiClient, runtime: str, manifest: Path, say: Callable[[str], None]) -> None:
    if runtime == "docker" and image_missing(DEMO_IMAGE):
        say(f"demo: the image {DEMO_IMAGE} is missing: build it with `bash deploy/images/build.sh demo`")
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
        pods = s.client.get(f"/api/v1/namespaces/{ns}/pods", {"labelSelector": selector}).get("items") or []
        if runtime == "sim":
            say(f"demo: deployment {name} is rolled out ({len(pods)} pods); the sim runtime runs no real "
                "containers, so nothing serves HTTP: run `kl up --runtime docker --demo` for that")
            continue
        for pod in pods:
            urls = pod_urls(pod)
            where = ", ".join(urls) if urls else "no host port reported (see `kl describe pod`)"
            say(f"demo: pod {pod['metadata']['name']} → {where}   (try: curl {urls[0] if urls else '...'})")
