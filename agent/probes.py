"""Liveness, readiness and startup probes: one supervised task per (container, probe).

A worker waits ``initialDelaySeconds``, then probes every ``periodSeconds``
(httpGet, tcpSocket or exec, each bounded by ``timeoutSeconds``), and flips
its result after ``successThreshold`` successes or ``failureThreshold``
failures. A flip enqueues the pod so reconcile acts on the new result:
readiness drives the Ready condition; a failed liveness or startup probe gets
the container killed (and restarted under the pod's restart policy).
Liveness and readiness wait until the startup probe, if any, has succeeded.

An exec probe runs at most once at a time per worker: the engine cannot cancel an exec, so one
that outlives ``timeoutSeconds`` fails and keeps running; until it returns, later periods fail
("has not returned yet") without starting another. Else a hanging probe command would pile up one
process and one runtime thread per period (the kubelet's runtime kills it at the timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from kubelite.api.core import Container, Pod, Probe
from kubelite.util.listen import is_loopback
from kubelite.util.supervise import cancel_and_wait, spawn

from agent.metrics import AgentMetrics
from agent.runtime.base import ContainerInfo, ContainerNotFound, ContainerRuntime, ContainerRuntimeError, ExecResult
from agent.status import ProbeState

log = logging.getLogger(__name__)

KINDS = ("startup", "liveness", "readiness")


@dataclass
class _Worker:
    pod_key: str
    pod: Pod
    container: Container
    info: ContainerInfo
    kind: str
    probe: Probe
    pod_ip: str
    task: asyncio.Task[None] | None = None
    running: asyncio.Future[ExecResult] | None = None  # the exec probe in flight, past its timeout too


def _retrieve(future: asyncio.Future[ExecResult]) -> None:
    """Consume the outcome of an exec nobody waited for to the end (no 'never retrieved' noise)."""
    if not future.cancelled():
        future.exception()


@dataclass(frozen=True)
class ProbeOutcome:
    ok: bool
    message: str = ""


class ProbeManager:
    def __init__(
        self, runtime: ContainerRuntime, *, on_change: Callable[[str], None],
        record: Callable[[Pod, str, str, str], None], metrics: AgentMetrics,
    ) -> None:
        self.runtime = runtime
        self.on_change = on_change
        self.record = record
        self.metrics = metrics
        self.results: dict[tuple[str, str], bool] = {}
        self._workers: dict[tuple[str, str], _Worker] = {}
        self._by_pod: dict[str, set[tuple[str, str]]] = {}
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession()

    async def stop(self) -> None:
        for pod_key in list(self._by_pod):
            await self.forget_pod(pod_key)
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- what reconcile asks ---------------------------------------------------

    def state(self, container: Container, container_id: str) -> ProbeState:
        started = container.startup_probe is None or self.results.get((container_id, "startup")) is True
        ready = container.readiness_probe is None or self.results.get((container_id, "readiness")) is True
        return ProbeState(started=started, ready=ready)

    def unhealthy(self, container_id: str) -> str | None:
        """Why the container must be killed (failed liveness or startup probe), or None."""
        if self.results.get((container_id, "liveness")) is False:
            return "liveness"
        if self.results.get((container_id, "startup")) is False:
            return "startup"
        return None

    async def sync_pod(self, pod_key: str, pod: Pod, running: dict[str, ContainerInfo], pod_ip: str) -> None:
        """Probe exactly the running containers of the pod; stop workers of the others."""
        wanted: set[tuple[str, str]] = set()
        sidecars = [c for c in pod.spec.init_containers or [] if c.restart_policy == "Always"]
        for container in [*sidecars, *pod.spec.containers]:  # sidecars are probed like app containers
            info = running.get(container.name)
            if info is None:
                continue
            for kind in KINDS:
                probe = getattr(container, f"{kind}_probe")
                if probe is None:
                    continue
                key = (info.id, kind)
                wanted.add(key)
                if key not in self._workers:
                    worker = _Worker(pod_key, pod, container, info, kind, probe, pod_ip)
                    self._workers[key] = worker
                    worker.task = spawn(f"probe-{kind}-{pod_key}-{container.name}", functools.partial(self._run, worker))
        current = self._by_pod.get(pod_key, set())
        for key in current - wanted:
            await self._stop_worker(key)
        self._by_pod[pod_key] = wanted

    async def forget_pod(self, pod_key: str) -> None:
        for key in self._by_pod.pop(pod_key, set()):
            await self._stop_worker(key)

    async def _stop_worker(self, key: tuple[str, str]) -> None:
        worker = self._workers.pop(key, None)
        self.results.pop(key, None)
        if worker is not None and worker.running is not None:
            worker.running.cancel()  # its thread ends with its command; nobody waits for the result
        if worker is not None and worker.task is not None:
            # cancel until done: Python 3.11's wait_for loses a cancellation that lands with a probe's
            # result, and a bare ``cancel(); await`` then waited forever — in the middle of a pod's
            # graceful deletion, which left the pod Terminating
            await cancel_and_wait(worker.task)

    # -- the worker ----------------------------------------------------------

    async def _run(self, worker: _Worker) -> None:
        probe, key = worker.probe, (worker.info.id, worker.kind)
        await asyncio.sleep(probe.effective_initial_delay_seconds)
        successes = failures = 0
        while True:
            if worker.kind != "startup" and worker.container.startup_probe is not None and not self.results.get(
                (worker.info.id, "startup"), False
            ):
                await asyncio.sleep(min(1.0, probe.effective_period_seconds))
                continue
            try:
                outcome = await self.probe_once(worker)
            except ContainerNotFound:
                # The container is gone from the runtime: its result means nothing. Have the pod
                # re-listed (reconcile stops this worker and starts one for the replacement).
                log.info("probe %s of %s/%s: the container is gone; re-syncing the pod", worker.kind,
                         worker.pod_key, worker.container.name)
                self.on_change(worker.pod_key)
                return
            self.metrics.probe_results.labels(worker.kind, "success" if outcome.ok else "failure").inc()
            if outcome.ok:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                self.record(worker.pod, "Warning", "Unhealthy",
                            f"{worker.kind.capitalize()} probe failed: {outcome.message}")
            result = self.results.get(key)
            if outcome.ok and successes >= probe.effective_success_threshold and result is not True:
                self._set(worker, True)
                if worker.kind == "startup":
                    return  # a startup probe stops once it succeeded
            elif not outcome.ok and failures >= probe.effective_failure_threshold and result is not False:
                self._set(worker, False)
                if worker.kind in ("liveness", "startup"):
                    return  # failed for good: reconcile kills the container, a new one gets new workers
            await asyncio.sleep(probe.effective_period_seconds)

    def _set(self, worker: _Worker, value: bool) -> None:
        self.results[(worker.info.id, worker.kind)] = value
        log.info("probe %s of %s/%s: %s", worker.kind, worker.pod_key, worker.container.name,
                 "success" if value else "failure")
        self.on_change(worker.pod_key)

    async def probe_once(self, worker: _Worker) -> ProbeOutcome:
        probe = worker.probe
        timeout = float(probe.effective_timeout_seconds)
        try:
            if probe.exec_ is not None:
                if worker.running is not None and not worker.running.done():
                    return ProbeOutcome(False, f"the previous probe has not returned yet (timed out after {timeout:g}s)")
                worker.running = asyncio.ensure_future(
                    self.runtime.exec(worker.info.id, list(probe.exec_.command or []), timeout=timeout))
                worker.running.add_done_callback(_retrieve)
                result = await asyncio.wait_for(asyncio.shield(worker.running), timeout)
                output = result.output.decode(errors="replace").strip()[:200]
                return ProbeOutcome(result.exit_code == 0, f"command exited with {result.exit_code}: {output}")
            if probe.http_get is not None:
                port = resolve_port(worker.container, probe.http_get.port)
                path = probe.http_get.path or "/"
                return await self._http_get(worker, probe.http_get.host or "", port, path,
                                            probe.http_get.scheme or "HTTP", timeout)
            if probe.tcp_socket is not None:
                port = resolve_port(worker.container, probe.tcp_socket.port)
                return await self._tcp(worker, probe.tcp_socket.host or "", port, timeout)
        except (TimeoutError, asyncio.TimeoutError):
            return ProbeOutcome(False, f"timed out after {timeout:g}s")
        except ContainerNotFound:
            raise  # not a probe failure: see _run
        except (ContainerRuntimeError, OSError, aiohttp.ClientError, ValueError) as exc:
            return ProbeOutcome(False, str(exc) or type(exc).__name__)
        return ProbeOutcome(False, "probe has no handler (httpGet, tcpSocket or exec)")

    async def _http_get(self, worker: _Worker, host: str, port: int, path: str, scheme: str,
                        timeout: float) -> ProbeOutcome:
        simulated = await self.runtime.probe_network(worker.info, "http", port, path)
        if simulated is not None or not self.runtime.has_network:
            return ProbeOutcome(bool(simulated), f"HTTP probe of {path} (simulated)")
        if self._http is None:
            raise ValueError("probe manager not started")
        address = await probe_address(host, worker.pod_ip)
        host = f"[{address}]" if ":" in address else address
        headers = {h.name: h.value for h in (worker.probe.http_get.http_headers or [])} if worker.probe.http_get else {}
        url = f"{scheme.lower()}://{host}:{port}{path}"
        async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=timeout), headers=headers,
                                  allow_redirects=False, ssl=False) as response:
            ok = 200 <= response.status < 400
            return ProbeOutcome(ok, f"HTTP probe failed with statuscode: {response.status}")

    async def _tcp(self, worker: _Worker, host: str, port: int, timeout: float) -> ProbeOutcome:
        simulated = await self.runtime.probe_network(worker.info, "tcp", port, "")
        if simulated is not None or not self.runtime.has_network:
            return ProbeOutcome(bool(simulated), f"TCP probe of {port} (simulated)")
        host = await probe_address(host, worker.pod_ip)
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return ProbeOutcome(True)


async def probe_address(host: str, pod_ip: str) -> str:
    """The address an httpGet/tcpSocket probe connects to: ``host`` (resolved here, once) or the pod's IP.

    The agent probes from the node's network namespace, as the kubelet does, and kubelite has no
    hostNetwork pods, so a loopback or unspecified address can never mean the pod: it would reach the
    node's own services instead — among them the gateway's plain-HTTP port, which answers the agent's
    Unix user as a cluster admin (kubelite.gateway.tlssniff). Such a probe fails (ValueError) instead
    of letting whoever may create a pod send requests there (a probe's success says whether an object
    exists). The address is resolved before the check and used as resolved, so DNS cannot change it
    between the two."""
    if not host:
        return pod_ip
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    address = str(infos[0][4][0]) if infos else ""
    ip = ipaddress.ip_address(address.split("%", 1)[0]) if address else None
    if ip is None or is_loopback(address) or ip.is_unspecified:
        raise ValueError(f"probe host {host!r} is this node's own address ({address or 'unresolved'}), not "
                         "the pod's: kubelite has no hostNetwork pods, so such a probe is refused")
    return address


def resolve_port(container: Container, port: int | str) -> int:
    """A probe port is a number or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for declared in container.ports or []:
        if declared.name == port:
            return declared.container_port
    raise ValueError(f"port {port!r} is not a declared port name of container {container.name}")
