"""What a streaming request on the agent addresses: the pod, its container, the running instance.

Checked before any WebSocket upgrade, so a client's mistake (or the sim runtime) is an HTTP error
carrying a ``Status``, which kubectl prints, rather than a stream that ends with nothing said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from kubelite.api.core import Pod
from kubelite.api.errors import Status

from agent.plan import by_attempt
from agent.runtime.base import LABEL_CONTAINER, LABEL_NODE, LABEL_POD_UID, SANDBOX_NAME, ContainerInfo

if TYPE_CHECKING:
    from agent.pods import PodManager


class Refused(Exception):
    """The request cannot be served; ``response`` is the Status to answer with."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        status = Status(code=code, reason=reason, message=message)
        self.response = web.json_response(status.to_dict(), status=code)


@dataclass(frozen=True)
class StreamTarget:
    pod: Pod
    container: ContainerInfo  # the running app container (exec/attach) or the sandbox (portforward)


def find_pod(pods: PodManager, namespace: str, name: str) -> Pod:
    pod: Pod | None = pods.informer.get(f"{namespace}/{name}")
    if pod is None:
        raise Refused(404, "NotFound", f'pods "{name}" not found on node {pods.node}')
    return pod


def container_name(pod: Pod, wanted: str | None) -> str:
    """The container a request means (the only one when it names none), as the kubelet chooses."""
    names = [c.name for c in pod.spec.containers]
    name = wanted or (names[0] if len(names) == 1 else "")
    if not name:
        raise Refused(400, "BadRequest", f"a container name must be specified for pod {pod.metadata.name}, "
                      f"choose one of: [{' '.join(names)}]")
    if name not in names:
        raise Refused(400, "BadRequest", f"container {name} is not valid for pod {pod.metadata.name}")
    return name


async def instances(pods: PodManager, pod: Pod, container: str) -> list[ContainerInfo]:
    """The container's instances on the runtime, newest attempt first."""
    return by_attempt(await pods.runtime.list_containers(
        {LABEL_NODE: pods.node, LABEL_POD_UID: pod.metadata.uid or "", LABEL_CONTAINER: container}))


def require_processes(pods: PodManager, what: str) -> None:
    if not pods.runtime.runs_processes:
        raise Refused(400, "BadRequest", f"{what} is not possible on node {pods.node}: its {pods.runtime.name} "
                      "runtime runs no processes (there is nothing to exec into, attach to or forward to)")


async def running_target(pods: PodManager, namespace: str, name: str, wanted: str | None, *,
                         what: str) -> StreamTarget:
    """The running instance of the container (exec/attach); Refused when there is none."""
    pod = find_pod(pods, namespace, name)
    container = container_name(pod, wanted)
    require_processes(pods, what)
    running = next((c for c in await instances(pods, pod, container) if c.state == "running"), None)
    if running is None:
        raise Refused(400, "BadRequest", f'container "{container}" in pod "{name}" is not running')
    return StreamTarget(pod, running)


async def sandbox_target(pods: PodManager, namespace: str, name: str) -> StreamTarget:
    """The pod's running sandbox (its network namespace), for port-forward."""
    pod = find_pod(pods, namespace, name)
    require_processes(pods, "pods/portforward")
    sandbox = next((c for c in await instances(pods, pod, SANDBOX_NAME) if c.state == "running"), None)
    if sandbox is None:
        raise Refused(400, "BadRequest", f'pod "{name}" has no running sandbox (it is not running yet)')
    return StreamTarget(pod, sandbox)
