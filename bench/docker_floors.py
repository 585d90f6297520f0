"""The raw Docker floors of a pod start on one engine, through the Docker SDK (the ``docker`` package's
``APIClient``, the client the docker agent uses), for ``bench_swarm.py`` (issue 12, target 6):

  - **one start per pod**: N containers created and started on the default bridge, each its own network
    namespace — what a pod of one container costs, as a Swarm task is;
  - **two starts per pod** (kubelite's shape, the kubelet's dockershim's): per pod, a sandbox container on
    the default bridge (it owns the pod's network namespace), then the app container joining it
    (``network_mode=container:<sandbox>``); pods in parallel. As the agent does
    (``agent/execute.py``), the app's create overlaps the sandbox's start (Docker resolves
    ``container:<id>`` at the joining container's start), and its start follows the sandbox's;
  - **warm sandboxes**: the sandboxes started beforehand, outside the time (a pool a node would keep
    ready), then only the apps joining them — what a pod costs when its sandbox is not on its path.

Containers are made as the agent makes them (``agent/runtime/docker.py`` ``create_container``): the image's
own process under ``init=True``, json-file logs with rotation; the sandbox runs the agent's default
pause command (``sleep infinity``) in the same image. ``concurrency`` pods are worked on at once and
``concurrency`` engine requests are in flight at most, as in ``kl up --nodes 2``: each agent has 16 pod
workers and 16 threads for its Docker calls. A floor's time is from the first create to the last start
answered (a started container is running: Docker answers the start when the process is up).

Every container is labelled ``kubelite-bench=<run id>`` (and named after it); ``remove`` takes exactly
those, and nothing else on the (shared) engine is touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import docker

from agent.pods import PodOptions
from agent.runtime.base import LogLimits
from agent.runtime.docker import log_config

LABEL = "kubelite-bench"
PAUSE_COMMAND = list(PodOptions.pause_command)  # the agent's default sandbox command
LOG_CONFIG = log_config(LogLimits())  # the agent's default caps


class Floors:
    """The floors of one bench run: ``one_start(n)``, ``two_starts(n)``, ``warm_sandboxes(n)`` → seconds;
    ``remove()`` (always, in a finally) removes every container of this run. ``run_id`` names and labels them."""

    def __init__(self, run_id: str, image: str, command: list[str], concurrency: int) -> None:
        self.run_id = run_id
        self.image = image
        self.command = command
        self.concurrency = concurrency
        self.api = docker.APIClient(timeout=120, max_pool_size=concurrency + 4, **docker.utils.kwargs_from_env())
        self.stopping = threading.Event()  # set on the way out: workers make no new container
        self.in_flight = threading.BoundedSemaphore(concurrency)  # the agents' Docker call threads
        self.phase = 0

    def _create(self, name: str, command: list[str], network_mode: str | None) -> str:
        host_config = self.api.create_host_config(network_mode=network_mode, init=True, log_config=LOG_CONFIG)
        with self.in_flight:
            if self.stopping.is_set():
                raise RuntimeError("bench stopping")
            created = self.api.create_container(self.image, name=name, command=command, detach=True,
                                                labels={LABEL: self.run_id}, host_config=host_config)
        return str(created["Id"])

    def _start(self, container_id: str) -> None:
        with self.in_flight:
            self.api.start(container_id)

    def _run(self, kind: str, pods: int, per_pod: Callable[[str, int, ThreadPoolExecutor], None], *,
             untimed: Callable[[str, int, ThreadPoolExecutor], None] | None = None) -> float:
        """``per_pod(name, index, inner pool)`` for every pod, ``concurrency`` at once → seconds; ``untimed``
        is done for every pod first, outside the time."""
        self.phase += 1
        prefix = f"{LABEL}-{self.run_id}-{kind}{self.phase}"
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=kind) as pool, \
                ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"{kind}-inner") as inner:
            def each(work: Callable[[str, int, ThreadPoolExecutor], None]) -> None:
                for future in [pool.submit(work, f"{prefix}-{i}", i, inner) for i in range(pods)]:
                    future.result()

            try:
                if untimed is not None:
                    each(untimed)
                started = time.monotonic()
                each(per_pod)
            except BaseException:
                self.stopping.set()  # the pods not begun make nothing; remove() takes the rest
                raise
            return time.monotonic() - started

    def one_start(self, pods: int) -> float:
        """``pods`` containers, each created and started on the default bridge → seconds."""
        def pod(name: str, _index: int, _inner: ThreadPoolExecutor) -> None:
            self._start(self._create(f"{name}-app", self.command, None))

        return self._run("one", pods, pod)

    def two_starts(self, pods: int) -> float:
        """``pods`` pods of a sandbox on the default bridge and an app container in its network namespace
        (the app's create during the sandbox's start, its start after it) → seconds."""
        def pod(name: str, _index: int, inner: ThreadPoolExecutor) -> None:
            sandbox = self._create(f"{name}-pod", PAUSE_COMMAND, None)
            app = inner.submit(self._create, f"{name}-app", self.command, f"container:{sandbox}")
            self._start(sandbox)
            self._start(app.result())

        return self._run("two", pods, pod)

    def warm_sandboxes(self, pods: int) -> float:
        """``pods`` sandboxes started first, outside the time (a warm pool a node would keep); then the
        timed part: an app container created and started in each one's network namespace → seconds."""
        sandboxes: dict[int, str] = {}

        def sandbox(name: str, index: int, _inner: ThreadPoolExecutor) -> None:
            sandboxes[index] = self._create(f"{name}-pod", PAUSE_COMMAND, None)
            self._start(sandboxes[index])

        def pod(name: str, index: int, _inner: ThreadPoolExecutor) -> None:
            self._start(self._create(f"{name}-app", self.command, f"container:{sandboxes[index]}"))

        return self._run("warm", pods, pod, untimed=sandbox)

    def remove(self, *, timeout: float = 180.0) -> int:
        """Force-remove every container labelled with this run's id (and wait until the engine lists none)
        → how many were removed."""
        ids = [c["Id"] for c in self.api.containers(all=True, filters={"label": f"{LABEL}={self.run_id}"})]
        with ThreadPoolExecutor(min(self.concurrency, 16) or 1) as pool:
            list(pool.map(self._remove_one, ids))
        deadline = time.monotonic() + timeout
        while self.api.containers(all=True, filters={"label": f"{LABEL}={self.run_id}"}):
            if time.monotonic() > deadline:
                raise RuntimeError(f"containers labelled {LABEL}={self.run_id} still present after {timeout:.0f} s")
            time.sleep(0.2)
        return len(ids)

    def _remove_one(self, container_id: str) -> None:
        try:
            self.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass

    def close(self) -> None:
        self.api.close()

